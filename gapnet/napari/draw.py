"""Putting Segment's and Classify's results on the canvas without freezing napari's UI.

The worker thread prepares the data (`segmentation`: the cells table's first columns, the
edge cells' label image), makes the Labels layers (hidden) and pays napari's and vispy's
one-time costs (`warm_up`); the UI thread then adds the layers one per event-loop turn and
shows each in the next (`InTurns`), so that Qt draws and answers the user between them,
never adding all three 2048-px Labels layers and the text in one turn (1.6-2.4 s before,
docs/export.md)."""

from __future__ import annotations

import time

import numpy as np


def segmentation(name, source, cells, nuclei, scale=(1.0, 1.0), **look) -> dict:
    """What the Segment layers need, computed in the worker thread: the cells table's
    `index` and `edge` columns, the edge cells' label image, and the three Labels layers
    themselves, hidden (`layers`, `labels_layer`); `look` is the cells layer's own
    settings (Classify's: its table, colours and opacity)."""
    from gapnet.segment import edge_labels

    warm_up(cells.dtype)
    labels = np.unique(cells[cells > 0])
    edge = edge_labels(cells)
    edges = np.where(np.isin(cells, edge), cells, 0).astype(cells.dtype)
    features = {"index": labels, "edge": np.isin(labels, edge).astype(int)}
    scale = tuple(scale)
    look = {"opacity": 0.4, "features": features, **look}
    built = [
        labels_layer("nuclei", nuclei, opacity=0.3, scale=scale),
        labels_layer("cells", cells, scale=scale, **look),
        labels_layer("edge cells", edges, contour=3, opacity=0.8, scale=scale),
    ]
    return dict(name=name, source=source, cells=cells, nuclei=nuclei, edges=edges,
                features=features, scale=scale, layers=built)  # fmt: skip


def labels_layer(name: str, data, contour: int = 0, **kwargs) -> dict:
    """A Labels layer made (in the worker thread) ready to add, with what it was made of
    (to set on a layer of that name already there instead). It is made hidden: napari
    colours a layer's labels (and computes its contours: 0.3 s at 2048 px) when it is
    shown, and skips that while hidden, so `labels_steps` adds it in one turn (its vispy
    visuals and layer controls) and shows it in the next."""
    from napari.layers import Labels

    layer = Labels(data, name=name, visible=False, **kwargs)
    layer.contour = contour
    return dict(name=name, data=data, contour=contour, kwargs=kwargs, layer=layer)


def warm_up(dtype) -> None:
    """Pays off the UI thread what napari and vispy compute once per process: numba
    compiling napari's label colouring (a tiny Labels layer of `dtype`, not shown, with
    the cyclic and the direct colormap and contours: seconds on its first use) and the
    colour textures of napari's vispy layer (1 s each on the first layer added), and vispy's
    dash patterns of the line visuals each Labels layer's overlays build (0.1-0.2 s)."""
    from napari.layers import Labels
    from napari.utils.colormaps import DirectLabelColormap
    from vispy.visuals.line.dash_atlas import DashAtlas

    layer = Labels(np.arange(16, dtype=dtype).reshape(4, 4))
    layer.contour = 1
    cyclic = layer.colormap
    layer.colormap = DirectLabelColormap(color_dict={None: np.zeros(4), 1: np.ones(4)})
    DashAtlas()  # its patterns are cached (lru_cache) for every later one
    try:  # the colour textures vispy builds for a layer when it is added (numba, 1 s each)
        from napari._vispy.layers.labels import _select_colormap_texture

        for cmap in (cyclic, layer.colormap):
            _select_colormap_texture(cmap, np.dtype(np.uint8), np.dtype(dtype))
    except (ImportError, ValueError):  # napari's private function moved: only slower
        pass


def cells_look(table: dict, colors: dict) -> dict:
    """Classify's settings of the cells layer: cells.csv's table as its `features`, each
    cell coloured by its best called class (`layers.cell_colors`), opacity 0.5."""
    from napari.utils.colormaps import DirectLabelColormap

    return dict(features=table, colormap=DirectLabelColormap(color_dict=colors), opacity=0.5)


def labels_steps(viewer, made: dict) -> list:
    """The turns that put a `labels_layer` on the canvas: one adds it, hidden, the next
    shows it (or one sets its data and settings on the layer of its name already there)."""
    name, contour = made["name"], made["contour"]
    if name in viewer.layers:

        def update():
            layer = viewer.layers[name]
            layer.data = made["data"]
            for k, v in {**made["kwargs"], **({"contour": contour} if contour else {})}.items():
                setattr(layer, k, v)

        return [(f"{name}: data", update)]

    def show():
        viewer.layers[name].visible = True

    return [(f"{name}: add", lambda: viewer.layers.append(made["layer"])), (f"{name}: show", show)]


def add_text(viewer, yx, text, scale=(1.0, 1.0)) -> None:
    """The "calls" Points layer (replacing one there): `text[i]` written at `yx[i]` (cells
    pixels; `scale` the world size of one, as the cells layer's)."""
    if "calls" in viewer.layers:
        viewer.layers.remove("calls")
    viewer.add_points(
        yx,
        name="calls",
        scale=scale,
        size=1,
        face_color="transparent",
        border_width=0,
        features={"text": np.asarray(text, object)},
        text={"string": "{text}", "size": 9, "color": "white"},
    )


class InTurns:
    """Runs `steps` ((name, callable) pairs) on the UI thread one per event-loop turn
    (`QTimer.singleShot(1, ...)`: Qt runs a 0-ms timer before other timers already due, so
    they ran only after every step), then `done()`. `seconds` has each step's (name,
    seconds); `stop()` drops the steps not run yet (and still calls `done`); a step that
    raises drops the rest and is given to `error`, then `done()`."""

    def __init__(self, steps, done, error):
        self.steps, self.done, self.error, self.seconds = list(steps), done, error, []

    def start(self):
        from qtpy.QtCore import QTimer

        self._timer = QTimer
        self._timer.singleShot(1, self._next)
        return self

    def stop(self):
        self.steps = []

    def _next(self):
        if not self.steps:
            return self.done()
        name, step = self.steps.pop(0)
        t = time.perf_counter()
        try:
            step()
        except Exception as e:  # noqa: BLE001 (told in the widget, not a traceback)
            self.steps = []
            self.error(e)
        self.seconds.append((name, time.perf_counter() - t))
        self._timer.singleShot(1, self._next)  # after any timer already due (0 runs first)

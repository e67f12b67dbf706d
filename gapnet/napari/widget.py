"""The gapnet dock widget: pick a finished run folder or a preset, then on the open field
**Segment** (nuclei and cells as Labels layers, edge cells marked), **Classify** (the
image's probabilities and calls, each cell's calls as the cells layer's `features` with the
class names, text on each cell, each cell coloured by its best called class) and **Maps**
(the chosen class's map over the field). The work runs off the UI thread: a napari worker
(`create_worker`, with a progress bar) waits for the child process that holds TensorFlow
and the models (`model_process`), then prepares the layers' data; the UI thread only adds
the layers, one per event-loop turn (`draw`). Cancel kills the child. A bad file, folder
or channel set is told in the widget and as a napari notification, never as a traceback."""

from __future__ import annotations

from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gapnet.napari import analysis, draw, layers, model_process
from gapnet.napari.field import open_field


class GapnetWidget(QWidget):
    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        # TensorFlow, the models and the heavy numerics run in a child process
        self.proc = model_process.ModelProcess()
        self.destroyed.connect(self.proc.close)
        self.model = self.cells = self.nuclei = self.calls = self.worker = self.drawing = None
        self.ui_steps = []  # (name, seconds) of each UI-thread turn that drew the last result
        self._channel_note = ""  # the field's channels the model does not read
        self.cells_scale = (1.0, 1.0)  # the world size (y, x) of a cells pixel
        self.sample = None  # (name, source) of the field the cells belong to
        self.model_path = QLineEdit()
        self.model_path.setPlaceholderText("a finished run folder, or a preset (export.py)")
        browse, self.load_button = QPushButton("Browse..."), QPushButton("Load model")
        browse.clicked.connect(self._browse)
        self.load_button.clicked.connect(lambda: self.load_model())
        self.diameter = QDoubleSpinBox()
        self.diameter.setRange(5, 500)
        self.diameter.setValue(analysis.NUCLEUS_DIAMETER_512)
        self.diameter.setSuffix(" px nucleus at 512 px")
        self.segment_button = QPushButton("Segment")
        self.classify_button = QPushButton("Classify")
        self.maps_button = QPushButton("Map")
        self.cancel_button = QPushButton("Cancel")
        self.class_box = QComboBox()
        self.segment_button.clicked.connect(lambda: self.segment())
        self.classify_button.clicked.connect(lambda: self.classify())
        self.maps_button.clicked.connect(lambda: self.show_map())
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.status, self.calls_text = QLabel("Open a field (File > Open), load a model."), QLabel()
        for label in (self.status, self.calls_text):
            label.setWordWrap(True)
        box = QVBoxLayout(self)
        row = QHBoxLayout()
        for w in (self.model_path, browse, self.load_button):
            row.addWidget(w)
        box.addLayout(row)
        box.addWidget(self.diameter)
        row = QHBoxLayout()
        for w in (self.segment_button, self.classify_button):
            row.addWidget(w)
        box.addLayout(row)
        row = QHBoxLayout()
        for w in (self.class_box, self.maps_button):
            row.addWidget(w)
        box.addLayout(row)
        for w in (self.progress, self.cancel_button, self.status, self.calls_text):
            box.addWidget(w)
        box.addStretch()
        self._busy(False)

    # --- running work off the UI thread -------------------------------------------------
    def _run(self, steps, done, what: str):
        from napari.qt.threading import create_worker

        worker = create_worker(steps, _start_thread=False, _ignore_errors=True)
        worker.yielded.connect(self._progress)
        worker.returned.connect(lambda result: self._draw(done(result)))
        worker.errored.connect(lambda exc: self._error(exc, worker))
        worker.aborted.connect(lambda: self._say(f"{what}: cancelled"))
        self._what = what
        worker.finished.connect(lambda: self.drawing is None and self._busy(False))
        self.worker = worker
        self._busy(True)
        self._say(f"{what}...")
        worker.start()
        return worker

    def _draw(self, steps):
        """Puts a result on the canvas: `steps` ((name, callable) pairs, each one layer
        added or changed) run one per event-loop turn; busy until the last has run."""
        if steps:
            self.drawing = draw.InTurns(steps, self._drawn, self._error).start()

    def _drawn(self):
        self.ui_steps, self.drawing = self.drawing.seconds, None
        self._busy(False)

    @property
    def busy(self) -> bool:
        """Whether work is under way (set before it starts, cleared when it has ended and
        its result is on the canvas)."""
        return self.cancel_button.isEnabled()

    def cancel(self):
        """Stops the running work now: ends the child process (its step is dropped; the
        model is loaded again in a new one when next needed) and the worker, or drops the
        layers not yet added."""
        if self.drawing is not None:
            self.drawing.stop()
            self._say(f"{self._what}: cancelled while adding its layers")
        elif self.worker is not None and self.busy:
            self.worker.quit()
            self.proc.close()

    def _busy(self, busy: bool):
        for b in (self.load_button, self.segment_button, self.classify_button, self.maps_button):
            b.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        if not busy:
            self.progress.setRange(0, 1)
            self.progress.setValue(1)

    def _progress(self, step):
        done, total = step
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _say(self, text: str):
        self.status.setText(text)

    def _error(self, exc: Exception, worker=None):
        from napari.utils.notifications import show_error

        if worker is not None and worker.abort_requested:  # Cancel ended the child
            return self._say(f"{self._what}: cancelled")
        known = (analysis.FieldError, ValueError, OSError)
        text = str(exc) if isinstance(exc, known) else f"{type(exc).__name__}: {exc}"
        self._say(f"error: {text}")
        show_error(f"gapnet: {text}")

    def field(self):
        """(name, source, {colour: plane}, scale) of the open field (`field.open_field`)."""
        return open_field(self.viewer)

    # --- the actions --------------------------------------------------------------------
    def _browse(self):
        path = QFileDialog.getExistingDirectory(self, "A run folder or a preset")
        if path:
            self.model_path.setText(path)

    def load_model(self, path: str | None = None):
        path = path or self.model_path.text().strip()
        self.model_path.setText(path)

        def steps():
            yield 0, 1
            return analysis.load_model_source(path, self.proc)

        return self._run(steps, self._model_loaded, f"loading {path}")

    def _model_loaded(self, model):
        self.model = model
        self.class_box.clear()
        self.class_box.addItems([f"{k} {n}" for k, n in enumerate(model.class_names)])
        trained = (
            "SYNTHETIC data (not meaningful for real images)"
            if (model.trained_on_synthetic)
            else "the run's data"
        )
        self._say(
            f"model: {model.kind} {model.path}, {model.n_models} fold model(s), input "
            f"{model.size} px, channels {', '.join(model.channel_set.roles)}, trained on "
            f"{trained}. Thresholds: {model.rule}."
        )

    def segment(self):
        try:
            name, source, planes, scale = self.field()
        except analysis.FieldError as e:
            return self._error(e)
        diameter, proc = self.diameter.value(), self.proc

        def steps():
            yield 0, 2
            cells, nuclei = proc.run(model_process.segment_in_child, planes, diameter)
            yield 1, 2
            return draw.segmentation(name, source, cells, nuclei, scale)

        return self._run(steps, self._segmented, f"segmenting {name}")

    def _segmented(self, seg: dict) -> list:
        """The turns that put Segment's layers (made in the worker) on the canvas."""
        self.cells, self.nuclei = seg["cells"], seg["nuclei"]
        self.sample, self.calls = (seg["name"], seg["source"]), None
        self.cells_scale = seg["scale"]
        steps = [x for made in seg["layers"] for x in draw.labels_steps(self.viewer, made)]
        n, n_edge = len(seg["features"]["index"]), int(seg["features"]["edge"].sum())
        line = (
            f"{seg['name']}: {n} cells ({n_edge} cut by the border, outlined in "
            "'edge cells'); segmentation: gapnet.segment"
        )
        return steps + [("status", lambda: self._say(line))]

    def classify(self):
        try:
            if self.model is None:
                raise analysis.FieldError("load a model first (a run folder or a preset)")
            name, source, planes, scale = self.field()
            self._channel_note = analysis.check_channels(name, planes, self.model.channel_set)
        except analysis.FieldError as e:
            return self._error(e)
        model, diameter, proc = self.model, self.diameter.value(), self.proc
        known = (self.cells, self.nuclei) if self.sample and self.sample[0] == name else None

        def steps():
            found = known
            if found is None:  # not segmented yet (or another field): segment first
                found = proc.run(model_process.segment_in_child, planes, diameter)
                yield 0, model.n_models + 1
            calls = yield from analysis.iter_classify(proc, model, name, source, found[0])
            table = analysis.cell_table(calls, model.class_names)
            look = draw.cells_look(table, layers.cell_colors(table, len(model.class_names)))
            seg = None if known else draw.segmentation(name, source, *found, scale, **look)
            text = layers.cell_text(table, model.class_names, found[0].shape)
            return name, seg, calls, table, look, text

        return self._run(steps, self._classified, f"classifying {name}")

    def _classified(self, result) -> list:
        """The turns that put Classify's result on the canvas: Segment's layers (when it
        segmented), the cells' table and colours, the text, the summary."""
        name, seg, calls, table, look, (yx, text) = result
        if seg is not None:  # the cells layer was made with its table and colours
            steps = [x for x in self._segmented(seg) if x[0] != "status"]
        else:
            steps = [("cells: calls", lambda: self._set_layer("cells", look))]
        self.calls = calls
        v, scale = self.viewer, self.cells_scale
        steps.append(("calls: text", lambda: draw.add_text(v, yx, text, scale)))
        return steps + [("summary", lambda: self._summary(name, calls, table))]

    def _set_layer(self, name: str, settings: dict):
        layer = self.viewer.layers[name]
        for k, v in settings.items():
            setattr(layer, k, v)

    def _summary(self, name, calls, table):
        summary = layers.summary_line(calls.probs, self.model.thresholds, self.model.class_names)
        self.calls_text.setText(summary)
        overlay = self.viewer.canvas.overlays.text
        synthetic = self.model.trained_on_synthetic
        overlay.text = layers.with_synthetic(summary.split("\n")[0], synthetic)
        overlay.visible = True
        if calls.called:
            self.class_box.setCurrentIndex(int(calls.called[0]))
        note = f"; {self._channel_note}" if self._channel_note else ""
        line = f"{name}: {len(table['index'])} cells called ({self.model.rule}){note}"
        self._say(layers.with_synthetic(line, synthetic))

    def show_map(self, k: int | None = None):
        """The map of class `k` (default the one chosen in the box) over the field."""
        if self.calls is None:
            return self._error(analysis.FieldError("classify the field first"))
        k = self.class_box.currentIndex() if k is None else int(k)
        side = self.cells.shape
        m = self.calls.maps[k]
        ratio = (side[0] / m.shape[0], side[1] / m.shape[1])  # cell pixels per map pixel
        scale = [s * r for s, r in zip(self.cells_scale, ratio, strict=True)]
        shift = [s * (r - 1) / 2 for s, r in zip(self.cells_scale, ratio, strict=True)]
        name = f"map: {self.model.class_names[k]}"
        for x in [x for x in self.viewer.layers if x.name.startswith("map: ")]:
            self.viewer.layers.remove(x)
        self._say(f"map of {self.model.class_names[k]} (gradient x input on the protein)")
        return self.viewer.add_image(
            m,
            name=name,
            scale=scale,
            translate=shift,
            colormap="inferno",
            opacity=0.6,
            blending="additive",
        )

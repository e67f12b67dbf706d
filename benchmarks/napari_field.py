"""napari: from opening a four-channel field to its cells and calls on screen, and how
responsive the viewer stays meanwhile.

    xvfb-run -a python benchmarks/napari_field.py --field DIR/<id>_blue.png --run RUN
        [--cores 2] [--screenshot docs/napari_field.png] [--map 7]

Pins the process to `--cores` CPUs (and TensorFlow's and OpenMP's threads to as many),
opens the field with gapnet's reader (all four `<id>_<colour>` files), loads the model
(timed on its own: once per session), then presses Classify (gapnet segmentation of the
field at its own size, the calls and every class's map), waits for the cells layer's table
and the text layer, and draws the canvas once. Meanwhile a 10 ms timer on the UI thread
records the gaps between the events the viewer processed: the longest gap is how long the
UI froze. Prints one JSON object; with --screenshot, saves the canvas with the calls and
the chosen class's map.
"""

import argparse
import json
import os
import sys
import time


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--field", required=True, help="one <id>_<colour> file of the field")
    p.add_argument("--run", required=True, help="a finished run folder or a preset")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--screenshot", help="save the canvas here (PNG)")
    p.add_argument("--map", type=int, help="class whose map the screenshot shows")
    args = p.parse_args(argv)
    cores = sorted(os.sched_getaffinity(0))[: args.cores]
    os.sched_setaffinity(0, cores)
    for var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ[var] = str(args.cores)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GALLIUM_DRIVER", "softpipe")  # Mesa: see gapnet/napari/__main__.py
    import napari
    import tensorflow  # noqa: F401  (before the OpenGL canvas: gapnet/napari/__main__.py)
    from npe2 import PluginManager, PluginManifest
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from gapnet.napari.widget import GapnetWidget

    pm = PluginManager.instance()
    pm.discover()
    if "gapnet" not in pm._manifests:  # a checkout beside another install of gapnet
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        pm.register(PluginManifest.from_file(os.path.join(here, "gapnet/napari/napari.yaml")))
    viewer = napari.Viewer(show=False)
    t0 = time.perf_counter()
    widget = GapnetWidget(viewer)  # imports TensorFlow on the UI thread
    widget_s = time.perf_counter() - t0
    viewer.window.add_dock_widget(widget, name="gapnet")
    app = QApplication.instance()

    def wait(worker) -> float:
        """Runs the event loop until `worker` finishes; the longest gap between timer ticks."""
        done, gaps, last = [], [0.0], [time.perf_counter()]

        def tick():
            now = time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now

        timer = QTimer()
        timer.timeout.connect(tick)
        worker.finished.connect(lambda: done.append(1))
        timer.start(10)
        while not done:
            app.processEvents()
            time.sleep(0.002)
        timer.stop()
        app.processEvents()
        return max(gaps)

    t0 = time.perf_counter()
    load_gap = wait(widget.load_model(args.run))
    load_s = time.perf_counter() - t0
    if widget.model is None:
        print(widget.status.text(), file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    viewer.open(args.field, plugin="gapnet")
    app.processEvents()
    open_s = time.perf_counter() - t0
    field = viewer.layers[0].data.shape
    longest = wait(widget.classify())
    if widget.calls is None:
        print(widget.status.text(), file=sys.stderr)
        return 1
    viewer.screenshot(canvas_only=True)  # the canvas drawn with the cells and the text
    on_screen_s = time.perf_counter() - t0
    if args.screenshot:
        widget.show_map(args.map if args.map is not None else None)
        viewer.layers["edge cells"].visible = False
        viewer.screenshot(args.screenshot, canvas_only=True)
    print(
        json.dumps(
            {
                "field": os.path.basename(args.field),
                "field_shape": list(field),
                "cores": len(cores),
                "model": widget.model.path,
                "model_input_px": widget.model.size,
                "open_widget_s": round(widget_s, 2),
                "load_model_s": round(load_s, 2),
                "open_s": round(open_s, 2),
                "open_to_cells_and_calls_on_screen_s": round(on_screen_s, 2),
                "cells": int(len(viewer.layers["cells"].features)),
                "longest_ui_gap_s": round(longest, 3),
                "longest_ui_gap_loading_model_s": round(load_gap, 3),
            }
        )
    )
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

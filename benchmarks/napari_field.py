"""napari: from opening a four-channel field to its cells and calls on screen, and how
responsive the viewer stays meanwhile.

    xvfb-run -a python benchmarks/napari_field.py --field DIR/<id>_blue.png --run RUN
        [--cores 2] [--screenshot docs/napari_field.png --map 7 --scale 0.4]

Pins the process (and so the widget's child process) to `--cores` CPUs, TensorFlow's and
OpenMP's threads to as many, opens the field with gapnet's reader (all four `<id>_<colour>`
files), loads the model (timed on its own: once per session), then presses Classify
(gapnet segmentation of the field at its own size, the calls and every class's map) and
waits in Qt's event loop (as `napari.run()` does) for the cells layer's table and the text
layer, and draws the canvas once. Meanwhile a 10 ms timer on the UI thread records the
gaps between the events the viewer processed: the longest gap is how long the UI froze;
the result's callback (on the UI thread) is timed on its own, and so is each event-loop
turn that then adds one of its layers (`result_turns_on_ui_thread_s`). Prints one
JSON object; with --screenshot, saves the field with its cells (coloured by their top
class) and their calls, and with --map a class's map over the field (`viewer.export_figure`;
the viewer is shown, under Xvfb too, as a hidden one draws black).
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
    p.add_argument("--screenshot", help="save the field with its cells and calls here (PNG)")
    p.add_argument("--map", type=int, help="also save this class's map (<screenshot>_map.png)")
    p.add_argument(
        "--hidden",
        action="store_true",
        help="viewer not shown (nothing drawn: the gap is the widget's own work on the UI "
        "thread; no screenshot)",
    )
    p.add_argument("--scale", type=float, default=0.4, help="screenshot px per field px")
    args = p.parse_args(argv)
    cores = sorted(os.sched_getaffinity(0))[: args.cores]
    os.sched_setaffinity(0, cores)
    for var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ[var] = str(args.cores)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import napari
    from npe2 import PluginManager, PluginManifest
    from qtpy.QtCore import QEventLoop, QTimer

    from gapnet.napari.widget import GapnetWidget

    pm = PluginManager.instance()
    pm.discover()
    if "gapnet" not in pm._manifests:  # a checkout beside another install of gapnet
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        pm.register(PluginManifest.from_file(os.path.join(here, "gapnet/napari/napari.yaml")))
    viewer = napari.Viewer(show=not args.hidden)  # a hidden canvas draws black
    t0 = time.perf_counter()
    widget = GapnetWidget(viewer)
    widget_s = time.perf_counter() - t0
    viewer.window.add_dock_widget(widget, name="gapnet")
    viewer.window.resize(1500, 1000)  # room for the canvas beside the widget (xvfb-run -s)
    drawn = []  # seconds the result callback took on the UI thread
    done_cb = widget._classified

    def timed(result):
        t = time.perf_counter()
        steps = done_cb(result)
        drawn.append(time.perf_counter() - t)
        return steps

    widget._classified = timed

    def wait(worker) -> float:
        """Runs Qt's event loop until `worker` finishes; the longest gap between ticks."""
        gaps, last = [0.0], [time.perf_counter()]

        def tick():
            now = time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now

        loop, timer = QEventLoop(), QTimer()
        timer.timeout.connect(tick)
        timer.start(10)
        while worker is not None and widget.busy:  # Qt's event loop, as napari.run() runs it
            loop.processEvents(QEventLoop.WaitForMoreEvents)
        tick()  # the gap up to now: the result's callback ran in the last processEvents
        timer.stop()
        return max(gaps)

    t0 = time.perf_counter()
    load_gap = wait(widget.load_model(args.run))
    load_s = time.perf_counter() - t0
    if widget.model is None:
        print(widget.status.text(), file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    viewer.open(args.field, plugin="gapnet")
    open_s = time.perf_counter() - t0
    field = viewer.layers[0].data.shape
    longest = wait(widget.classify())
    if widget.calls is None:
        print(widget.status.text(), file=sys.stderr)
        return 1
    viewer.screenshot(canvas_only=True)  # the canvas drawn with the cells and the text
    on_screen_s = time.perf_counter() - t0
    turns = widget.ui_steps  # the turns that added the result's layers, each timed
    if args.screenshot:  # the field, its cells by top class and their calls; then a map
        viewer.layers["edge cells"].visible = False
        viewer.export_figure(args.screenshot, scale_factor=args.scale)
        if args.map is not None:
            widget.show_map(args.map)
            viewer.layers["calls"].visible = False
            viewer.layers["cells"].visible = False
            root, ext = os.path.splitext(args.screenshot)
            viewer.export_figure(f"{root}_map{ext}", scale_factor=args.scale)
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
                "viewer_shown": not args.hidden,
                "cells": int(len(viewer.layers["cells"].features)),
                "longest_ui_gap_s": round(longest, 3),
                "result_callback_on_ui_thread_s": round(drawn[0], 3) if drawn else None,
                "longest_result_turn_on_ui_thread_s": round(max(s for _, s in turns), 3),
                "result_turns_on_ui_thread_s": {n: round(s, 3) for n, s in turns},
                "longest_ui_gap_loading_model_s": round(load_gap, 3),
            }
        )
    )
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

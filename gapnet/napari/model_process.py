"""The widget's heavy work in a child process: TensorFlow, the fold models, segmentation,
the maps and the per-cell calls. napari's process never imports TensorFlow.

Why a process, not only a thread:
- TensorFlow's wheel carries its own copy of LLVM, and Mesa (the OpenGL of most Linux
  desktops with Intel or AMD graphics, and of Xvfb) loads the system's libLLVM; in one
  process the two clash: a segfault on TensorFlow's import after the first OpenGL draw,
  or `free(): invalid pointer` at exit (tensorflow/tensorflow#61696, #119254; measured
  here with napari 0.9.2, PyQt5 5.15, Mesa's LLVM 15, TensorFlow 2.21).
- A process can be stopped at once: Cancel kills it (a thread stops only between steps).

`ModelProcess` holds the child (started on first use, so opening the widget costs
nothing); the `*_in_child` functions run in it, the loaded models cached by their folder.
Every argument and result is plain data (NumPy arrays, dataclasses of `analysis`)."""

from __future__ import annotations

import os

import numpy as np

from gapnet.napari.analysis import FieldError, ModelSource

_MODELS: dict = {}  # in the child: {folder: [Explainer, ...]}, the last model loaded


def _explainers(path: str) -> list:
    if path not in _MODELS:
        _MODELS.clear()
        _MODELS[path] = _load(path)[1]
    return _MODELS[path]


def _load(path: str):
    """(ModelSource, explainers) of a finished run folder or a preset folder."""
    from gapnet.explain.maps import Explainer
    from gapnet.io import read_json

    if os.path.isfile(os.path.join(path, "preset.json")):
        import keras

        from gapnet.export.preset import load_preset

        meta = read_json(os.path.join(path, "preset.json"))
        preset = load_preset(path)
        folds = [x for x in preset.model.layers if isinstance(x, keras.Model)]
        cs = preset.channel_set
        green = cs.index("green")
        explainers = [Explainer(m, green) for m in folds] or [Explainer(preset.model, green)]
        source = ModelSource(
            path,
            "preset",
            len(explainers),
            np.asarray(preset.thresholds, np.float32),
            tuple(preset.class_names),
            int(preset.image_size),
            f"the preset's thresholds ({meta.get('threshold_rule', 'unknown rule')}); "
            f"{len(folds) or 1} fold model(s) averaged",
            bool(meta.get("trained_on_synthetic")),
            cs,
        )
        return source, explainers
    from gapnet.cv.runread import trained_on_synthetic
    from gapnet.cv.submission import fold_models, run_thresholds
    from gapnet.export.apply import run_channel_set
    from gapnet.schemes import scheme_of_width
    from gapnet.training.predict import load_model

    cs = run_channel_set(path)  # the channels the run was trained on, in its input order
    green = cs.index("green")
    explainers = [Explainer(load_model(p, compile=False), green) for p in fold_models(path)]
    thr = np.asarray(run_thresholds(path), np.float32)
    cfg = read_json(os.path.join(path, "config.json"))
    source = ModelSource(
        path,
        "run",
        len(explainers),
        thr,
        tuple(scheme_of_width(len(thr)).classes),
        int(explainers[0].model.input_shape[1]),
        f"the run's thresholds ({cfg.get('threshold_strategy')}, tuned on its out-of-fold "
        "predictions); every fold model averaged",
        trained_on_synthetic(path),
        cs,
    )
    return source, explainers


def load_in_child(path: str) -> ModelSource:
    _MODELS.clear()
    source, explainers = _load(path)
    _MODELS[path] = explainers
    return source


def probabilities_in_child(path: str, image: np.ndarray) -> np.ndarray:
    """(C,) the image's probabilities, every fold model averaged (as explain.py does)."""
    return np.mean([e.probabilities(image[None]) for e in _explainers(path)], 0)[0]


def fold_maps_in_child(path: str, n: int, image: np.ndarray, n_classes: int, method: str):
    """(C, s, s) every class's map by fold model `n`."""
    from gapnet.explain.maps import class_maps

    every = list(range(n_classes))
    return class_maps(_explainers(path)[n], image[None], every, "none", method)[0]


def segment_in_child(planes: dict, diameter_512):
    from gapnet.napari.analysis import segment_field

    return segment_field(planes, diameter_512)


def calls_in_child(sample_id, probs, thresholds, maps, cells):
    from gapnet.napari.analysis import cell_calls

    return cell_calls(sample_id, probs, thresholds, maps, cells)


FUNCTIONS = {
    f.__name__: f
    for f in (load_in_child, probabilities_in_child, fold_maps_in_child, segment_in_child)
}
FUNCTIONS[calls_in_child.__name__] = calls_in_child


class ModelProcess:
    """The child process (`python -m gapnet.napari.model_process`, started on first use):
    `run(fn, *args)` sends it the call, pickled, and waits for the result (the waiting
    thread holds no GIL); an error in the child is raised here. A plain command, not
    multiprocessing: the child never imports the user's own script (`__main__`). `close()`
    ends it at once (Cancel); a child that ended or died is told as a FieldError and a new
    one starts on the next call."""

    def __init__(self):
        import threading

        self._proc = None
        self._lock = threading.Lock()

    def run(self, fn, *args):
        import pickle
        import subprocess
        import sys

        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                cmd = [sys.executable, "-m", "gapnet.napari.model_process"]
                proc = self._proc = subprocess.Popen(
                    cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE
                )
            try:
                pickle.dump((fn.__name__, args), proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                proc.stdin.flush()
                ok, value = pickle.load(proc.stdout)
            except (OSError, EOFError, pickle.UnpicklingError):
                if self._proc is proc:
                    self._proc = None
                raise FieldError(
                    "the model's process ended (cancelled, or out of memory); a new one "
                    "starts on the next step"
                ) from None
        if not ok:
            raise value
        return value

    def close(self, *_):
        """Ends the child now (a running step is dropped)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def _serve() -> None:
    """The child's loop: read a call from stdin, answer (ok, result or error) on stdout.
    Anything else printed to stdout goes to stderr, so it cannot garble the answers."""
    import pickle
    import sys

    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    calls = sys.stdin.buffer
    while True:
        try:
            name, args = pickle.load(calls)
        except EOFError:  # the widget (or napari) has gone
            return
        try:
            answer = (True, FUNCTIONS[name](*args))
        except Exception as e:  # sent back, raised in the widget's worker
            answer = (False, e if _picklable(e) else FieldError(f"{type(e).__name__}: {e}"))
        pickle.dump(answer, answers, protocol=pickle.HIGHEST_PROTOCOL)
        answers.flush()


def _picklable(e: Exception) -> bool:
    import pickle

    try:
        pickle.loads(pickle.dumps(e))
        return True
    except Exception:
        return False


if __name__ == "__main__":
    _serve()

"""A quiet TensorFlow start for gapnet's commands: the first line a user reads is gapnet's.

TensorFlow 2.21 writes its oneDNN notice and "Could not find cuda drivers" to stderr before its
C++ logging is set up (no log level hides those), and "failed call to cuInit" at ERROR level on
a machine without a GPU. `quiet_tensorflow()`, called by every command before anything else,
sets `TF_CPP_MIN_LOG_LEVEL=3` and imports TensorFlow and Keras with stderr (file descriptor 2)
sent to /dev/null for the import alone; Python exceptions are still raised and shown.

The level stays 3 for the rest of the command, so TensorFlow's C++ ERROR lines are hidden too
(Python exceptions are not). It also sets `GAPNET_QUIET_TF=1`, which child processes inherit
(the data writers' and segmentation's workers): `import gapnet` in such a child installs
an import hook that runs its first `import tensorflow`, if it ever comes, with stderr
closed, so a worker's start-up does not print either (and a worker that never needs
TensorFlow does not import it). A user's own
`TF_CPP_MIN_LOG_LEVEL` wins: when it is set, nothing is changed or hidden (set it to 0 to
see every TensorFlow line). Library use (`import gapnet` in a notebook) is untouched.
"""

import contextlib
import importlib.abc
import importlib.util
import os
import sys

MARK = "GAPNET_QUIET_TF"


@contextlib.contextmanager
def _stderr_closed():
    """File descriptor 2 sent to /dev/null inside the block (C++ writes included)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_tensorflow() -> bool:
    """Imports TensorFlow quietly unless the user chose a log level; True when it did."""
    if os.environ.get(MARK) == "1":  # a worker of a gapnet command (spawn re-runs its top)
        quiet_worker()  # TensorFlow only if the worker needs it, then quietly
        return False
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return False
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ[MARK] = "1"
    with _stderr_closed():
        import keras  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # the CUDA probe, inside the quiet window
    return True


class _QuietFirstImport(importlib.abc.MetaPathFinder):
    """Runs the first `import tensorflow` of a worker process with stderr closed, whenever
    it happens (a worker that never imports TensorFlow never pays for it)."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        real = spec.loader

        class Loader(importlib.abc.Loader):
            def create_module(self, s):
                return real.create_module(s)

            def exec_module(self, module):
                with _stderr_closed():
                    real.exec_module(module)

        spec.loader = Loader()
        return spec


def quiet_worker() -> None:
    """In a worker process of a gapnet command (`GAPNET_QUIET_TF=1` inherited): its first
    TensorFlow import, if any, is as quiet as the command's."""
    if os.environ.get(MARK) == "1" and "tensorflow" not in sys.modules:
        if not any(isinstance(f, _QuietFirstImport) for f in sys.meta_path):
            sys.meta_path.insert(0, _QuietFirstImport())

"""Calling bioimageio.core without it changing this process's Keras backend setting.

bioimageio.core reads `KERAS_BACKEND` once (default "torch") and writes it into
`os.environ` when it loads its Keras backend. gapnet runs Keras on TensorFlow, and every
process it starts afterwards (a k-fold worker, a notebook kernel, a script) inherits that
variable: left as "torch", they fail at `import keras` without PyTorch. Each gapnet call
into bioimageio.core goes through `keras_backend_kept()`.
"""

from __future__ import annotations

import os
from contextlib import contextmanager


def _gapnets_backend() -> str:
    import keras

    return keras.backend.backend()  # fixed for this process once keras is imported


@contextmanager
def keras_backend_kept():
    """bioimageio.core sees gapnet's Keras backend, and `KERAS_BACKEND` is as before
    afterwards (unset if it was unset)."""
    before = os.environ.get("KERAS_BACKEND")
    os.environ["KERAS_BACKEND"] = _gapnets_backend()
    from bioimageio.core._settings import settings

    settings.keras_backend = os.environ["KERAS_BACKEND"]  # read once at its first import
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("KERAS_BACKEND", None)
        else:
            os.environ["KERAS_BACKEND"] = before

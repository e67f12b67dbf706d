"""Predicting a user's own images (`gapnet.data.microscope`) with a run's fold models or a
preset: probabilities and labels per image, and the CSV `predict.py --images` writes."""

from __future__ import annotations

import numpy as np

from gapnet.cv.submission import decide
from gapnet.data.images import ImageError
from gapnet.data.labels import DataError
from gapnet.data.microscope import find_images, read_image
from gapnet.io import atomic_write_text
from gapnet.schemes import scheme_of_width


def model_of_run(run: str):
    """(fold-average Keras model, tuned thresholds) of a finished run folder."""
    from gapnet.cv.submission import fold_models, run_thresholds
    from gapnet.export.ensemble import fold_average
    from gapnet.training.predict import load_model

    model = fold_average([load_model(p, compile=False) for p in fold_models(run)])
    return model, run_thresholds(run)


def predict_images(
    model, thresholds, path: str, channels=None, batch_size: int = 16, empty: str = "top"
):
    """(names, probabilities (n, classes), label lists) of every image at `path`, read at the
    model's input size.

    Raises:
        DataError: some files cannot be used; the message lists every one.
    """
    size = model.input_shape[1]
    images, names, bad = [], [], []
    for name, source in find_images(path):
        try:
            images.append(read_image(source, size, channels))
            names.append(name)
        except ImageError as e:
            bad.append(str(e))
    if bad:
        raise DataError(f"{len(bad)} image(s) cannot be used:\n" + "\n".join(bad))
    x = np.stack(images)  # uint8: the model scales pixels itself
    probs = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), np.float32)
    return names, probs, decide(probs, thresholds, empty)


def write_image_predictions(path: str, names, probs, labels) -> None:
    """CSV: image, predicted labels (numbers and names, of the scheme with as many
    classes as `probs` has columns), then the probabilities."""
    names_of = scheme_of_width(probs.shape[1]).classes
    head = "image,labels,label_names," + ",".join(str(k) for k in range(probs.shape[1]))
    rows = [
        f"{n},{' '.join(map(str, ls))},{'; '.join(names_of[k] for k in ls)},"
        + ",".join(f"{p:.7g}" for p in row)
        for n, row, ls in zip(names, probs, labels, strict=True)
    ]
    atomic_write_text(path, "\n".join([head] + rows) + "\n")

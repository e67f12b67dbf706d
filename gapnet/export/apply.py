"""Predicting a user's own images (`gapnet.data.microscope`) with a run's fold models or a
preset: probabilities and labels per image, and the CSV `predict.py --images` writes."""

from __future__ import annotations

import numpy as np

from gapnet.channels import ALL, ChannelSet
from gapnet.cv.submission import decide
from gapnet.data.at_scale import window_batches
from gapnet.data.images import ImageError
from gapnet.data.labels import DataError
from gapnet.data.microscope import find_images, input_channels  # noqa: F401 - re-exported
from gapnet.io import atomic_write_text
from gapnet.schemes import scheme_of_width


def model_of_run(run: str):
    """(fold-average Keras model, tuned thresholds) of a finished run folder (its own
    classes, if any, declared: `gapnet.cv.runread.run_classes`)."""
    from gapnet.cv.runread import run_classes
    from gapnet.cv.submission import fold_models, run_thresholds
    from gapnet.export.ensemble import fold_average
    from gapnet.training.predict import load_model

    run_classes(run)
    model = fold_average([load_model(p, compile=False) for p in fold_models(run)])
    return model, run_thresholds(run)


def run_channel_set(run: str) -> ChannelSet:
    """The channel set a run was trained on (its config's channels and channel map)."""
    import os

    from gapnet.config import Config

    return Config.from_file(os.path.join(run, "config.json")).channel_set


def run_pixel_size(run: str) -> float | None:
    """The µm/px a run was trained at (`Config.pixel_size`; None for a run without it)."""
    import os

    from gapnet.config import Config

    return Config.from_file(os.path.join(run, "config.json")).pixel_size


def no_pixel_size_note(size: int, given_um: float | None) -> str:
    """The one note for a model that records no pixel size (a run older than the key)."""
    return (
        f"note: the model records no pixel size: every image is resized to {size} px "
        "whatever its µm/px" + (f" (--pixel-size {given_um:g} unused)" if given_um else "")
    )


def predict_images(
    model,
    thresholds,
    path: str,
    channels=None,
    batch_size: int = 16,
    empty: str = "top",
    channel_set: ChannelSet | None = None,
    log=None,
    run_um: float | None = None,
    given_um: float | None = None,
):
    """(names, probabilities (n, classes), label lists) of every image at `path`, in the
    channels of `channel_set` (default: the four); channels the model does not use are
    dropped, and `log` says so once.

    Scale (`gapnet.data.at_scale`): with `run_um` (the µm/px the model was trained at)
    each image is resampled to it from its own (its file's metadata, else `given_um`,
    `--pixel-size`) and cut into the model's windows, whose probabilities are averaged;
    `log` says by how much, or warns (naming the file) that an image's pixel size is
    unknown and it is predicted at its own size. Without `run_um`, every image is resized
    to the model's size, as before (`no_pixel_size_note` is the caller's one line).

    Raises:
        DataError: some files cannot be used (a missing channel, ...); the message lists
            every one.
    """
    cs = channel_set or ALL
    size = model.input_shape[1]
    if model.input_shape[-1] != len(cs):
        raise DataError(
            f"the model takes {model.input_shape[-1]} channels; {len(cs)} given ({cs.describe()})"
        )
    say = log or (lambda m: None)
    names, sums, counts, bad, extra = [], [], [], [], set()
    pending: list = []  # (image's position in `names`, its windows), predicted in batches

    def flush():
        x = np.concatenate([w for _, w in pending])  # uint8: the model scales pixels itself
        out = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), np.float64)
        start = 0
        for i, w in pending:
            sums[i] = sums[i] + out[start : start + len(w)].sum(0)
            counts[i] += len(w)
            start += len(w)
        pending.clear()

    # image by image, at most ~batch_size windows held: memory does not grow with the images
    for name, source in find_images(path, names=cs.names):
        notes: list = []
        i = len(names)
        names.append(name)
        sums.append(0.0)
        counts.append(0)
        try:
            for w in window_batches(name, source, size, run_um, given_um, channels, cs, notes, say):
                pending.append((i, w))
                if sum(len(v) for _, v in pending) >= batch_size:
                    flush()
        except ImageError as e:
            bad.append(str(e))
        extra.update(notes)
    if bad:
        raise DataError(f"{len(bad)} image(s) cannot be used:\n" + "\n".join(bad))
    if pending:
        flush()
    if extra:
        say(f"note: channel(s) {', '.join(sorted(extra))} dropped: the model uses {cs.describe()}")
    probs = np.stack([t / n for t, n in zip(sums, counts, strict=True)]).astype(np.float32)
    return names, probs, decide(probs, thresholds, empty)


def write_image_predictions(path: str, names, probs, labels) -> None:
    """CSV: Id (the image's name), predicted labels (numbers and names, of the scheme with
    as many classes as `probs` has columns), then the probabilities: one column per class,
    named by the class numbers for an HPA scheme, by the class names for a user's own
    classes (`classes.csv`)."""
    sc = scheme_of_width(probs.shape[1])
    names_of = sc.classes
    columns = sc.classes if sc.name == "own" else [str(k) for k in range(probs.shape[1])]
    head = "Id,labels,label_names," + ",".join(_csv_cell(c) for c in columns)
    rows = [
        f"{n},{' '.join(map(str, ls))},{_csv_cell('; '.join(names_of[k] for k in ls))},"
        + ",".join(f"{p:.7g}" for p in row)
        for n, row, ls in zip(names, probs, labels, strict=True)
    ]
    atomic_write_text(path, "\n".join([head] + rows) + "\n")


def _csv_cell(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text

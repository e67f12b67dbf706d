"""Writing a synthetic HPA dataset in the exact Kaggle layout, and the default dataset cache.

`write_dataset(out, n, size, seed)` writes `out/train.csv` (`Id,Target`), four 8-bit
grayscale PNGs per sample in `out/train/` and the marker `out/SYNTHETIC.json` (its
parameters; `gapnet.data.synthetic.marker`), so the real reader, validator and pipeline run
on it unchanged. Label sets are drawn from the real HPA `train.csv` label column (packaged
in `gapnet/resources/`), so class frequencies and co-occurrence match the real data;
`min_per_class` tops up rare classes. Sample i is rendered from its own seed (derived from
`seed` and i), so the same parameters give byte-identical files whatever the number of
worker processes, and an interrupted generation resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import math
import os
from importlib import resources
from multiprocessing import get_context

import numpy as np

from gapnet.classes import CHANNELS, N_CLASSES
from gapnet.data.labels import write_labels
from gapnet.data.synthetic.marker import write_marker
from gapnet.io import atomic_write_bytes


def real_label_sets() -> list[tuple[int, ...]]:
    """The 31,072 label sets of the real Kaggle train.csv, in file order."""
    text = resources.files("gapnet.resources").joinpath("hpa_train_targets.csv").read_text()
    return [tuple(sorted(int(t) for t in line.split())) for line in text.splitlines()[1:] if line]


def default_min_per_class(n: int) -> int:
    """6 % of the samples (at least 1): every class appears in any dataset, with enough
    examples of the rarest (54 of 900) for a model to learn them in a short schedule."""
    return max(1, math.ceil(0.06 * n))


def draw_label_sets(n: int, seed: int, min_per_class: int | None = None) -> list[tuple[int, ...]]:
    """n label sets drawn from the real ones, rare classes topped up to `min_per_class`.

    Top-up replaces randomly chosen samples with real label sets containing the missing
    class, rarest class first, never taking a sample whose removal would push a class
    below the quota. An explicit `min_per_class` that cannot be met (above about 7 % of n:
    the real label sets carry about two labels each) raises ValueError; the default is met
    for any n >= 100 and is best effort below (28 classes do not fit in a few samples).
    """
    pool = real_label_sets()
    rng = np.random.default_rng([seed, 1])
    sets = [pool[i] for i in rng.integers(0, len(pool), n)]
    quota = default_min_per_class(n) if min_per_class is None else min_per_class
    quota = min(quota, n // 2)
    by_class = {k: [s for s in pool if k in s] for k in range(N_CLASSES)}
    member = np.zeros((n, N_CLASSES), bool)
    for i, s in enumerate(sets):
        member[i, list(s)] = True
    counts = member.sum(0)
    for k in sorted(range(N_CLASSES), key=lambda k: len(by_class[k])):
        while counts[k] < quota:
            for _ in range(50):  # another real set with k may free a sample when one cannot
                new = by_class[k][rng.integers(len(by_class[k]))]
                keep = counts <= quota  # these classes cannot lose a sample ...
                keep[list(new)] = False  # ... unless the replacement carries them too
                free = np.flatnonzero(~member[:, keep].any(1) & ~member[:, k])
                if len(free):
                    break
            else:
                if min_per_class is None:  # the default, in a dataset too small for it
                    break
                raise ValueError(
                    f"min_per_class={quota} cannot be met with {n} samples "
                    f"(class {k} has {counts[k]})"
                )
            i = int(rng.choice(free))
            member[i] = False
            member[i, list(new)] = True
            sets[i] = new
            counts = member.sum(0)
    return sets


def sample_id(seed: int, i: int) -> str:
    """A stable Id like the Kaggle ones: 'syn' + seed + index + a short hash."""
    h = hashlib.sha1(f"{seed}:{i}".encode()).hexdigest()[:8]
    return f"syn{seed}-{i:06d}-{h}"


def render_sample(
    seed: int, i: int, labels, size: int, truth: dict | None = None, variability: float = 0.0
) -> np.ndarray:
    from gapnet.data.synthetic.render import render

    return render(labels, size, np.random.default_rng([seed, 2, i]), truth, variability)


def _png(a: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", a, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:  # pragma: no cover - OpenCV cannot fail on uint8 gray
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


TRUTH = "truth"  # the ground-truth folder beside train/ (`write_dataset(truth=True)`)


def _write_one(job) -> int:
    out_dir, seed, i, labels, size, with_truth, variability = job
    sid = sample_id(seed, i)
    paths = [os.path.join(out_dir, f"{sid}_{c}.png") for c in CHANNELS]
    truth_dir = os.path.join(os.path.dirname(out_dir), TRUTH)
    table = os.path.join(truth_dir, "parts", f"{sid}.csv")
    if all(os.path.exists(p) for p in paths) and (not with_truth or os.path.exists(table)):
        return i  # resumed generation: already written
    truth = {} if with_truth else None
    img = render_sample(seed, i, labels, size, truth, variability)
    for c, p in enumerate(paths):
        atomic_write_bytes(p, _png(img[..., c]))
    if with_truth:
        for kind in ("cells", "nuclei"):
            atomic_write_bytes(
                os.path.join(truth_dir, f"{sid}_{kind}.png"), _png(truth[kind].astype(np.uint16))
            )
        for k, mask in truth["masks"].items():
            atomic_write_bytes(
                os.path.join(truth_dir, f"{sid}_{k}.png"), _png(mask.astype(np.uint8) * 255)
            )
        rows = [f"{sid},{cell},{' '.join(map(str, ks))}" for cell, ks in truth["shows"].items()]
        atomic_write_bytes(table, ("\n".join(rows) + "\n" if rows else "").encode())
    return i


def _cell_rows(out: str, sid: str) -> list[tuple[int, list[int]]]:
    """(cell, the 2018 labels it shows) of one sample, from its truth part."""
    rows = []
    with open(os.path.join(out, TRUTH, "parts", f"{sid}.csv"), encoding="utf-8") as f:
        for line in f.read().splitlines():
            if line:
                _, cell, labels = line.split(",")
                rows.append((int(cell), [int(k) for k in labels.split()]))
    return rows


def _write_truth_table(out: str, ids, scheme: str = "hpa2018") -> None:
    """truth/cells.csv (Id, cell, the labels that cell shows, space-separated, in the
    dataset's scheme; hpa2021: Negative (18) for a cell that shows no location)."""
    from gapnet.io import atomic_write_text
    from gapnet.schemes import HPA2018_TO_HPA2021, SCHEMES

    lines = ["Id,cell,labels"]
    for sid in ids:
        for cell, ks in _cell_rows(out, sid):
            if scheme == "hpa2021":
                ks = sorted({HPA2018_TO_HPA2021[k] for k in ks} - {None})
                ks = ks or [SCHEMES["hpa2021"].negative]
            lines.append(f"{sid},{cell},{' '.join(map(str, ks))}")
    atomic_write_text(os.path.join(out, TRUTH, "cells.csv"), "\n".join(lines) + "\n")


def write_dataset(
    out: str | os.PathLike,
    n: int,
    size: int = 512,
    seed: int = 0,
    min_per_class: int | None = None,
    workers: int | None = None,
    progress: bool = True,
    truth: bool = False,
    variability: float = 0.0,
    scheme: str = "hpa2018",
) -> str:
    """Writes a synthetic dataset in the Kaggle layout, with its marker
    `out/SYNTHETIC.json` (`gapnet.data.synthetic.marker`); returns the folder.

    Args:
        out: the dataset folder (created).
        n: number of samples.
        size: image side length in pixels.
        seed: generator seed; same parameters give byte-identical files.
        min_per_class: each class appears in at least this many samples (default:
            `default_min_per_class(n)`).
        workers: processes (default: all cores).
        progress: report progress (`gapnet.progress.track`).
        truth: also write the ground truth to `out/truth/`: per sample the cell and
            nucleus label images (`<Id>_cells.png`, `<Id>_nuclei.png`, 16-bit, 0 =
            background), a mask of each label's pattern (`<Id>_<k>.png`, 0/255), and
            `cells.csv` (Id, cell, the labels that cell shows: none for a non-expressing
            cell). The four channels are byte-identical with or without it.
        variability: single-cell variability, 0..1: the probability that a label of an
            image shows in only a subset of its cells (`render.variable_cells`: the share
            of cells drawn per image and label from Beta(2, 2)). Above 0 the truth is
            always written and each image's labels are the union of its cells' (the drawn
            set where no cell shows anything, e.g. every cell non-expressing; hpa2021:
            Negative). At 0 (default) every file is byte-identical to the atlas without
            the knob.
        scheme: "hpa2018" (`Id,Target`) or "hpa2021": the 2021 layout, `train.csv` as
            `ID,Label` (labels joined by `|`) in the 19 classes (`gapnet.schemes`), the
            three 2018 classes the 2021 set dropped not drawn, truth/cells.csv in 2021
            classes with Negative.
    """
    from gapnet.schemes import HPA2018_TO_HPA2021, get_scheme, to_hpa2021

    out = os.fspath(out)
    sc = get_scheme(scheme)
    if not 0 <= variability <= 1:
        raise ValueError(f"variability must be in 0..1, got {variability}")
    sets = draw_label_sets(n, seed, min_per_class)  # first: a bad quota leaves no folder
    if sc.name == "hpa2021":  # draw only what the 2021 classes can name
        sets = [tuple(k for k in s if HPA2018_TO_HPA2021[k] is not None) for s in sets]
    truth = truth or variability > 0
    image_dir = os.path.join(out, "train")
    os.makedirs(image_dir, exist_ok=True)
    from gapnet.data.synthetic.render import GENERATOR_VERSION

    write_marker(  # first: even a partly written folder says it is synthetic
        out,
        {
            "generator_version": GENERATOR_VERSION,
            "n": n,
            "size": size,
            "seed": seed,
            "min_per_class": min_per_class,
            "truth": truth,
            **({"variability": variability} if variability else {}),
            **({"scheme": sc.name} if sc.name != "hpa2018" else {}),
        },
    )
    targets = np.zeros((n, N_CLASSES), np.uint8)
    for i, s in enumerate(sets):
        targets[i, list(s)] = 1
    if truth:
        os.makedirs(os.path.join(out, TRUTH, "parts"), exist_ok=True)
    jobs = [(image_dir, seed, i, sets[i], size, truth, variability) for i in range(n)]
    workers = max(1, workers or os.cpu_count() or 1)
    from gapnet.progress import track

    with track(n, f"synthetic atlas ({size}px)", enabled=progress) as bar:
        if workers == 1:
            for job in jobs:
                _write_one(job)
                bar.update()
        else:
            # Threads in OpenCV/NumPy would fight the processes for the cores.
            with get_context("spawn").Pool(
                workers, initializer=_single_thread, initargs=(os.getpid(),)
            ) as pool:
                for _ in pool.imap_unordered(_write_one, jobs, chunksize=4):
                    bar.update()
    ids = [sample_id(seed, i) for i in range(n)]
    if truth:
        _write_truth_table(out, ids, sc.name)
    if variability > 0:  # the image's labels: the union of its cells'
        for i, sid in enumerate(ids):
            shown = sorted({k for _, ks in _cell_rows(out, sid) for k in ks})
            if shown or sc.name == "hpa2021":  # 2021: no cell shows anything -> Negative
                targets[i] = 0
                targets[i, shown] = 1
    # train.csv last: its presence marks a complete dataset.
    if sc.name == "hpa2021":
        from gapnet.io import atomic_write_text

        lines = [f"{sc.id_column},{sc.label_column}"]
        lines += [f"{sid},{sc.format(t)}" for sid, t in zip(ids, to_hpa2021(targets), strict=True)]
        atomic_write_text(os.path.join(out, "train.csv"), "\n".join(lines) + "\n")
    else:
        write_labels(os.path.join(out, "train.csv"), ids, targets)
    return out


def _single_thread(parent: int):
    import cv2

    from gapnet.workers import exit_with_parent

    cv2.setNumThreads(1)
    exit_with_parent(parent)


def __getattr__(name):
    """`default_dataset`, `cache_dir` and `CACHE_ENV` lived here before gapnet 0.4: still
    importable, with a DeprecationWarning naming `gapnet.data.synthetic.default`."""
    if name in ("default_dataset", "cache_dir", "CACHE_ENV"):
        import warnings

        from gapnet.data.synthetic import default

        warnings.warn(
            f"gapnet.data.synthetic.generate.{name} moved to gapnet.data.synthetic.default",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(default, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

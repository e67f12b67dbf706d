"""What the widget puts on the canvas, as plain data: a colour per class, the cells'
colours by their best called class, the text over each cell, the image-level summary line."""

from __future__ import annotations

import numpy as np

NO_CALL = (0.55, 0.55, 0.55, 0.6)  # a cell with no class called in it


def class_colors(n: int) -> np.ndarray:
    """(n, 4) RGBA: a distinct colour per class (matplotlib's tab20, then tab20b)."""
    from matplotlib import colormaps

    pool = np.concatenate([colormaps["tab20"].colors, colormaps["tab20b"].colors])
    rgb = np.asarray(pool)[np.arange(n) % len(pool)]
    return np.concatenate([rgb, np.ones((n, 1))], 1)


def best_called(table: dict, i: int) -> int | None:
    """The class called in row `i` (its `labels`) with the highest cell score, else None:
    the class a cell's colour, its text and `top_class` all name."""
    called = [int(k) for k in str(table["labels"][i]).split()]
    return max(called, key=lambda k: table[f"p_{k}"][i]) if called else None


def cell_colors(table: dict, n_classes: int) -> dict:
    """{cell label: RGBA}: the colour of the cell's best called class (`best_called`, the
    class its text names), grey when none is called; label 0 (background) and None
    transparent."""
    colors = class_colors(n_classes)
    out = {0: np.zeros(4), None: np.zeros(4)}
    for i, label in enumerate(table["index"]):
        best = best_called(table, i)
        out[int(label)] = np.asarray(NO_CALL) if best is None else colors[best]
    return out


CHARS_ACROSS = 72  # characters of the text across the field where it fills the figure


def cell_text(table: dict, class_names, side=None) -> tuple[np.ndarray, list[str]]:
    """((n, 2) y, x where each cell's text is centred, the text over each cell: its label,
    the class called in it with the highest cell score and "+n" for the n others called
    ("-" for none), "edge" for a cell the border cuts). Every call is in the cells layer's
    table (`label_names`). The text is at the cell's centroid; with `side` (the field's
    (height, width) px) moved inwards where it would run off the field, a character taken
    as 1/CHARS_ACROSS of the width (napari writes text in screen pixels: that is its size
    where the field fills a figure exported at 0.35 px per field px), and a line lower
    where it would overlap a text above it."""
    yx = np.stack([np.asarray(table["y"], float), np.asarray(table["x"], float)], 1)
    text = []
    rows = zip(table["index"], table["labels"], table["edge"], strict=True)
    for i, (c, labels, e) in enumerate(rows):
        called = str(labels).split()
        best = best_called(table, i)
        t = f"{int(c)}: " + (class_names[best] if called else "-")
        t += f" +{len(called) - 1}" if len(called) > 1 else ""
        text.append(t + (" (edge)" if e else ""))
    yx = yx.reshape(-1, 2)
    if side is not None and len(text):
        h, w = side
        char = w / CHARS_ACROSS
        half = np.minimum([len(t) * char / 2 for t in text], w / 2)
        yx[:, 1] = np.clip(yx[:, 1], half, w - half)
        yx[:, 0] = np.clip(yx[:, 0], char, h - char)
        _apart(yx, half, 2 * char, h - char)
    return yx, text


def _apart(yx, half, line: float, bottom: float) -> None:
    """Moves a text down by a line (top to bottom, in place) while it would overlap one
    placed before it: texts `half` wide each side, `line` high; none below `bottom`."""
    placed = []
    for i in np.argsort(yx[:, 0], kind="stable"):
        for _ in range(len(placed)):
            hit = [j for j in placed if abs(yx[i, 0] - yx[j, 0]) < line
                   and abs(yx[i, 1] - yx[j, 1]) < half[i] + half[j]]  # fmt: skip
            if not hit or yx[i, 0] >= bottom:
                break
            yx[i, 0] = min(max(yx[j, 0] for j in hit) + line, bottom)
        placed.append(i)


def summary_line(probs, thresholds, class_names, top: int = 5) -> str:
    """The image-level calls (the `top` most probable, "+n more" for the rest), then the
    most probable classes: "name p (t)"."""
    called = sorted(
        (k for k in range(len(probs)) if probs[k] > thresholds[k]), key=lambda k: -probs[k]
    )
    order = np.argsort(-np.asarray(probs))[:top]
    calls = ", ".join(f"{class_names[k]} {probs[k]:.2f}" for k in called[:top]) or "none"
    calls += f" +{len(called) - top} more" if len(called) > top else ""
    best = ", ".join(f"{class_names[k]} {probs[k]:.2f} (t {thresholds[k]:.2f})" for k in order)
    return f"image calls (p > t): {calls}\ntop: {best}"


SYNTHETIC = "model trained on SYNTHETIC data: not meaningful for real images"


def with_synthetic(text: str, trained_on_synthetic: bool) -> str:
    """`text` (a status or overlay line) with the synthetic warning appended when the model
    was trained on synthetic data: Classify's lines must not drop it."""
    return f"{text} [{SYNTHETIC}]" if trained_on_synthetic else text

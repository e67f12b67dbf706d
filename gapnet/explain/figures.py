"""Figures of the localization maps (matplotlib, Agg) and the gallery page.

`sample_figure`: the composite, then the protein channel with each shown class's map
overlaid, cell outlines on every panel. `gallery_page`: per class, the highest-scoring
true and false positives, each a thumbnail linking to its figure. `embedding_figure`: the
2-D map of the embeddings coloured by label.
"""

from __future__ import annotations

import html
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gapnet.classes import CHANNELS  # noqa: E402
from gapnet.schemes import scheme_of_width  # noqa: E402


def composite(image: np.ndarray, roles=CHANNELS) -> np.ndarray:
    """An RGB view of a uint8 (H, W, C) sample as HPA shows it: microtubules red, protein
    green, nucleus blue, ER yellow (red + green); `roles`: the image's channels (a run's
    channel set; a role it lacks is dark)."""
    dark = np.zeros(image.shape[:2], np.float32)
    c = {name: dark for name in CHANNELS}
    c |= {name: image[..., i].astype(np.float32) / 255 for i, name in enumerate(roles)}
    rgb = np.stack([c["red"] + 0.5 * c["yellow"], c["green"] + 0.5 * c["yellow"], c["blue"]], -1)
    return np.clip(rgb, 0, 1)


def outlines(labels: np.ndarray) -> np.ndarray:
    """Boolean (H, W): pixels on the boundary between two labels (or label and background)."""
    from skimage.segmentation import find_boundaries

    return find_boundaries(labels, mode="inner")


def sample_figure(
    path: str,
    image: np.ndarray,
    maps: np.ndarray,
    classes,
    probs,
    title: str,
    cells: np.ndarray | None = None,
    truth=None,
    roles=CHANNELS,
) -> str:
    """One sample: composite, then the protein channel with each class's map (maps (K, H, W)
    for `classes`), cell outlines when given; `truth`: the true labels, marked in titles
    (None: unknown, e.g. a user's own images, nothing marked); `roles`: the image's
    channels."""
    n = 1 + len(classes)
    names = scheme_of_width(len(probs)).classes
    # square panels 3.2 in wide leave no height to spare: a 3.5 in figure cut the top of the
    # two-line titles whatever the layout engine; 3.9 in holds the image and its title
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.9), squeeze=False, layout="constrained")
    edge = None if cells is None else outlines(cells)
    rgb = composite(image, roles)
    if edge is not None:
        rgb = rgb.copy()
        rgb[edge] = (1.0, 1.0, 1.0)
    axes[0, 0].imshow(rgb)
    axes[0, 0].set_title(title, fontsize=8)
    green = image[..., list(roles).index("green")]
    for ax, k, m in zip(axes[0, 1:], classes, maps, strict=True):
        ax.imshow(green, cmap="gray")
        positive = m[m > 0]  # scaled to its 99th percentile: a few hot pixels do not hide the rest
        top = float(np.percentile(positive, 99)) if positive.size else 1.0
        ax.imshow(np.clip(m / top, 0, 1), cmap="inferno", alpha=0.45, vmin=0, vmax=1)
        if edge is not None:
            ax.contour(edge, levels=[0.5], colors="cyan", linewidths=0.4)
        mark = "" if truth is None else (" (true)" if k in truth else " (not true)")
        ax.set_title(f"{k} {names[k][:22]}\np={probs[k]:.2f}{mark}", fontsize=8)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def gallery_page(path: str, entries: list[dict], title: str, note: str, n_classes: int = 28) -> str:
    """An HTML page: per class, rows of thumbnails. entries: dicts with class, kind ("true
    positive" / "false positive", or "called" for unlabelled images), id, p and figure (a
    path relative to the page); classes named by the scheme of `n_classes` classes."""
    names = scheme_of_width(n_classes).classes
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1400px;margin:auto}"
        "img{height:190px;margin:2px;border:1px solid #ccc}figure{display:inline-block;"
        "margin:4px}figcaption{font-size:11px}</style>",
        f"<h1>{html.escape(title)}</h1><p>{html.escape(note)}</p>",
    ]
    for k in sorted({e["class"] for e in entries}):
        parts.append(f"<h2>{k} {html.escape(names[k])}</h2>")
        for kind in ("true positive", "false positive", "called"):
            rows = [e for e in entries if e["class"] == k and e["kind"] == kind]
            if not rows:
                continue
            parts.append(f"<h3>{kind}s</h3>")
            for e in rows:
                fig = html.escape(e["figure"])
                parts.append(
                    f"<figure><a href='{fig}'><img src='{fig}'></a><figcaption>"
                    f"{html.escape(e['id'])} p={e['p']:.2f}</figcaption></figure>"
                )
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(parts) + "\n")
    return path


def embedding_figure(
    path: str, xy: np.ndarray, targets: np.ndarray, method: str, top: int = 8
) -> str:
    """The 2-D embedding, each point coloured by its most frequent label among the `top`
    commonest labels (others grey)."""
    counts = targets.sum(0)
    names = scheme_of_width(targets.shape[1]).classes
    common = list(np.argsort(-counts)[:top])
    fig, ax = plt.subplots(figsize=(6, 5))
    rest = np.ones(len(xy), bool)
    for k in common:
        sel = targets[:, k].astype(bool) & rest
        ax.scatter(xy[sel, 0], xy[sel, 1], s=8, label=f"{k} {names[k][:16]}")
        rest &= ~sel
    ax.scatter(xy[rest, 0], xy[rest, 1], s=6, c="lightgrey", label="other")
    ax.legend(fontsize=7, markerscale=2)
    ax.set_title(f"Penultimate features, {method} (coloured by label)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return os.fspath(path)

"""Example figure of the synthetic atlas: one sample per class, and one beside a real one."""

from __future__ import annotations

import numpy as np

from gapnet.classes import CLASS_NAMES


def composite(img: np.ndarray) -> np.ndarray:
    """HPA-style RGB view of an RGBY uint8 image: red+yellow, green+yellow, blue."""
    r, g, b, y = (img[..., c].astype(np.float32) for c in range(4))
    rgb = np.stack([np.maximum(r, y * 0.7), np.maximum(g, y * 0.7), b], -1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def save_figure(path: str, real_rgby: np.ndarray | None = None, size: int = 512, seed: int = 0):
    """Writes the figure; `real_rgby` is a real HPA sample (uint8 RGBY) to show beside."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gapnet.data.synthetic.render import render

    fig, axes = plt.subplots(5, 7, figsize=(14, 11.5))
    for k, ax in enumerate(axes.flat[:28]):
        ax.imshow(composite(render([k], size, np.random.default_rng([seed, k]))))
        ax.set_title(f"{k} {CLASS_NAMES[k]}", fontsize=7)
    sample = render([0, 25], size, np.random.default_rng([seed, 99]))
    panels = [(sample[..., c], f"synthetic {n}") for c, n in enumerate(("red", "green", "blue"))]
    panels += [(composite(real_rgby), "real HPAv18 (composite)")] if real_rgby is not None else []
    for ax, (img, title) in zip(
        axes.flat[28:], panels + [(composite(sample), "synthetic composite")], strict=False
    ):
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
        ax.set_title(title, fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(
        "gapnet synthetic atlas: one sample per label (composite: red+yellow, "
        "green = protein, blue = nucleus). Synthetic, not HPA data.",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)

"""gapnet's segmentation of the real HPA files in tests/data, drawn as outlines.

    python benchmarks/segmentation_figure.py docs/segmentation_real.png

The complete HPAv18 sample (nuclei and cells) and the two Kaggle 2018 nucleus channels
(nuclei only), each at 512 px with gapnet's default segmentation parameters.
"""

import os
import sys

import numpy as np

from gapnet.segment import segment_cells


def real_figure(path: str) -> None:
    """gapnet's segmentation of the real files in tests/data at 512 px: the complete HPAv18
    sample (nuclei and cells) and the two Kaggle nucleus channels (nuclei only)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gapnet.data.images import read_channel, read_sample
    from gapnet.explain.figures import composite, outlines
    from gapnet.segment import segment_nuclei

    data = os.path.join(os.path.dirname(__file__), "..", "tests", "data")
    sample = read_sample(os.path.join(data, "hpav18_jpg"), "10814_50_A1_1", 512, "jpg")
    cells, nuclei = segment_cells(sample)
    panels = [
        (
            "HPAv18 10814_50_A1_1: cells (white), nuclei (cyan)",
            composite(sample),
            [(cells, (1, 1, 1)), (nuclei, (0, 1, 1))],
        )
    ]
    pngs = os.path.join(data, "kaggle_png")
    for f in sorted(x for x in os.listdir(pngs) if x.endswith("_blue.png")):
        blue = read_channel(os.path.join(pngs, f), "blue", 512)
        rgb = np.zeros((512, 512, 3), np.float32)
        rgb[..., 2] = blue / 255
        panels.append(
            (f"Kaggle {f[:8]} (blue only): nuclei", rgb, [(segment_nuclei(blue), (1, 1, 0))])
        )
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 5.2))
    for ax, (title, rgb, layers) in zip(axes, panels, strict=True):
        rgb = np.clip(rgb * 1.6, 0, 1)
        for labels, colour in layers:
            rgb[outlines(labels)] = colour
        ax.imshow(rgb)
        ax.set_title(title + f" ({int(layers[0][0].max())} found)", fontsize=9)
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    print(f"wrote {path}")


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="the PNG to write (docs/segmentation_real.png)")
    real_figure(p.parse_args(argv).out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

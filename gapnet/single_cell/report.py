"""The single-cell report: `RUN/report/report.md` and `report.html` from results.json and
the run's cells: the methods side by side (mAP@0.6 in both conventions, per-cell
macro-F1), the per-class AP table, the two policies, and per-cell examples (fields with
their cells outlined, each cell coloured by its strongest call)."""

from __future__ import annotations

import os

import numpy as np

from gapnet.report.page import render
from gapnet.schemes import get_scheme

METHOD_LABELS = {
    "image": "(a) image: the image's probabilities given to every cell",
    "maps": "(b) maps: explain's calls from the image model's class maps",
    "cell": "(c) cell: the cell model alone",
    "image_x_cell": "(d) image x cell",
    "image_mean_cell": "mean of image and cell (the alternative to the product)",
}


def _label(m: str, r: dict) -> str:
    v = r.get("policy_variants", {})
    if m == "image_x_cell/edge_weight":
        return f"(d) with edge cells' scores x {v.get('edge_weight', 0.5):g}"
    if m == "image_x_cell/negative":
        return f"(d) with Negative as '{v.get('negative', '?')}'"
    return METHOD_LABELS.get(m, m)


def _ci(point, ci) -> str:
    return f"{point:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def method_rows(r: dict) -> list[list]:
    """One row per method: mAP@0.6 (all images; images holding the class) and per-cell
    macro-F1 (cross-fitted; tuned), with basic bootstrap intervals over images (nominal
    95 %; their coverage: docs/evaluation.md)."""
    rows = []
    methods = [k[: -len("/all")] for k in r["map"] if k.endswith("/all")]
    for m in methods:
        f1 = r.get("cell_f1", {}).get(m)
        ci = r["map_ci95"]
        rows.append(
            [
                _label(m, r),
                *(
                    _ci(r["map"][f"{m}/{c}"], ci[f"{m}/{c}"])
                    if f"{m}/{c}" in ci
                    else f"{r['map'][f'{m}/{c}']:.3f} (point)"
                    for c in ("all", "present")
                ),
                _ci(f1["macro_f1"], f1["macro_f1_ci95"]) if f1 else "-",
                f"{f1['macro_f1_tuned']:.3f}" if f1 else "-",
            ]
        )
    return rows


def class_rows(r: dict, convention: str = "all") -> list[list]:
    """Per class: its true cells and each method's AP (`convention`)."""
    names = get_scheme(r["scheme"]).classes
    methods = [k.split("/")[0] for k in r["per_class"] if k.endswith(f"/{convention}")]
    methods = [m for m in methods if "/" not in m and m in METHOD_LABELS][:5]
    rows = []
    for k, name in enumerate(names):
        aps = [r["per_class"][f"{m}/{convention}"][k] for m in methods]
        rows.append(
            [k, name, r["n_true"][k]]
            + ["-" if ap is None or not np.isfinite(ap) else f"{ap:.3f}" for ap in aps]
        )
    return rows, methods


def example_figure(path: str, images, masks, scores, names, titles) -> str:
    """Fields side by side, their cells outlined and filled with the colour of each cell's
    strongest class (text: class number and score)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import ndimage as ndi

    from gapnet.explain.figures import composite, outlines

    fig, axes = plt.subplots(1, len(images), figsize=(5 * len(images), 5.2), squeeze=False)
    for ax, img, cells, s, title in zip(axes[0], images, masks, scores, titles, strict=True):
        rgb = composite(img).copy()
        rgb[outlines(cells)] = (1.0, 1.0, 1.0)
        ax.imshow(rgb)
        centres = ndi.center_of_mass(np.ones_like(cells), cells, range(1, int(cells.max()) + 1))
        for c, (y, x) in enumerate(centres):
            k = int(np.argmax(s[c]))
            ax.text(x, y, f"{k}:{s[c, k]:.2f}", color="w", fontsize=6, ha="center")
        ax.set_title(title, fontsize=8)
        ax.set_axis_off()
    fig.suptitle("Per-cell calls, image x cell (class:score of each cell's top class)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def write_report(run: str, r: dict, examples=None) -> str:
    """Writes RUN/report/report.{md,html}; `examples`: (images, masks, scores, titles) for
    the per-cell figure. Returns the markdown path."""
    out = os.path.join(run, "report")
    os.makedirs(out, exist_ok=True)
    synth = " (synthetic atlas: not HPA scores)" if r.get("synthetic") else ""
    d = r.get("draw")
    if d:
        synth += (
            f", atlas draw {d['seed']} ({d['n']} images at {d['size']} px, variability "
            f"{d['variability']:g})"
        )
    sections = [
        (
            "Data",
            "",
            [],
            [
                [
                    f"{r['n_images']} fields, {r['n_cells']} predicted cells "
                    f"({r['n_edge_cells']} cut by the border), scheme {r['scheme']}{synth}; "
                    f"cells from {', '.join(r['mask_sources'])}. Image model out-of-fold "
                    f"macro-F1 {r['image_model_macro_f1']:.3f} (cross-fitted thresholds)."
                    + (f" Thresholds: {r['threshold_rule']}." if "threshold_rule" in r else "")
                ]
            ],
        )
    ]
    if "map" in r:
        sections.append(
            (
                "Methods side by side",
                "mAP@0.6: no threshold (ranking only); 'all': every image scores every class, "
                "'present': only images whose truth holds the class (HPA's re-scoring). "
                "Per-cell macro-F1 over predicted cells matched to a true cell at IoU >= 0.6, "
                "at per-class thresholds cross-fitted by image fold (tuned: optimistic). "
                "basic bootstrap intervals over images (nominal 95 %; in simulated draws they "
                "held the true value in 75-95 % of draws: gapnet's docs/evaluation.md). "
                "Every score is out of fold.",
                ["method", "mAP@0.6 all", "mAP@0.6 present", "cell macro-F1", "tuned"],
                method_rows(r),
            )
        )
        for conv in ("all", "present"):
            lo, hi = r["gain_ci95"][conv]
            sections.append(
                (
                    f"Gain of image x cell over image ({conv})",
                    "",
                    [],
                    [[f"{r['gain'][conv]:+.3f} [{lo:+.3f}, {hi:+.3f}] mAP@0.6"]],
                )
            )
        rows, methods = class_rows(r)
        sections.append(
            ("Per-class AP@0.6 (all images)", "", ["class", "name", "true cells"] + methods, rows)
        )
    figs = []
    if examples is not None:
        names = get_scheme(r["scheme"]).classes
        path = example_figure(os.path.join(out, "examples.png"), *examples[:3], names, examples[3])
        figs.append(("Per-cell examples", path))
    md, page = render("gapnet single-cell report", "gapnet single-cell report", sections, figs)
    from gapnet.io import atomic_write_text

    atomic_write_text(os.path.join(out, "report.md"), md)
    atomic_write_text(os.path.join(out, "report.html"), page)
    return os.path.join(out, "report.md")

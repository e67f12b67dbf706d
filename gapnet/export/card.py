"""The model card of an exported run: a pure function of its config, metrics and thresholds."""

from __future__ import annotations

import os

from gapnet.classes import CHANNELS
from gapnet.schemes import scheme_of_width

DATA_LICENCE = (
    "The Human Protein Atlas images and labels are CC BY-SA 3.0 "
    '(www.proteinatlas.org; Kaggle "Human Protein Atlas Image Classification", 2018).'
)


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def model_card(cfg: dict, metrics: dict, thresholds: list, n_folds: int) -> str:
    """Markdown: what the model is, its data, input, scores, thresholds and limits."""
    # metrics.json's "synthetic" (the data folder's marker, at training time); runs
    # written before it: synthetic only without --data.
    synthetic = metrics.get("synthetic", not cfg.get("data"))
    # the data folder's name, not this machine's path to it: a card is shared
    folder = os.path.basename(str(cfg.get("data") or "").rstrip("/\\"))
    data = (
        (
            f"`{folder}`, a synthetic HPA-like dataset written by gapnet's generator"
            if cfg.get("data")
            else "the synthetic HPA-like atlas embedded in gapnet"
        )
        + " (**synthetic, not HPA**: its scores say nothing about HPA images)"
        if synthetic
        else f"`{folder}` (HPA format)"
    )
    ci = metrics.get("macro_f1_ci95") or [None, None]
    spread = metrics.get("fold_spread", {}).get("macro_f1", {})
    scheme = scheme_of_width(len(thresholds))
    what = {
        "hpa2018": "which of 28 subcellular locations (HPA Kaggle 2018 classes) hold the protein",
        "hpa2021": "which of 18 subcellular locations, or Negative (18), hold the protein "
        "(HPA 2021 Single-Cell Classification classes, predicted per image)",
    }.get(
        scheme.name,
        f"which of the data's own {scheme.n_classes} classes ({', '.join(scheme.classes)}, "
        "declared in its classes.csv) each image shows",
    )
    from gapnet.channels import make_channel_set

    cs = make_channel_set(cfg.get("channels") or CHANNELS, cfg.get("channel_map") or {})
    meaning = {
        "red": "microtubules",
        "green": "protein of interest",
        "blue": "nucleus",
        "yellow": "endoplasmic reticulum",
    }
    order = (
        ", ".join(f"`{c}`" for c in CHANNELS)
        + " (microtubules, protein of interest, nucleus, endoplasmic reticulum)"
        if cs.default
        else ", ".join(
            f"`{r}` ({meaning[r]}" + (f"; files `_{n}`)" if n != r else ")")
            for r, n in zip(cs.roles, cs.names, strict=True)
        )
    )
    per_class = (metrics.get("per_class") or {}).get("f1") or [None] * scheme.n_classes
    rows = [
        f"| {k} | {name} | {_f(per_class[k])} | {thresholds[k]:.3f} |"
        for k, name in enumerate(scheme.classes)
    ]
    size = cfg.get("image_size")
    return "\n".join(
        [
            f"# gapnet model: {cfg.get('model')} ({n_folds}-fold average)",
            "",
            f"A `{cfg.get('model')}` network trained by gapnet with {n_folds}-fold "
            "cross-validation; this model averages the fold models' probabilities. It predicts "
            f"{what}.",
            "",
            "## Training data",
            "",
            f"{data}; {metrics.get('n_samples')} samples scored out of fold.",
            "",
            "## Input",
            "",
            f"- One image (batch, {size}, {size}, {len(cs)}) of 8-bit pixel values: uint8, or "
            "float32 in 0..255 (the model scales them to 0..1 in its first layer, `to_float`), "
            "channels in the order " + order + ".",
            _scale_line(cfg.get("pixel_size"), size),
            f"- Normalization is inside the model (`{cfg.get('normalization')}`).",
            f"- Output: {scheme.n_classes} sigmoid probabilities in class order "
            f"(label scheme `{scheme.name}`).",
            "",
            "## How good it is",
            "",
            f"Out-of-fold macro-F1 at cross-fitted thresholds (each fold's tuned on the other "
            f"folds' predictions): **{_f(metrics.get('macro_f1'))}** ("
            f"{metrics.get('macro_f1_ci95_method', 'percentile bootstrap over samples')} 95 % "
            "interval "
            f"[{_f(ci[0])}, {_f(ci[1])}]; "
            f"folds {_f(spread.get('mean'))} +- {_f(spread.get('std'))}). "
            f"At 0.5: {_f(metrics.get('macro_f1_at_0.5'))}; with thresholds tuned on the scored "
            f"predictions (optimistic): {_f(metrics.get('macro_f1_tuned'))}. Model per fold: "
            f"{metrics.get('selection_label', '?')}.",
            "",
            "## Thresholds",
            "",
            f"`preset.json` holds per-class thresholds tuned ({cfg.get('threshold_strategy')}) on "
            "all out-of-fold predictions of the run; a sample with no class above its threshold "
            "is given its most probable class by `experiments/predict.py`. Per-class F1 below is "
            "at cross-fitted thresholds.",
            "",
            "| class | name | F1 (cross-fitted) | threshold |",
            "|---:|---|---:|---:|",
            *rows,
            "",
            "## Known limits",
            "",
            "- Trained on one image field per sample; it scores whole fields, not single cells.",
            "- Rare classes have few training examples: their F1 has wide uncertainty.",
            "- Images from other microscopes, stains or magnifications than the training data "
            "were not evaluated.",
            "",
            "## Licence of the data",
            "",
            DATA_LICENCE
            if not synthetic
            else "Synthetic images generated by gapnet; the label sets are drawn from the HPA "
            "Kaggle 2018 `train.csv` label column. " + DATA_LICENCE,
            "",
        ]
    )


def _scale_line(pixel_size, size) -> str:
    """The card's line on the scale the model was trained at."""
    if pixel_size:
        return (
            f"- Pixel size: trained at **{pixel_size:g} µm per pixel** (at {size} px). "
            "`experiments/predict.py --images` resamples your image to it first, from its "
            "OME-TIFF / TIFF metadata or `--pixel-size UM`; an image whose pixel size is unknown "
            "is predicted at its own size with a warning naming it (docs/data.md)."
        )
    return (
        f"- Pixel size: not recorded (the run set no `pixel_size`): fields are resized to "
        f"{size} x {size} px as in training (area interpolation when shrinking), whatever "
        "their µm per pixel. The HPA Kaggle fields are confocal images taken with a 63x "
        "objective and stored at 512 px (downsampled from 2048 or 3072 px): feed whole fields "
        "of a similar magnification, resized the same way."
    )

"""Explaining a run's predictions: maps, figures, gallery, per-cell calls, embeddings.

Which model explains an image: a sample the run scored out of fold is explained by the
fold model that never trained on it, at that fold's cross-fitted thresholds (the honest
ones); an image from another folder by every fold model, maps and probabilities averaged,
at the run's thresholds; a user's own unlabelled images (`images`) likewise, by
`gapnet.explain.own_images`. Everything goes to `out/` (default `RUN/explain/`):
`figures/<Id>.png`, `gallery.html`, `cells.csv`, `embeddings.npz`, `embeddings.h5ad`,
`cells.h5ad`, `embedding.png`, `summary.json` (which the run report reads for its "Where
the protein is" section).

A class is called when p > t (strictly, `gapnet.cv.submission.decide`; the scores, calls
and gallery picks are `gapnet.explain.scoring`'s). Every image is
mapped for all classes (28 or 19), so its per-cell scores depend on its predictions alone (the
figure shows the called, true and requested classes). Without masks, cells are segmented
on the image read at its own resolution (512 px for HPA); given masks are used as they
are. Cells are scored at the mask's resolution (each cell pixel reads the map pixel it
falls in, `gapnet.explain.cells.cell_shares`), so a cell smaller than a map pixel keeps
its row in cells.csv, whose x, y and area are in the mask's pixels; the embeddings read the
feature map the same way; only the figures' outlines use the mask shrunk to the maps'
size. The run's own data is
resolved (and, for the synthetic atlas, generated) only when explaining the run's
samples, never with `data`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from gapnet.config import Config
from gapnet.cv.runfolder import RunError, read_predictions
from gapnet.cv.runread import load_run, run_classes, trained_on_synthetic
from gapnet.cv.submission import fold_models, run_thresholds
from gapnet.data.at_scale import check_folder_scale
from gapnet.explain import cells as cellcalls
from gapnet.explain import figures
from gapnet.explain.embed import model_features, write_embeddings
from gapnet.explain.maps import Explainer, class_maps
from gapnet.explain.scoring import called, gallery_picks, probabilities
from gapnet.io import atomic_write_json, atomic_write_text, read_json
from gapnet.progress import track
from gapnet.segment import (
    resize_labels,
    write_segmentation_csv,
)


@dataclass
class ExplainRequest:
    run: str
    out: str | None = None
    data: str | None = None  # another Kaggle-layout folder (default: the run's samples)
    ids: list = field(default_factory=list)  # ["all"]: every sample
    n: int = 3  # per class: highest-scoring true and false positives in the gallery
    classes: list = field(default_factory=list)  # also draw these (every class is mapped)
    masks: str | None = None  # a folder of <Id>_cells.{png,npy,tif}; else gapnet segments
    # own segmentation: px at 512 (scaled to the image's own size); None: estimated per image
    nucleus_diameter: float | None = 50.0
    tta: str = "none"
    embeddings: bool = False
    # "input_gradient" (the default: best on the localization benchmark's draw 8), "auto"
    # (exact CAM or Grad-CAM) or "integrated_gradients" (`class_maps`)
    method: str = "input_gradient"
    # µm per pixel of `data`'s images as stored (--pixel-size): checked against the run's
    # Config.pixel_size (`gapnet.data.at_scale.check_folder_scale`); None: unknown
    pixel_size: float | None = None
    # a user's own images (explain.py --images: `gapnet.explain.own_images`), read as
    # predict.py --images reads them: file channel names in file order for TIFFs without
    # OME names, and a channel map {file name: role} (--channel-map)
    images: str | None = None
    channels: list | None = None
    channel_map: dict | None = None
    # own segmentation's nucleus method (`gapnet.segment.SegmentParams.method`)
    segment_method: str = "learned"


def explain(req: ExplainRequest, log=print) -> dict:
    from gapnet.data.cache import open_reader
    from gapnet.data.source import open_source
    from gapnet.data.synthetic.marker import is_synthetic
    from gapnet.training.predict import load_model

    if not os.path.isfile(os.path.join(req.run, "config.json")):
        raise RunError(f"{req.run} is not a run folder (no config.json)")
    run_cfg = Config.from_file(os.path.join(req.run, "config.json"))
    trained = trained_on_synthetic(req.run)  # the model's data, not the explained images'
    size = run_cfg.image_size
    synthetic = False
    out = req.out or os.path.join(req.run, "explain")
    os.makedirs(os.path.join(out, "figures"), exist_ok=True)
    cs = run_cfg.channel_set
    if req.images:
        from gapnet.data.microscope import input_channels

        cs = input_channels(cs, req.channel_map)  # before the models load: a bad map told
    run_classes(req.run)  # a run on its data's own classes: tables and figures name them
    explainers = [
        Explainer(load_model(p, compile=False), cs.index("green")) for p in fold_models(req.run)
    ]
    thr_all = read_json(os.path.join(req.run, "thresholds.json"))
    n_classes = len(thr_all["thresholds"])
    bad = [k for k in req.classes if not 0 <= int(k) < n_classes]
    if bad:
        raise RunError(f"--classes {bad}: {req.run} predicts classes 0..{n_classes - 1}")
    if req.images:
        from gapnet.explain.own_images import explain_images

        thr = np.asarray(thr_all["thresholds"], np.float32)
        return explain_images(req, explainers, thr, run_cfg.pixel_size, cs, out, trained, log)
    if req.data is None:  # out of fold: each sample by the model that never saw it
        table = load_run(req.run, log)  # resolves (or generates) the run's data
        synthetic = table.synthetic
        src = open_source(_run_root(req.run, log), scheme=run_cfg.scheme, channels=cs)
        oof_ids, oof = read_predictions(os.path.join(req.run, "oof_predictions.csv"))
        row = {i: n for n, i in enumerate(oof_ids)}
        ids, y = list(table.ids), table.targets
        probs = oof[[row[i] for i in ids]]
        fold_of = dict(zip(ids, table.folds.tolist(), strict=True))
        cross = thr_all.get("crossfit") or {}
        thr = np.stack([np.asarray(cross.get(str(fold_of[i]), thr_all["thresholds"])) for i in ids])
        rule = "each sample's fold model; cross-fitted thresholds"
    else:
        src = open_source(req.data, scheme=run_cfg.scheme, channels=cs)
        synthetic = is_synthetic(req.data)
        ids, y = list(src.labels.ids), src.labels.targets
        if y.shape[1] != len(thr_all["thresholds"]):
            raise RunError(
                f"{req.data} is labelled in {y.shape[1]} classes ({src.labels.scheme}), "
                f"{req.run} predicts {len(thr_all['thresholds'])}"
            )
        check_folder_scale(src, ids, size, run_cfg.pixel_size, req.pixel_size, log)
        reader = open_reader(src, ids, size, "auto", log)
        # only the samples named by --ids need scores (not all n of ROOT): the gallery's
        # picks and the embeddings' map need every sample's
        need = None
        if req.ids and list(req.ids) != ["all"] and not req.embeddings:
            index = {i: n for n, i in enumerate(ids)}
            need = sorted({index[i] for i in req.ids if i in index})
        probs = probabilities(explainers, reader, len(ids), need)
        fold_of = {i: None for i in ids}
        thr = np.repeat(run_thresholds(req.run)[None], len(ids), 0)
        rule = "all fold models averaged; the run's thresholds"
    reader = open_reader(src, ids, size, "auto", log=lambda *a: None)
    index = {i: n for n, i in enumerate(ids)}
    wanted = list(ids) if list(req.ids) == ["all"] else list(req.ids)
    unknown = [i for i in wanted if i not in index]
    if unknown:
        raise ValueError(f"--ids not among the samples: {unknown[:5]}")
    # the gallery picks by score and truth: cells.csv then holds a chosen, not a random,
    # set of samples; `ids=["all"]` (or a list chosen without truth) for cell-level scores
    picks = gallery_picks(ids, y, probs, thr, req.n) if not wanted else []
    chosen = list(dict.fromkeys(wanted + [p[2] for p in picks]))
    rows, cell_feats, seg_sizes, seg_rows = [], [], set(), []
    kind = explainers[0].kind if req.method == "auto" else req.method
    log(f"explaining {len(chosen)} samples ({rule}; maps: {kind}, TTA {req.tta})")
    bar = track(len(chosen), "explaining")  # a bar on a terminal, else <= 20 lines
    for sid in chosen:
        n = index[sid]
        image = reader(n)
        fold = fold_of[sid]
        models_ = explainers if fold is None else [explainers[fold]]
        p = probs[n]
        shown = sorted(
            set(np.flatnonzero(called(p[None], thr[n][None])[0]).tolist())
            | set(req.classes)
            | set(np.flatnonzero(y[n]).tolist())
        )
        every = list(range(probs.shape[1]))  # all classes: cell scores never depend on the truth
        all_maps = np.mean(
            [class_maps(e, image[None], every, req.tta, req.method)[0] for e in models_], 0
        )
        classes, maps = shown, all_maps[shown]
        cells, seg, seg_row = cellcalls.sample_cells(
            req.masks, sid, src, req.nucleus_diameter, req.segment_method
        )
        seg_sizes.add(seg)
        if seg_row:
            seg_rows.append(seg_row)
        small = resize_labels(cells, image.shape[:2])  # the figure's outlines
        truth = set(np.flatnonzero(y[n]).tolist())
        figures.sample_figure(
            os.path.join(out, "figures", f"{sid}.png"),
            image,
            maps,
            classes,
            p,
            f"{sid}\ntrue: {sorted(truth)}",
            small,
            truth,
            cs.roles,
        )
        scores, labels = cellcalls.cell_calls(p, thr[n], all_maps, every, cells)
        rows += cellcalls.cell_rows(sid, scores, labels, cells)
        if req.embeddings:
            # every fold model's, side by side, for every cell (one feature space)
            f = model_features(explainers, lambda e, im=image, c=cells: e.cell_features(im, c))
            present = set(np.unique(cells).tolist())
            cell_feats += [(sid, c + 1, f[c], labels[c]) for c in range(len(f)) if c + 1 in present]
        bar.update()
    bar.close()
    method = {
        "maps": kind,
        "layers": explainers[0].tap_names if req.method == "auto" else ["the protein channel"],
        "rule_calls": "p > t",
        "tta": req.tta,
        "rule": rule,
        "cells": "masks from " + req.masks
        if req.masks
        else f"gapnet segmentation ({req.segment_method} nuclei) at the images' own size "
        f"({', '.join(f'{s} px' for s in sorted(seg_sizes)) or 'none'}; nucleus diameter "
        + (f"{req.nucleus_diameter:g} px at 512" if req.nucleus_diameter else "estimated per image")
        + "; per sample in segmentation.csv), cells scored at that size",
        "cell_share": cellcalls.CELL_SHARE,
    }
    atomic_write_text(
        os.path.join(out, "cells.csv"),
        "\n".join([cellcalls.cells_header(probs.shape[1])] + rows) + "\n",
    )
    seg_csv = os.path.join(out, "segmentation.csv")
    if seg_rows:  # the columns of data_prep/segment.py's
        write_segmentation_csv(seg_csv, seg_rows)
    elif os.path.isfile(seg_csv):  # an earlier explain's, of cells not used now
        os.remove(seg_csv)
    entries = [
        {
            "class": k,
            "kind": kind,
            "id": sid,
            "p": float(probs[index[sid], k]),
            "figure": f"figures/{sid}.png",
        }
        for k, kind, sid in picks
    ]
    figures.gallery_page(
        os.path.join(out, "gallery.html"),
        entries,
        f"Localization maps of {os.path.basename(os.path.abspath(req.run))}",
        f"{method['maps']} on {', '.join(method['layers'])}; {rule}; "
        f"cells: {method['cells']}."
        + (" Synthetic data." if synthetic else "")
        + (" Model trained on SYNTHETIC data: not meaningful for HPA images." if trained else ""),
        probs.shape[1],
    )
    summary = {
        "samples": chosen,
        "method": method,
        "synthetic": synthetic,
        "trained_on_synthetic": trained,
        "figures": [f"figures/{sid}.png" for sid in chosen[:4]],
    }
    if req.embeddings:
        summary["embeddings"] = write_embeddings(
            out,
            explainers,
            reader,
            ids,
            y,
            probs,
            thr,
            fold_of,
            cell_feats,
            req.run,
            f"{'synthetic' if synthetic else 'real'} images: {req.data or 'the run data'}",
        )
    atomic_write_json(os.path.join(out, "summary.json"), summary)
    return summary


def _run_root(run: str, log) -> str:
    from gapnet.cv.runread import run_data

    return run_data(run, log)[0]

"""The 2021 submission from fields and (optionally) their cell masks: every cell scored
with a single-cell run's image and cell models, written as the Kaggle CSV
(`gapnet.single_cell.submission`).

The run is a `run_single_cell` folder: each field's image probabilities average the
image run's fold models (at the run's image size), each cell's the cell run's fold
models (masked crops from the field at its own size), and the score is image x cell with
the run's edge and Negative policies. A plain K-fold run folder also works: every cell
then gets its image's probabilities (method "image"), a 28-class run's mapped to the 19
2021 classes (`gapnet.schemes.probabilities_to_hpa2021`).

Each field's PredictionString is kept in `<out>.parts/<ID>.txt` as it is finished, so a
killed prediction resumes; the CSV is written when every field is done. A part holds the
print of the bytes its field's image files and mask were read from
(`cell_cache.content_print`): a field whose image or mask changed since is predicted
again, never taken from its stale part.
"""

from __future__ import annotations

import glob
import os

import numpy as np

from gapnet.schemes import SCHEMES

NEGATIVE = SCHEMES["hpa2021"].negative


def field_ids(image_dir: str, ext: str = "png") -> list[str]:
    """The IDs of the `<ID>_green.<ext>` files of a folder, sorted.

    Raises:
        DataError: none found, naming the folder."""
    from gapnet.data.labels import DataError

    ids = sorted(
        os.path.basename(p)[: -len(f"_green.{ext}")]
        for p in glob.glob(os.path.join(glob.escape(image_dir), f"*_green.{ext}"))
    )
    if not ids:
        raise DataError(f"{image_dir}: no <ID>_green.{ext} files")
    return ids


class FieldScorer:
    """Scores the cells of one field with a run's models (see the module doc)."""

    def __init__(self, run: str):
        from gapnet.config import Config
        from gapnet.cv.runfolder import RunError
        from gapnet.cv.submission import fold_models
        from gapnet.training.predict import load_model

        self.sc = None
        if os.path.isfile(os.path.join(run, "single_cell.json")):
            from gapnet.io import read_json
            from gapnet.single_cell.settings import SingleCellConfig

            try:
                self.sc = SingleCellConfig.from_dict(
                    read_json(os.path.join(run, "single_cell.json"))
                )
            except TypeError as e:
                raise RunError(
                    f"{run}/single_cell.json: not this gapnet's settings ({e})"
                ) from None
            if self.sc.scheme != "hpa2021":
                raise RunError(
                    f"{run} is a {self.sc.scheme} single-cell run; the 2021 submission needs "
                    "one trained in the 2021 scheme (run_single_cell.py --scheme hpa2021)"
                )
            if not os.path.isfile(os.path.join(run, "results.json")):
                raise RunError(f"{run}: the single-cell job has not finished (no results.json)")
            image_run = os.path.join(run, "image_run")
            cells = sorted(glob.glob(os.path.join(run, "cell_model", "fold_*.keras")))
            self.cell_models = [load_model(p, compile=False) for p in cells]
        elif os.path.isfile(os.path.join(run, "config.json")):
            image_run = run
            self.cell_models = []
        else:
            raise RunError(f"{run} is neither a single-cell nor a K-fold run folder")
        self.image_size = Config.from_file(os.path.join(image_run, "config.json")).image_size
        self.image_models = [load_model(p, compile=False) for p in fold_models(image_run)]
        if self.sc is not None and len(self.cell_models) != len(self.image_models):
            raise RunError(
                f"{run}: {len(self.cell_models)} cell-model folds for "
                f"{len(self.image_models)} image folds (has the job finished?)"
            )

    def image_probs(self, field: np.ndarray) -> np.ndarray:
        """(19,) the field's 2021 probabilities, the fold models averaged."""
        import cv2

        from gapnet.schemes import probabilities_to_hpa2021
        from gapnet.single_cell.cell_model import predict_cells

        x = field
        if field.shape[0] != self.image_size:
            interp = cv2.INTER_AREA if field.shape[0] > self.image_size else cv2.INTER_LINEAR
            x = cv2.resize(field, (self.image_size, self.image_size), interpolation=interp)
        p = np.mean([predict_cells(m, x[None])[0] for m in self.image_models], 0)
        return probabilities_to_hpa2021(p[None])[0] if len(p) == 28 else p

    def score(self, field: np.ndarray, cells: np.ndarray) -> np.ndarray:
        """(n_cells, 19) scores of the cells 1..n of `cells` in `field` (H, W, 4) uint8."""
        from gapnet.segment import edge_labels
        from gapnet.single_cell.crops import cell_crops
        from gapnet.single_cell.scores import method_scores

        p = self.image_probs(field)
        n = int(cells.max())
        image_p = np.repeat(p[None], n, 0)
        if not self.cell_models:
            return image_p
        from gapnet.single_cell.cell_model import predict_cells

        crops, labels = cell_crops(field, cells, self.sc.cell.crop_size)
        cell_p = np.mean([predict_cells(m, crops) for m in self.cell_models], 0)
        edge = np.isin(labels, edge_labels(cells))
        s = method_scores(
            image_p,
            cell_p,
            edge=edge,
            edge_weight=self.sc.edge_weight,
            negative=(NEGATIVE, self.sc.negative),
        )
        return s["image_x_cell"]


def _check_parts(parts: str, run: str, masks, diameter: float, image_dir: str) -> None:
    """Creates `parts` with its manifest, or checks that the parts there were made by the
    same run, masks and diameter.

    Raises:
        RunError: they were not, naming the folder and the difference."""
    import json

    from gapnet.cv.runfolder import RunError
    from gapnet.io import atomic_write_text

    done = [p for p in ("results.json", "metrics.json") if os.path.isfile(os.path.join(run, p))]
    want = {
        "run": os.path.abspath(run),
        # the run's finish time: a run redone in place (--force) is another run
        "run_finished": os.path.getmtime(os.path.join(run, done[0])) if done else None,
        "images": os.path.abspath(image_dir),
        "masks": os.path.abspath(masks) if masks else None,
        "nucleus_diameter": diameter,
    }
    path = os.path.join(parts, "manifest.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            have = json.load(f)
        if have != want:
            raise RunError(
                f"{parts} holds fields predicted with {have}, not {want}: delete it or "
                "choose another --out"
            )
        return
    if os.path.isdir(parts) and any(f.endswith(".txt") for f in os.listdir(parts)):
        raise RunError(f"{parts} holds parts of unknown origin (no manifest): delete it")
    os.makedirs(parts, exist_ok=True)
    atomic_write_text(path, json.dumps(want, indent=1))


def _kept_part(part: str, files, settings: str):
    """(width, height, text) of a part made from the same bytes of `files`, else None."""
    import json

    from gapnet.single_cell.cell_cache import content_print, file_key

    if not os.path.isfile(part):
        return None
    with open(part, encoding="utf-8") as f:
        head, _, body = f.read().partition("\n")
    try:
        made = json.loads(head)
    except json.JSONDecodeError:
        return None  # a part of an older gapnet, without its print: redone
    if made.get("keys") != [file_key(p) for p in files]:
        if made.get("print") != content_print(files, settings):
            return None
    w, h, text = body.rstrip("\n").split(",", 2)
    return int(w), int(h), text


def _write_csv(out: str, parts: str, ids) -> None:
    """The submission CSV from the parts, one field at a time, written atomically (a
    2048-px field's string runs to megabytes: the rows are never all in memory)."""
    from gapnet.io import atomic_open
    from gapnet.single_cell.submission import HEADER

    with atomic_open(out) as f:
        f.write(HEADER + "\n")
        for sid in ids:
            with open(os.path.join(parts, f"{sid}.txt"), encoding="utf-8") as p:
                p.readline()  # the print
                f.write(f"{sid},{p.readline().rstrip(chr(10))}\n")


def _field_and_cells(image_dir: str, sid: str, ext, masks, diameter):
    """(field at its own size, its cells, each cell's mask encoded) of one field: read,
    segmented (or its mask read) and its masks encoded in a worker process while the
    parent scores the fields before it."""
    from gapnet.data.images import read_sample
    from gapnet.single_cell.cell_set import field_cells, native_size
    from gapnet.single_cell.submission import cell_masks_encoded

    size = native_size(image_dir, sid, ext)
    field = read_sample(image_dir, sid, size, ext)
    cells = field_cells(field, masks, sid, diameter)[0]
    return field, cells, cell_masks_encoded(cells)


def predict_submission(
    run: str,
    image_dir: str,
    ids,
    out: str,
    masks: str | None = None,
    ext="png",
    log=print,
    workers: int = 1,
) -> list[tuple]:
    """Writes the submission CSV `out` for fields `ids` of `image_dir` and returns per
    field (ID, width, height, number of label-confidence-mask triples). Cells: `masks` (a
    folder) or gapnet's own segmentation (the run's nucleus diameter; by default estimated
    from each field). Fields are scored and kept one at a time, in order; with `workers`
    > 1 they are read and segmented in that many spawned processes, at most 2 x workers
    fields ahead of the scoring (`gapnet.workers.in_order`), their cells' masks encoded
    there too (the slow part at 2048 px): the same CSV, sooner."""
    import json

    from gapnet.io import atomic_write_text
    from gapnet.single_cell.cell_cache import content_print, field_files, file_key
    from gapnet.single_cell.submission import prediction_string
    from gapnet.workers import in_order

    scorer = FieldScorer(run)
    diameter = scorer.sc.nucleus_diameter if scorer.sc else None
    parts = out + ".parts"
    _check_parts(parts, run, masks, diameter, image_dir)
    settings = json.dumps({"nucleus_diameter_at_512": None if masks else diameter})
    done, todo = {}, []
    for sid in ids:
        files = field_files(image_dir, masks, sid, ext)
        kept = _kept_part(os.path.join(parts, f"{sid}.txt"), files, settings)
        if kept is not None:
            done[sid] = (sid, kept[0], kept[1], len(kept[2].split()) // 3)
        else:
            made = {"keys": [file_key(p) for p in files], "print": content_print(files, settings)}
            todo.append((sid, made))
    if done:
        log(f"{len(done)} fields kept from an earlier call (same image and mask bytes)")
    jobs = ((image_dir, sid, ext, masks, diameter) for sid, _ in todo)
    workers = max(1, min(workers, len(todo)))
    for n, ((sid, made), (field, cells, encoded)) in enumerate(
        zip(todo, in_order(_field_and_cells, jobs, workers), strict=True)
    ):
        size = field.shape[0]
        scores = scorer.score(field, cells) if cells.max() else None
        text = prediction_string(cells, scores, encoded=encoded) if cells.max() else ""
        part = os.path.join(parts, f"{sid}.txt")
        atomic_write_text(part, f"{json.dumps(made)}\n{size},{size},{text}\n")
        done[sid] = (sid, size, size, len(text.split()) // 3)
        log(f"{n + 1}/{len(todo)} {sid}: {int(cells.max())} cells")
    rows = [done[sid] for sid in ids]
    _write_csv(out, parts, ids)
    return rows

"""How the 2021 single-cell job's stages grow with the number of fields, up to the 2021
training set (21,806 fields): wall seconds, peak RSS, disk and slope per stage.

    python benchmarks/single_cell_scale.py --work DIR [--sizes 100 1000 4000 21806]
        [--size 256] [--unique 60] [--crop 64] [--cell-model gapnet_pl]
        [--field-sizes 1728 2048 3072] [--workers W] [--kill-after 30] [--json]

DIR (outside the repository) receives an atlas of --unique fields in the 2021 scheme at
--size px (generated once, reused), and for each n a 2021-layout folder of n fields: the
atlas's files hard-linked under new Ids (pixels repeat every --unique fields; links cost
no disk, so the disk column is what the job writes). The fields are at --size px, not
2048, where the disk and the 2 cores of a test machine forbid 21,806 2048-px fields;
--field-sizes measures one field's cost at 1728, 2048 and 3072 px apart (the atlas's
first --field-count fields enlarged, segmented and cropped one at a time in one process;
at 2048 px the same fields again in --workers processes, whose rate the full set is
projected from). Each stage runs in its own process (`python THIS stage ...`), page
cache dropped first where the OS allows it, and gets benchmarks/scale.py's columns (wall
seconds, peak RSS of the largest process: the parent or one worker, not their sum; MB
written, log size):

  segment      the job's cells stage with gapnet's segmentation (nucleus size estimated
               per field) in --workers processes (default: the cores available): each
               field segmented, its mask written, its crops cached
  crop_cache   the same stage from the masks the first wrote (given masks: read, crop),
               in --workers processes
  cell_epoch   one epoch of the cell model over every cell, read from the crop cache
               through tf.data (`cell_model.train_cell_model`)
  scoring      every cell scored from the cache in batches, then the job's per-field
               pass (`field_pass.score_fields`: method scores, cells.csv)
  submission   `predict.predict_submission` with the masks and a run folder whose image
               and cell models are the epoch's model: per field its image read, its cells
               cropped and scored, its PredictionString kept as a part; the CSV from the
               parts

At the largest n, segment is SIGKILLed once --kill-after seconds have passed and its index
holds a finished field, and started again (its seconds are the two runs together; the
second run's log line says how many fields it segmented). `slopes`: the least-squares
slope of log(seconds) on log(n) per stage, process start-up included; `call_slopes`, of
the seconds inside the stage's library call (start-up, about 15 s of imports, excluded).
The table goes to stderr; --json prints one object.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks.common import PY, disk_bytes, last_json, run, slopes  # noqa: E402
from gapnet.jsonout import dumps, emit, json_main  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
STAGES = ("segment", "crop_cache", "cell_epoch", "scoring", "submission")
FULL_SET = 21806


def _ids(root: str) -> list:
    with open(os.path.join(root, "train.csv")) as f:
        return [line.split(",")[0] for line in f.readlines()[1:]]


def make_folder(base: str, root: str, n: int) -> None:
    """The n-field 2021-layout folder from the atlas at `base` (hard links)."""
    from gapnet.classes import CHANNELS
    from gapnet.data.source import open_source

    src = open_source(base, scheme="hpa2021")
    ids, targets = src.labels.ids, src.labels.targets
    os.makedirs(os.path.join(root, "train"), exist_ok=True)
    rows = []
    for k in range(n):
        new, old = f"s{k:06d}", ids[k % len(ids)]
        for c in CHANNELS:
            dst = os.path.join(root, "train", f"{new}_{c}.png")
            if not os.path.exists(dst):
                os.link(os.path.join(src.image_dir, f"{old}_{c}.png"), dst)
        labels = "|".join(map(str, np.flatnonzero(targets[k % len(ids)])))
        rows.append(f"{new},{labels}")
    with open(os.path.join(root, "train.csv"), "w") as f:
        f.write("ID,Label\n" + "\n".join(rows) + "\n")


# ---- the stages, each in its own process -------------------------------------------


def _cells(a, log=lambda *x: 0, workers: int | None = 1):
    """The cells of the folder's fields (`cell_build.cell_set`: built, or read back)."""
    from gapnet.single_cell.cell_build import cell_set

    ids = _ids(a.root)
    train = os.path.join(a.root, "train")
    return ids, cell_set(train, ids, a.out, a.crop, a.masks, log=log, workers=workers)


def stage_cells(a) -> dict:
    logs, t0 = [], time.perf_counter()
    _, cs = _cells(a, log=logs.append, workers=a.workers)
    return {"seconds_in_call": time.perf_counter() - t0, "cells": cs.n_cells, "log": logs[-1]}


def stage_epoch(a) -> dict:
    from gapnet.data.source import open_source
    from gapnet.single_cell.cell_model import CellModelConfig, train_cell_model

    ids, cs = _cells(a)
    targets = open_source(a.root, scheme="hpa2021").labels.targets.astype(np.float32)
    cfg = CellModelConfig(model=a.cell_model, crop_size=a.crop, epochs=1)
    t0 = time.perf_counter()
    model = train_cell_model(cs, lambda c: targets[cs.cell_fields(c)], cfg)
    seconds = time.perf_counter() - t0
    model.save(a.model)
    return {"seconds_in_call": seconds, "cells_per_s": cs.n_cells / seconds}


def stage_scoring(a) -> dict:
    from gapnet.single_cell.cell_model import predict_cells
    from gapnet.single_cell.field_pass import score_fields
    from gapnet.training.predict import load_model

    ids, cs = _cells(a)
    model = load_model(a.model, compile=False)
    t0 = time.perf_counter()
    cell_p = predict_cells(model, cs)
    image_p = np.random.default_rng(0).random((len(ids), cell_p.shape[1]))
    folds = np.arange(len(ids)) % 3
    policy = {"edge_weight": 1.0, "negative": (18, "model")}
    score_fields(cs, image_p, cell_p, None, policy, {}, None, folds, a.csv)
    return {"seconds_in_call": time.perf_counter() - t0}


def fake_run(run: str, model_path: str, crop: int) -> None:
    """A finished single-cell run folder whose image and cell models are `model_path`
    (a crop-sized 19-class model: the image is scored at the crop's size)."""
    import hashlib
    import shutil

    from gapnet.config import Config
    from gapnet.single_cell.cell_model import CellModelConfig
    from gapnet.single_cell.settings import SingleCellConfig

    os.makedirs(os.path.join(run, "image_run", "fold_0"), exist_ok=True)
    os.makedirs(os.path.join(run, "cell_model"), exist_ok=True)
    sc = SingleCellConfig(cell=CellModelConfig(crop_size=crop))
    with open(os.path.join(run, "single_cell.json"), "w") as f:
        json.dump(sc.to_dict(), f)
    with open(os.path.join(run, "results.json"), "w") as f:
        f.write("{}")
    with open(os.path.join(run, "image_run", "config.json"), "w") as f:
        json.dump(Config(image_size=crop, scheme="hpa2021").to_dict(), f)
    dst = os.path.join(run, "image_run", "fold_0", "model.keras")
    shutil.copyfile(model_path, dst)
    shutil.copyfile(model_path, os.path.join(run, "cell_model", "fold_0.keras"))
    with open(dst, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(run, "image_run", "fold_0", "done.json"), "w") as f:
        json.dump({"sha256": {"model.keras": digest}}, f)


def stage_submission(a) -> dict:
    from gapnet.single_cell.predict import predict_submission

    ids = _ids(a.root)
    fake_run(a.run, a.model, a.crop)
    t0 = time.perf_counter()
    rows = predict_submission(
        a.run, os.path.join(a.root, "train"), ids, a.csv, a.masks, log=lambda *x: 0
    )
    return {"seconds_in_call": time.perf_counter() - t0, "triples": sum(r[3] for r in rows)}


def stage_field_cost(a) -> dict:
    """One field's segment + crop seconds and bytes at each of --field-sizes px."""
    import cv2

    from gapnet.data.images import read_sample
    from gapnet.single_cell.cell_build import cell_set
    from gapnet.single_cell.cell_set import native_size

    src_dir = os.path.join(a.root, "train")
    ids = _ids(a.root)[: a.fields]
    out = {}
    for px in a.field_sizes:
        d = os.path.join(a.out, f"px{px}")
        fields = os.path.join(d, "fields")
        os.makedirs(fields, exist_ok=True)
        for sid in ids:
            img = read_sample(src_dir, sid, native_size(src_dir, sid))
            big = cv2.resize(img, (px, px), interpolation=cv2.INTER_LINEAR)
            for k, c in enumerate(("red", "green", "blue", "yellow")):
                cv2.imwrite(os.path.join(fields, f"{sid}_{c}.png"), big[..., k])
        t0, c0 = time.perf_counter(), time.process_time()
        cs = cell_set(fields, ids, os.path.join(d, "cells"), a.crop, log=lambda *x: 0)
        sec = (time.perf_counter() - t0) / len(ids)
        cpu = (time.process_time() - c0) / len(ids)
        written = sum(
            os.path.getsize(os.path.join(r, f))
            for r, _, fs in os.walk(os.path.join(d, "cells"))
            for f in fs
        )
        out[px] = {
            "seconds_per_field": round(sec, 2),
            "cpu_seconds_per_field": round(cpu, 2),
            "cells_per_field": cs.n_cells / len(ids),
            "mb_per_field": round(written / len(ids) / 1e6, 3),
            "projected_hours_21806_one_worker": round(sec * FULL_SET / 3600, 1),
            "projected_cpu_hours_21806": round(cpu * FULL_SET / 3600, 1),
        }
        if px == 2048 and (a.workers or 0) > 1:  # the same fields in --workers processes
            t0, c0 = time.perf_counter(), time.process_time()
            kids = _children_cpu()
            cell_set(
                fields,
                ids,
                os.path.join(d, "cells_par"),
                a.crop,
                log=lambda *x: 0,
                workers=a.workers,
            )
            par = (time.perf_counter() - t0) / len(ids)
            par_cpu = (time.process_time() - c0 + _children_cpu() - kids) / len(ids)
            out[px].update(
                workers=a.workers,
                seconds_per_field_parallel=round(par, 2),
                cpu_seconds_per_field_parallel=round(par_cpu, 2),
                speedup=round(sec / par, 2),
                projected_hours_21806=round(par * FULL_SET / 3600, 1),
            )
    return out


def _children_cpu() -> float:
    """CPU seconds of this process's finished (waited-for) children: the workers."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# ---- the driver ----------------------------------------------------------------------


@json_main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True)
    p.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 4000])
    p.add_argument("--size", type=int, default=256, help="atlas px (default 256)")
    p.add_argument("--unique", type=int, default=60)
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--cell-model", default="gapnet_pl")
    p.add_argument("--field-sizes", type=int, nargs="*", default=[1728, 2048, 3072])
    p.add_argument("--field-count", type=int, default=3, help="fields per --field-sizes px")
    p.add_argument("--kill-after", type=float, default=30.0)
    p.add_argument("--workers", type=int, help="cells stage processes (default: the cores)")
    p.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    from gapnet.data.synthetic.generate import write_dataset
    from gapnet.single_cell.cell_build import available_cores

    workers = a.workers or available_cores()

    work = os.path.abspath(a.work)
    base = os.path.join(work, f"atlas-{a.unique}-{a.size}")
    t0 = time.perf_counter()
    if not os.path.isfile(os.path.join(base, "train.csv")):
        write_dataset(base, a.unique, a.size, seed=0, progress=False, scheme="hpa2021")
    rows = [{"stage": "atlas", "n": a.unique, "seconds": round(time.perf_counter() - t0, 1)}]
    me = [PY, os.path.abspath(__file__), "stage"]
    for n in sorted(a.sizes):
        root = os.path.join(work, f"n{n}")
        make_folder(base, root, n)
        cells, given = os.path.join(root, "run", "cells"), os.path.join(root, "given")
        model, logs = os.path.join(root, "model.keras"), os.path.join(root, "logs")
        os.makedirs(logs, exist_ok=True)
        common = ["--root", root, "--crop", str(a.crop), "--workers", str(workers)]
        plan = {
            "segment": (["cells", "--out", cells], [cells]),
            "crop_cache": (
                ["cells", "--out", os.path.join(root, "run2"), "--masks", given],
                [os.path.join(root, "run2")],
            ),
            "cell_epoch": (
                ["epoch", "--out", cells, "--model", model, "--cell-model", a.cell_model],
                [model],
            ),
            "scoring": (
                ["scoring", "--out", cells, "--model", model, "--csv", f"{root}/cells.csv"],
                [f"{root}/cells.csv"],
            ),
            "submission": (
                ["submission", "--masks", given, "--model", model, "--run", f"{root}/fake"]
                + ["--csv", f"{root}/sub.csv"],
                [f"{root}/sub.csv", f"{root}/sub.csv.parts"],
            ),
        }
        for name in a.stages:
            args, outputs = plan[name]
            if name in ("crop_cache", "submission"):
                _given_masks(cells, given)
            kill = None
            if name == "segment" and n == max(a.sizes):
                kill = _after_first_flush(cells, a.kill_after)
            log = os.path.join(logs, f"{name}.log")
            r = run(me + args + common, log, outputs, kill_after=kill)
            r.update(last_json(log))
            rows.append({"stage": name, "n": n, **r})
            print(_row(rows[-1]), file=sys.stderr, flush=True)
        rows.append({"stage": "folder_disk", "n": n, "disk_mb": disk_bytes([root]) / 1e6})
    scaled = [r for r in rows if r["stage"] in STAGES]
    inside = [{**r, "seconds": r.get("seconds_in_call", 0)} for r in scaled]
    result = {"stages": rows, "slopes": slopes(scaled), "call_slopes": slopes(inside)}
    result["workers"] = workers
    if a.field_sizes:
        log = os.path.join(work, "field_cost.log")
        args = ["field-cost", "--root", os.path.join(work, f"n{min(a.sizes)}")]
        args += ["--out", os.path.join(work, "field_cost"), "--crop", str(a.crop)]
        args += ["--fields", str(a.field_count), "--field-sizes", *map(str, a.field_sizes)]
        args += ["--workers", str(workers)]
        r = run(me + args, log, [os.path.join(work, "field_cost")])
        result["field_cost"] = {**last_json(log), "peak_rss_mb": r["peak_rss_mb"]}
    print("slopes (log seconds / log n): " + json.dumps(result["slopes"]), file=sys.stderr)
    print("inside the call: " + json.dumps(result["call_slopes"]), file=sys.stderr)
    if a.json:
        emit(result)
    return 0


def _after_first_flush(cells: str, seconds: float):
    """When to kill: once the index holds a finished field and `seconds` have passed."""
    t0 = time.perf_counter()
    index = os.path.join(cells, "index.jsonl")

    def due() -> bool:
        return (
            time.perf_counter() - t0 > seconds
            and os.path.isfile(index)
            and (os.path.getsize(index) > 0)
        )

    return due


def _given_masks(cells: str, given: str) -> None:
    """The cells stage's masks as a given-masks folder (`<Id>_cells.png` links)."""
    os.makedirs(given, exist_ok=True)
    for f in os.listdir(os.path.join(cells, "masks")):
        dst = os.path.join(given, f[: -len(".png")] + "_cells.png")
        if not os.path.exists(dst):
            os.link(os.path.join(cells, "masks", f), dst)


def _row(r: dict) -> str:
    return (
        f"{r['stage']:<11} n={r['n']:>6}  {r['seconds']:>9.1f} s  RSS {r['peak_rss_mb']:>7.0f} MB"
        f"  disk {r['disk_mb']:>8.1f} MB  status {r['status']}"
    )


def stage_main(argv) -> int:
    from gapnet.quiet import quiet_tensorflow

    quiet_tensorflow()
    p = argparse.ArgumentParser()
    p.add_argument("which", choices=("cells", "epoch", "scoring", "submission", "field-cost"))
    for k in ("--root", "--out", "--masks", "--model", "--csv", "--run"):
        p.add_argument(k)
    p.add_argument("--cell-model", default="gapnet_pl")
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--fields", type=int, default=3)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--field-sizes", type=int, nargs="*", default=[])
    a = p.parse_args(argv)
    fn = {
        "cells": stage_cells,
        "epoch": stage_epoch,
        "scoring": stage_scoring,
        "submission": stage_submission,
        "field-cost": stage_field_cost,
    }[a.which]
    print(dumps(fn(a), indent=None), flush=True)  # one line: the driver reads it (last_json)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "stage":
        sys.exit(stage_main(sys.argv[2:]))
    sys.exit(main())

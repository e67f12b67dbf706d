"""The stages benchmarks/scale.py runs, in order: the shared atlas and trained run, the
stages of each n, the segmentation and HPAv18 stages. See benchmarks/scale.py."""

import glob
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run alone

from benchmarks.common import PY, disk_bytes, last_json, run  # noqa: E402
from benchmarks.scale_folders import make_folder, sub_root  # noqa: E402

STAGES = os.path.join("benchmarks", "scale_stages.py")


def _stage(stages, name, n, result, note="", **extra) -> dict:
    row = {"stage": name, "n": n, **result, "note": note, **extra}
    stages.append(row)
    print(
        f"[{time.strftime('%H:%M:%S')}] {name} n={n:,}: {row['seconds']:.1f} s, "
        f"{row['peak_rss_mb']:.0f} MB RSS, {row['disk_mb']:.0f} MB disk, exit {row['status']}"
        + (f" ({note})" if note else ""),
        flush=True,
    )
    if row["status"] not in (0, "killed"):
        raise SystemExit(f"stage {name} at n={n} failed; its log is in the work folder's logs/")
    return row


def _log(work, name, n) -> str:
    return os.path.join(work, "logs", f"{name}-{n}.log")


def prepare_shared(args, work, stages, extra, train: bool = True):
    """The atlas of --unique samples (generated once) and a run trained on it (`train`)."""
    base, trained = os.path.join(work, "atlas"), os.path.join(work, "trained")
    if not os.path.isfile(os.path.join(base, "train.csv")):
        tmp = base + ".partial"
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [PY, "data_prep/make_synthetic.py", "--out", tmp, "--n", str(args.unique)]
        size = "512" if train else "64"  # labels only: the same labels (the seed draws them)
        r = run(cmd + ["--size", size, "--seed", "0"], _log(work, "atlas", args.unique), [tmp])
        os.rename(tmp, base)
        _stage(stages, "atlas", args.unique, r, "generation, timed on its own")
    if train and not os.path.isfile(os.path.join(trained, "metrics.json")):
        cmd = [PY, "experiments/run_kfold.py", "--data", base, "--model", "gapnet_pl"]
        cmd += ["--epochs", "1", "--image-size", "512", "--out", trained]
        r = run(cmd, _log(work, "trained", args.unique), [trained])
        _stage(stages, "trained_run", args.unique, r, "GapNet-PL 512 px, 1 epoch, 3 folds")
    return base, trained


def _count(pattern) -> int:
    return len(glob.glob(pattern))


def plan_size(args, work, base, trained, n, largest, stages, extra) -> None:
    """Every per-n stage on an n-sample folder (made, then deleted unless --keep)."""
    root = os.path.join(work, f"n{n}")
    t0 = time.perf_counter()
    n_test = make_folder(base, root, n)
    extra.setdefault("folder_seconds", {})[str(n)] = round(time.perf_counter() - t0, 1)
    kill = args.kill_after if largest else None

    def go(name, cmd, outputs=(), m=n, note="", cold=True, kill_after=None):
        if args.stages and name not in args.stages:  # --stages: the others are skipped
            return {"killed_and_resumed": False}
        r = run(cmd, _log(work, name, m), outputs, kill_after=kill_after, cold=cold)
        return _stage(stages, name, m, r, note)

    go("validate", [PY, "data_prep/validate.py", root])
    cache = os.path.join(root, ".gapnet-cache")
    row = go(
        "cache", [PY, "data_prep/build_cache.py", root, "--size", "512"], [root], kill_after=kill
    )
    row["continued"] = row["killed_and_resumed"] and "already" in _text(_log(work, "cache", n))
    for name, cold in (("epoch_cold", True), ("epoch_warm", False)):
        row = go(name, [PY, STAGES, "epoch", root], cold=cold)
        row.update(last_json(_log(work, name, n)))
    row = go("folds", [PY, STAGES, "folds", root])
    row.update(last_json(_log(work, "folds", n)))
    if n in (min(args.sizes), max(args.sizes)):
        row = go("train", [PY, STAGES, "train", root], note="GapNet-PL 512 px, fixed windows")
        row.update(last_json(_log(work, "train", n)))
    fake = os.path.join(work, f"run{n}")
    shutil.rmtree(fake, ignore_errors=True)
    go("fake_run", [PY, STAGES, "fake-run", root, fake], [fake], note="setup for oof")
    go("oof", [PY, "experiments/run_kfold.py", "--out", fake, "--merge"], [fake])
    go("report", [PY, "experiments/report.py", fake], [fake])
    pred = os.path.join(work, f"pred{n}")
    os.makedirs(pred, exist_ok=True)
    cmd = [PY, "experiments/predict.py", "--run", trained, "--data", root]
    cmd += ["--out", os.path.join(pred, "submission.csv"), "--tta", "none"]
    parts = os.path.join(pred, "submission.csv.parts", "fold*-*.npy")
    first = (lambda: _count(parts) > 0) if largest else None  # killed once a part is kept
    row = go("predict", cmd, [pred], m=n_test, kill_after=first, note=f"test split of n={n:,}")
    row["continued"] = row["killed_and_resumed"] and "kept from an earlier run" in _text(
        _log(work, "predict", n_test)
    )
    ids = [f"s{k:06d}" for k in range(8)]
    out = os.path.join(work, f"explain{n}")
    cmd = [PY, "experiments/explain.py", "--run", trained, "--data", root, "--ids", *ids]
    go("explain", cmd + ["--out", out, "--no-report"], [out], note="8 samples")
    out = os.path.join(work, f"preset{n}")
    shutil.rmtree(out, ignore_errors=True)
    cmd = [PY, "experiments/export.py", "--run", trained, "--out", out, "--format", "keras"]
    go("export", cmd, [out])
    if largest and (not args.stages or "segment_rehearsal" in args.stages):
        _segment_rehearsal(args, work, root, n, stages)
    extra.setdefault("cache_gb", {})[str(n)] = round(_du(cache) / 1e9, 2)
    extra.setdefault("folder_gb", {})[str(n)] = round(_du(os.path.join(root, "train")) / 1e9, 2)
    if not args.keep:
        for path in (root, fake, pred, os.path.join(work, f"explain{n}"), out):
            shutil.rmtree(path, ignore_errors=True)


def _du(path) -> int:

    return disk_bytes([path])


def _text(path) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def _segment_rehearsal(args, work, root, n, stages) -> None:
    """segment.py on the full folder, killed twice: each start must keep the masks the
    last one finished (the full run is projected from the rate, not waited for)."""
    masks = os.path.join(work, f"masks{n}")
    cmd = [PY, "data_prep/segment.py", root, "--out", masks]
    done = []
    for k in range(2):
        t0 = time.perf_counter()
        r = run(
            cmd,
            _log(work, f"segment_kill{k}", n),
            [masks],
            kill_after=args.kill_after,
            restart=False,
        )
        r["seconds"] = round(time.perf_counter() - t0, 1)
        if r["status"] == -signal.SIGKILL:
            r["status"] = "killed"
        done.append(_count(os.path.join(masks, "*_cells.png")))
        if k == 0 and done[0]:
            first = min(glob.glob(os.path.join(masks, "*_cells.png")))
            kept = (first, os.path.getmtime(first))
        _stage(
            stages,
            "segment_rehearsal",
            n,
            r,
            f"killed after {args.kill_after:.0f} s",
            masks=done[-1],
        )
    stages[-1]["continued"] = done[1] > done[0] > 0 and os.path.getmtime(kept[0]) == kept[1]
    shutil.rmtree(masks, ignore_errors=True)


def segment_and_hpav18(args, work, base, stages, extra) -> None:
    """segment.py over the atlas's first m samples, then the HPAv18 write and import."""
    for m in args.segment_sizes:
        root, masks = os.path.join(work, f"seg{m}"), os.path.join(work, f"segmasks{m}")
        sub_root(base, root, m)
        shutil.rmtree(masks, ignore_errors=True)
        r = run(
            [PY, "data_prep/segment.py", root, "--out", masks], _log(work, "segment", m), [masks]
        )
        _stage(stages, "segment", m, r)
        shutil.rmtree(masks, ignore_errors=True)
    if not args.hpav18:
        return
    h = min(args.hpav18, args.unique)  # the atlas's samples, each once
    src, dst = os.path.join(work, "hpav18"), os.path.join(work, "imported")
    if not os.path.isfile(os.path.join(src, "labels.csv")):
        cmd = [PY, "data_prep/make_synthetic.py", "--as-hpav18", base, "--out", src, "--n", str(h)]
        r = run(cmd, _log(work, "hpav18_write", h), [src])
        _stage(stages, "hpav18_write", h, r, "2048 px RGB JPEGs, setup")
    shutil.rmtree(dst, ignore_errors=True)
    cmd = [
        PY,
        "data_prep/import_external.py",
        src,
        dst,
        "--labels",
        os.path.join(src, "labels.csv"),
    ]
    r = run(cmd, _log(work, "import", h), [dst], kill_after=args.kill_after)
    row = _stage(stages, "import", h, r, "HPAv18 JPEGs -> 512 px PNGs, killed once")
    text = _text(_log(work, "import", h))
    row["log_tail"] = text[-600:]
    row["continued"] = row["killed_and_resumed"] and "converted by an earlier run" in text
    # the killed first run's rate: every sample it counted was decoded (the second
    # start's rate counts the samples the first finished, which it only re-hashes)
    first = text.split("=== killed")[0]
    rates = re.findall(r"importing: \d+% .*? ([\d.]+) sample/s", first)
    per_s = float(rates[-1]) if rates else h / r["seconds"]
    extra["hpav18_import_per_s"] = per_s
    extra["hpav18_74606_projected_h"] = round(74606 / per_s / 3600, 2)


def plan_labels(args, work, base, n, stages) -> None:
    """--labels-only: folds, the OOF evaluation and the report on an n-sample folder of
    labels alone (these stages never open an image)."""
    root, fake = os.path.join(work, f"labels{n}"), os.path.join(work, f"labelrun{n}")
    make_folder(base, root, n, images=False)
    for name, cmd, outputs in (
        ("folds", [PY, STAGES, "folds", root], []),
        ("fake_run", [PY, STAGES, "fake-run", root, fake], [fake]),
        ("oof", [PY, "experiments/run_kfold.py", "--out", fake, "--merge"], [fake]),
        ("report", [PY, "experiments/report.py", fake], [fake]),
    ):
        if name == "fake_run":
            shutil.rmtree(fake, ignore_errors=True)
        row = _stage(stages, name, n, run(cmd, _log(work, name, n), outputs))
        row.update(last_json(_log(work, name, n)) if name == "folds" else {})
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(fake, ignore_errors=True)


def rehearse_predict(args, work, base, trained, n, stages) -> None:
    """--rehearse-predict N: predict.py on an N-sample test split (hard links to the atlas's
    files), SIGKILLed as soon as a new part is on disk, twice; each start must report the
    parts the last one kept. (The full prediction is timed by the main benchmark.)"""
    from gapnet.classes import CHANNELS
    from gapnet.data.source import open_source

    root = os.path.join(work, f"rehearse{n}")
    src = open_source(base)
    os.makedirs(os.path.join(root, "test"), exist_ok=True)
    for k in range(n):
        for c in CHANNELS:
            dst = os.path.join(root, "test", f"t{k:06d}_{c}.png")
            if not os.path.exists(dst):
                old = src.labels.ids[k % len(src.labels.ids)]
                os.link(os.path.join(src.image_dir, f"{old}_{c}.png"), dst)
    with open(os.path.join(root, "sample_submission.csv"), "w") as f:
        f.write("Id,Predicted\n" + "".join(f"t{k:06d},0\n" for k in range(n)))
    shutil.copyfile(os.path.join(base, "train.csv"), os.path.join(root, "train.csv"))
    out = os.path.join(work, f"rehearse{n}-pred", "submission.csv")
    parts = out + ".parts"
    shutil.rmtree(os.path.dirname(out), ignore_errors=True)
    os.makedirs(os.path.dirname(out))

    def count() -> int:
        return _count(os.path.join(parts, "fold*-*.npy"))

    cmd = [PY, "experiments/predict.py", "--run", trained, "--data", root, "--out", out]
    cmd += ["--tta", "none"]
    kept = []
    for k in range(2):
        have = count()
        log = _log(work, f"predict_kill{k}", n)
        r = run(
            cmd, log, [os.path.dirname(out)], kill_after=lambda h=have: count() > h, restart=False
        )
        if r["status"] == -signal.SIGKILL:
            r["status"] = "killed"
        kept.append(count())
        said = re.findall(r"(\d+) parts of \d+ kept from an earlier run", _text(log))
        row = _stage(stages, "predict_rehearsal", n, r, "killed when a new part was written")
        row.update(parts_after=kept[-1], reported_kept=int(said[0]) if said else 0)
    stages[-1]["continued"] = stages[-1]["reported_kept"] == kept[0] > 0 and kept[1] > kept[0]
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(os.path.dirname(out), ignore_errors=True)


if __name__ == "__main__":
    sys.exit(
        "benchmarks/scale_plan.py: helpers of benchmarks/scale.py, "
        "not a script; run python benchmarks/scale.py --help"
    )

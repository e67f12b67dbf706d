"""How each stage's cost grows with the number of samples, up to the full Kaggle set.

    python benchmarks/scale.py --work DIR [--sizes 1000 4000 16000 31072] [--unique 1000]
                               [--segment-sizes 500 1000] [--hpav18 2000]
                               [--kill-after 45] [--keep] [--json]

DIR (outside the repository; needs about 60 GB at 31,072) receives an atlas of --unique
samples at 512 px (generated once, timed on its own, reused when present) and, for each n
of --sizes in turn, a Kaggle-layout folder of n samples: the atlas's files copied under new
Ids (every file its own copy on disk; pixels repeat every --unique samples), its labels
likewise, and a test split of round(n x 11,702 / 31,072) samples (hard links to the
training files, which cost no disk). Each stage is run as its own process (gapnet's
scripts, or benchmarks/scale_stages.py for library calls), after the page cache is dropped
where the OS allows it (root: /proc/sys/vm/drop_caches; the JSON says whether), and gets:
wall seconds, the peak RSS of its largest process (os.wait4), the disk it wrote (blocks of
its output), and its stdout+stderr size. Stages:

  validate      data_prep/validate.py ROOT
  cache         data_prep/build_cache.py ROOT --size 512
  folds         iterative stratification into 3 folds
  epoch_cold    one epoch of the training input from the cache, shuffled, page cache dropped
  epoch_warm    the same again at once (warm only while the cache fits in memory)
  train         GapNet-PL 512 px img/s fed from the cache vs from memory (fixed windows;
                at the smallest and largest n)
  oof           run_kfold.py --merge on a run folder of n x 28 synthetic OOF predictions
  report        experiments/report.py on that folder
  predict       experiments/predict.py --data on the test split, with a run trained once
                on the atlas (GapNet-PL, 512 px, 1 epoch: a real model, its scores moot)
  explain       experiments/explain.py --data ROOT --ids (8 fixed samples)
  export        experiments/export.py --format keras
  segment       data_prep/segment.py on the first m samples of the atlas, m in
                --segment-sizes (the full set is projected from the rate)

At the largest n, cache is killed (SIGKILL, with its process group) after --kill-after
seconds and predict as soon as its first part is kept, and each is started again: their
seconds are the two runs together, and the JSON records whether the second continued.
segment.py on the largest folder is killed after --kill-after seconds twice
(`segment_rehearsal`: the second start must keep the first's masks).
--hpav18 H writes min(H, --unique) atlas samples as 2048-px RGB JPEGs under HPAv18 names
(timed) and imports them with data_prep/import_external.py, killed once and resumed: the
killed run's rate (every sample it counted was decoded) projects 74,606. `slopes` is the
least-squares slope of log(seconds) on log(n) per stage over every n; `top_slopes` the
same at each stage's two largest n (where start-up weighs least); `net_slopes`, with a
small n (<= 100) in --sizes, that of the seconds beyond the stage's seconds at that n.
--labels-only runs only folds, oof and report (on folders of labels alone);
--rehearse-predict N only the prediction kill rehearsal. Without --keep every n's folder
is deleted when its stages are done, and the rest at the end. The table goes to stderr;
--json prints one object (`stages`, `slopes`, ...).
"""

import argparse
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import REPO, slopes  # noqa: E402
from benchmarks.scale_plan import (  # noqa: E402
    plan_labels,
    plan_size,
    prepare_shared,
    rehearse_predict,
    segment_and_hpav18,
)
from gapnet.jsonout import emit, json_main  # noqa: E402

# set-up and fixed-window stages: their seconds do not measure growth in n
NOT_SCALED = ("atlas", "trained_run", "train", "fake_run", "hpav18_write", "segment_rehearsal")


def top_two(stages) -> list:
    """Each scaled stage's rows at its two largest n (where start-up weighs least)."""
    out = []
    for name in dict.fromkeys(s["stage"] for s in stages if s["stage"] not in NOT_SCALED):
        rows = sorted((s for s in stages if s["stage"] == name), key=lambda s: s["n"])
        out += rows[-2:]
    return out


def net_slopes(stages, small: int = 100) -> dict:
    """Slopes of (seconds - the stage's seconds at its smallest n) on n, for stages run at
    an n <= `small` (the start-up baseline: what a process costs before the work grows)."""
    out = []
    for name in dict.fromkeys(s["stage"] for s in stages if s["stage"] not in NOT_SCALED):
        rows = sorted((s for s in stages if s["stage"] == name), key=lambda s: s["n"])
        if len(rows) >= 3 and rows[0]["n"] <= small:
            base = rows[0]["seconds"]
            out += [{**r, "seconds": max(r["seconds"] - base, 1e-3)} for r in rows[1:]]
    return slopes(out)


@json_main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True, help="working folder outside the repository")
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000, 31072])
    p.add_argument("--unique", type=int, default=1000, help="atlas samples generated")
    p.add_argument("--segment-sizes", type=int, nargs="*", default=[500, 1000])
    p.add_argument("--hpav18", type=int, default=2000, help="simulated HPAv18 samples (0: none)")
    p.add_argument("--kill-after", type=float, default=45.0, help="seconds before the kill")
    p.add_argument("--keep", action="store_true", help="keep the folders")
    p.add_argument(
        "--stages",
        nargs="+",
        default=[],
        metavar="STAGE",
        help="run only these per-n stages (e.g. validate cache; default: all)",
    )
    p.add_argument(
        "--labels-only",
        action="store_true",
        help="only the stages that read labels and predictions (folds, oof, report), on "
        "folders without images; include a small n (e.g. 40) for the start-up baseline",
    )
    p.add_argument(
        "--rehearse-predict",
        type=int,
        default=0,
        metavar="N",
        help="only: predict.py on an N-sample test split, killed twice, each time as soon as "
        "a new part is written; checks that each start kept the last one's",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    args = p.parse_args(argv)
    work = os.path.abspath(args.work)
    if work.startswith(REPO + os.sep):
        p.error("--work must be outside the repository")
    os.makedirs(os.path.join(work, "logs"), exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M")
    stages, extra = [], {}
    base, trained = prepare_shared(args, work, stages, extra, train=not args.labels_only)
    if args.rehearse_predict:
        rehearse_predict(args, work, base, trained, args.rehearse_predict, stages)
    elif args.labels_only:
        for n in sorted(args.sizes):
            plan_labels(args, work, base, n, stages)
    else:
        for n in sorted(args.sizes):
            plan_size(args, work, base, trained, n, n == max(args.sizes), stages, extra)
        segment_and_hpav18(args, work, base, stages, extra)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "date": started,
        "cores": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1),
        "sizes": sorted(args.sizes),
        "unique": args.unique,
        "stages": stages,
        "slopes": slopes([s for s in stages if s["stage"] not in NOT_SCALED]),
        "top_slopes": slopes(top_two(stages)),
        "net_slopes": net_slopes(stages),
        **extra,
    }
    print_table(result)
    if args.json:
        emit(result)
    return 0


def print_table(result) -> None:
    out = sys.stderr
    print("\n| stage | n | seconds | peak RSS MB | disk MB | log KB | note |", file=out)
    print("|---|---:|---:|---:|---:|---:|---|", file=out)
    for s in result["stages"]:
        print(
            f"| {s['stage']} | {s['n']:,} | {s['seconds']:.1f} | {s['peak_rss_mb']:.0f} | "
            f"{s['disk_mb']:.0f} | {s['log_bytes'] / 1e3:.1f} | {s.get('note', '')} |",
            file=out,
        )
    print("\nslopes (log seconds / log n): " + json.dumps(result["slopes"]), file=out)


if __name__ == "__main__":
    sys.exit(main())

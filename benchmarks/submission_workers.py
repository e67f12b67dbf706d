"""The 2021 submission stage (`predict.py --format hpa2021`) in one process and in worker
processes, side by side in one run: seconds per field for each worker count, and whether
every CSV is byte for byte the one-process CSV.

    python benchmarks/submission_workers.py --run RUN --images DIR [--masks DIR]
                                            [--workers 1,2] [--copies 3] [--json]

--run: a single-cell run folder or a K-fold run; --images: fields in the 2021 layout
(`<ID>_<color>.png`, any size); --masks: their cell masks (`<ID>_predictedmask.png` or
`<ID>_cells.png`; default: gapnet's own segmentation); --copies: each field linked under
that many names, so that the workers have fields to share.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from gapnet.jsonout import emit, json_main


def _copies(images: str, masks: str | None, k: int, out: str) -> tuple[str, str | None]:
    """`images` (and `masks`) hard-linked `k` times under new IDs `<ID>-c<j>`."""
    fields, cells = os.path.join(out, "fields"), os.path.join(out, "masks") if masks else None
    for d in (fields, cells):
        if d:
            os.makedirs(d, exist_ok=True)
    for folder, dest in ((images, fields), (masks, cells)):
        if not folder:
            continue
        for f in sorted(os.listdir(folder)):
            sid, rest = f.split("_", 1)
            for j in range(k):
                os.link(os.path.join(folder, f), os.path.join(dest, f"{sid}-c{j}_{rest}"))
    return fields, cells


@json_main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True)
    p.add_argument("--images", required=True)
    p.add_argument("--masks")
    p.add_argument("--workers", default="1,2", help="worker counts to compare (1,2)")
    p.add_argument("--copies", type=int, default=3)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    from gapnet.quiet import quiet_tensorflow

    quiet_tensorflow()  # after parsing: --help never waits for TensorFlow
    from gapnet.single_cell.predict import field_ids, predict_submission

    counts = [int(w) for w in a.workers.split(",")]
    rows, csvs = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        fields, masks = _copies(a.images, a.masks, a.copies, tmp)
        ids = field_ids(fields)
        for w in counts:
            out = os.path.join(tmp, f"sub_w{w}.csv")
            t = time.perf_counter()
            predict_submission(a.run, fields, ids, out, masks, log=lambda *x: 0, workers=w)
            sec = time.perf_counter() - t
            csvs[w] = open(out, "rb").read()
            rows.append({"workers": w, "fields": len(ids), "seconds": round(sec, 1)})
            rows[-1]["s_per_field"] = round(sec / len(ids), 2)
    for r in rows:
        r["same_csv_as_first"] = csvs[r["workers"]] == csvs[counts[0]]
        r["speedup"] = round(rows[0]["seconds"] / r["seconds"], 2)
    out = sys.stderr if a.json else sys.stdout
    print("workers  fields  seconds  s/field  speed-up  same CSV", file=out)
    for r in rows:
        print(
            f"{r['workers']:>7}  {r['fields']:>6}  {r['seconds']:>7}  {r['s_per_field']:>7}  "
            f"{r['speedup']:>8}  {r['same_csv_as_first']}",
            file=out,
        )
    if a.json:
        emit({"rows": rows, "cores": os.cpu_count(), "load": os.getloadavg()[0]})
    return 0


if __name__ == "__main__":
    sys.exit(main())

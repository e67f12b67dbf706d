"""OME-Zarr fields of 4,096 to 16,384 px predicted and segmented tile by tile: wall time and
peak RSS per field size, each in a child process (`benchmarks/common.run`).

    python benchmarks/ome_zarr_tiles.py [--sizes 4096,8192,16384] [--segment-sizes 4096,8192]
        [--hpa-field /work/shared/data/real/hpa2021/images/000a6c98-bb9b-11e8-b2b9-ac1f6b6435d0]
        [--work DIR] [--json]

Fields (synthetic, made of real pixels): the packaged 512-px HPA field
(gapnet/resources/hpa_field, 4 channels) repeated across the canvas, each 512-px block
flipped by its position, as 16-bit (x 257), written by ome-zarr's writer from a lazy dask
array in 1,024-px chunks (so writing is bounded too), one level only: the worst case for
prediction, which then reads level 0 in strips (`gapnet.data.ome_zarr_sample`; a field with
a pyramid is read from its level nearest 512 px instead).

- write: the field written (child process).
- predict: `predict_images` (what `predict.py --images` runs) with an untrained 4-channel
  gapnet_pl at 512 px: times and memory only, no accuracy.
- segment: `segment_images` (what `data_prep/segment.py --images` runs): tiles of 1,024 px
  overlapping by 128 px, nucleus diameter 50 px (the field's nuclei are HPA's at 512 px);
  the masks are written into the field as NGFF labels (PNGs too up to 4,096 px).

Peak RSS is the child's (os.wait4), TensorFlow included for predict. The ratio column is
each size's peak RSS over the smallest size's: about 1 when memory is bounded by the tile,
not the field (the field's pixels grow 16x from 4,096 to 16,384 px).
With --hpa-field, a real 2,048-px HPA field (`<prefix>_{red,green,blue,yellow}.png`) is also
written as a three-level OME-Zarr and read back at level 0 (identical pixels or not).
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from gapnet.jsonout import dumps, emit, json_main  # noqa: E402

COLOURS = ("red", "green", "blue", "yellow")


def hpa_planes(prefix=None):
    import numpy as np
    from PIL import Image

    if prefix is None:
        files = glob.glob(os.path.join(HERE, "..", "gapnet", "resources", "hpa_field", "*.png"))
        prefix = files[0].rsplit("_", 1)[0]
    return np.stack([np.asarray(Image.open(f"{prefix}_{c}.png")) for c in COLOURS])


def write_field(path: str, size: int) -> None:
    """The synthetic field (module docstring) as a one-level OME-Zarr, chunk by chunk."""
    import dask.array as da
    import numpy as np
    import zarr
    from ome_zarr.writer import write_image

    base = hpa_planes().astype(np.uint16) * 257
    b = base.shape[1]

    def block(block_info=None):
        (c0, _), (y0, y1), (x0, x1) = block_info[None]["array-location"]
        out = np.empty((1, y1 - y0, x1 - x0), np.uint16)
        for y in range(y0, y1, b):
            for x in range(x0, x1, b):
                tile = base[c0, :, :]
                tile = tile[::-1] if (y // b) % 2 else tile
                tile = tile[:, ::-1] if (x // b) % 2 else tile
                out[0, y - y0 : y - y0 + b, x - x0 : x - x0 + b] = tile
        return out

    chunk = 1024
    arr = da.map_blocks(
        block,
        chunks=((1,) * 4, (chunk,) * (size // chunk), (chunk,) * (size // chunk)),
        dtype=np.uint16,
    )
    root = zarr.open_group(path, mode="w")
    write_image(
        arr,
        root,
        axes="cyx",
        scale_factors=[],
        scale={"c": 1.0, "y": 0.08, "x": 0.08},
        axes_units={"y": "micrometer", "x": "micrometer"},
        storage_options={"chunks": (1, chunk, chunk)},
        metadata={"omero": {"channels": [{"label": c} for c in COLOURS]}},
    )


def _line(obj) -> None:
    """A child's result: one line of strict JSON (`benchmarks.common.last_json` reads it)."""
    print(dumps(obj, indent=None), flush=True)


def child(args) -> int:
    """One stage in this process; prints one strict JSON line."""
    if args.child == "write":
        write_field(args.path, args.size)
        _line({"written": args.path})
        return 0
    if args.child == "predict":
        import keras
        import numpy as np

        from gapnet import models
        from gapnet.export.apply import predict_images

        keras.utils.set_random_seed(0)
        model = models.build("gapnet_pl", (512, 512, 4), 28)
        names, probs, _ = predict_images(model, np.full(28, 0.5), args.path)
        _line({"images": names, "p_mean": float(probs.mean())})
        return 0
    from gapnet.segment import SegmentParams
    from gapnet.segment.files import segment_images

    rows = segment_images(
        args.path, args.out, p=SegmentParams(nucleus_diameter=50.0), tile=1024, overlap=128
    )
    _line({k: rows[0][k] for k in ("nuclei", "cells", "warning", "error")})
    return 0


def check_real_field(prefix: str, work: str) -> dict:
    """A real 2,048-px field written as a three-level OME-Zarr reads back identical at level 0."""
    import numpy as np
    import zarr
    from ome_zarr.writer import write_image

    from gapnet.data.ome_zarr import open_images

    cyx = hpa_planes(prefix)
    path = os.path.join(work, "hpa_field.zarr")
    write_image(
        cyx,
        zarr.open_group(path, mode="w"),
        axes="cyx",
        scale_factors=[2, 4],
        metadata={"omero": {"channels": [{"label": c} for c in COLOURS]}},
    )
    (im,) = open_images(path)
    same = bool(
        np.array_equal(im.region(0, 0, cyx.shape[1], 0, cyx.shape[2]), cyx.transpose(1, 2, 0))
    )
    return {
        "field": os.path.basename(prefix),
        "shape": list(cyx.shape),
        "levels": [lv.shape for lv in im.levels],
        "identical_at_level_0": same,
    }


@json_main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="4096,8192,16384")
    p.add_argument("--segment-sizes", dest="segment_sizes", default="4096,8192")
    p.add_argument("--hpa-field", dest="hpa_field")
    p.add_argument("--work", help="folder for the fields (default: a temporary one)")
    p.add_argument(
        "--json", action="store_true", help="print one JSON object (the table goes to stderr)"
    )
    p.add_argument("--child", choices=["write", "predict", "segment"], help=argparse.SUPPRESS)
    p.add_argument("--path", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args)
    from benchmarks.common import PY, last_json, run

    work = args.work or tempfile.mkdtemp(prefix="gapnet-omezarr-")
    os.makedirs(work, exist_ok=True)
    me = os.path.abspath(__file__)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    seg_sizes = [int(s) for s in args.segment_sizes.split(",") if s]
    rows = []
    for size in sizes:
        path = os.path.join(work, f"field{size}.zarr")
        row = {"size": size}
        for stage in ["write", "predict"] + (["segment"] if size in seg_sizes else []):
            log = os.path.join(work, f"{stage}{size}.log")
            cmd = [
                PY,
                me,
                "--child",
                stage,
                "--path",
                path,
                "--size",
                str(size),
                "--out",
                os.path.join(work, f"masks{size}"),
            ]
            r = run(cmd, log, outputs=[path] if stage == "write" else (), cold=False)
            row[stage] = {
                "seconds": r["seconds"],
                "peak_rss_mb": r["peak_rss_mb"],
                "status": r["status"],
                **last_json(log),
            }
            if stage == "write":
                row[stage]["disk_mb"] = r["disk_mb"]
            print(
                f"{size} px {stage}: {r['seconds']} s, peak RSS {r['peak_rss_mb']} MB, "
                f"status {r['status']}",
                file=sys.stderr,
                flush=True,
            )
        rows.append(row)
    for stage in ("write", "predict", "segment"):
        have = [r for r in rows if stage in r]
        for r in have:
            r[stage]["rss_ratio"] = round(
                r[stage]["peak_rss_mb"] / have[0][stage]["peak_rss_mb"], 2
            )
    result = {"fields": rows}
    if args.hpa_field:
        result["real_field"] = check_real_field(args.hpa_field, work)
    print("| field px | stage | wall s | peak RSS MB | RSS / smallest field's |")
    print("|---:|---|---:|---:|---:|")
    for r in rows:
        for stage in ("write", "predict", "segment"):
            if stage in r:
                s = r[stage]
                print(
                    f"| {r['size']:,} | {stage} | {s['seconds']} | {s['peak_rss_mb']} | "
                    f"{s['rss_ratio']} |"
                )
    if "real_field" in result:
        print("real field:", ", ".join(f"{k} {v}" for k, v in result["real_field"].items()))
    if args.json:
        emit(result)
    return (
        0
        if all(r[s]["status"] == 0 for r in rows for s in ("write", "predict", "segment") if s in r)
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())

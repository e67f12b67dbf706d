"""Hashes of gapnet's segmentation masks on the real references, to prove a refactoring
changed no mask (docs/segmentation.md, "The move to gapnet/segment/ changed no mask").

    python benchmarks/segmentation_hashes.py [--hpa2021 DIR] [--method classical|learned]

Prints, per image, the first 16 hex digits of the sha256 of the int32 label image: nuclei
of the three nucleus references in tests/data/real_nuclei (`segment_nuclei`), cells and
nuclei of the 512-px HPA field in tests/data/hpa2021_512 and, with --hpa2021, of every
`DIR/<id>_{red,blue,yellow}.png` field (`segment_cells` on red, an empty green, blue and
yellow; the nucleus diameter estimated). --method (default classical: the method whose
masks docs/segmentation.md records; the library's default is learned) is the only
setting; the rest are `SegmentParams`' defaults. Run it on two checkouts
(`PYTHONPATH=CHECKOUT python benchmarks/segmentation_hashes.py`) and compare the outputs.
"""

import argparse
import glob
import hashlib
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data")


def sha(labels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(labels.astype(np.int32)).tobytes()).hexdigest()[:16]


def field(folder: str, sid: str) -> np.ndarray:
    from PIL import Image

    ch = {c: np.asarray(Image.open(f"{folder}/{sid}_{c}.png")) for c in ("red", "blue", "yellow")}
    return np.stack([ch["red"], np.zeros_like(ch["red"]), ch["blue"], ch["yellow"]], -1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hpa2021", help="a folder of full-size HPA 2021 fields (red/blue/yellow)")
    p.add_argument(
        "--method",
        choices=("classical", "learned"),
        default="classical",
        help="segmentation method (default classical: the masks docs/segmentation.md records)",
    )
    args = p.parse_args(argv)
    sys.path.insert(0, os.path.dirname(HERE))
    from benchmarks.segmentation_real import nucleus_references
    from gapnet.segment import SegmentParams, segment_cells, segment_nuclei

    params = SegmentParams(method=args.method)
    print(f"method {args.method}")
    for name, (image, _) in sorted(nucleus_references().items()):
        print(f"{name} nuclei {sha(segment_nuclei(image, params))}")
    folders = [os.path.join(DATA, "hpa2021_512")] + ([args.hpa2021] if args.hpa2021 else [])
    for folder in folders:
        ids = sorted(
            {os.path.basename(f)[: -len("_blue.png")] for f in glob.glob(f"{folder}/*_blue.png")}
        )
        for sid in ids:
            cells, nuclei = segment_cells(field(folder, sid), params)
            where = f"{os.path.basename(folder)}/{sid[:8]}"
            print(f"{where} cells {sha(cells)} nuclei {sha(nuclei)} ({cells.max()} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

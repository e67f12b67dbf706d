"""Train gapnet's learned nucleus segmenter and write its weights and card.

    python data_prep/train_nuclei.py DSB_DIR [--steps 3500] [--seed 0] [--out DIR]

DSB_DIR: the Data Science Bowl 2018 stage-1 training set (fluorescence images; CC0) as
`index.csv`, `images/<id>.png` and `labels/<id>.png` (16-bit instance labels). Writes
`nuclei_unet.weights.h5` and `nuclei_unet.json` (the card: data and its sha256, the
validation split, the settings) into `--out` (default: gapnet/segment/weights, where the
package loads them from). Resumable: a killed run restarts at its last checkpoint. The
method, split and augmentation: `gapnet.segment.nuclei_training`; the figures:
benchmarks/segmentation_real.py --dsb-val DSB_DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "gapnet", "segment", "weights")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", help="DSB 2018 folder (index.csv, images/, labels/)")
    p.add_argument("--steps", type=int, default=3500, help="training batches (default 3500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=DEFAULT_OUT, help="folder for the weights and card")
    args = p.parse_args(argv)
    if not os.path.isfile(os.path.join(args.data, "index.csv")):
        print(f"error: {args.data}: no index.csv (not a DSB 2018 folder)", file=sys.stderr)
        return 1
    from gapnet.segment.nuclei_training import train

    os.makedirs(args.out, exist_ok=True)
    weights = os.path.join(args.out, "nuclei_unet.weights.h5")
    t = time.time()

    def log(msg):
        print(f"[{time.time() - t:7.0f} s] {msg}", flush=True)

    card = train(args.data, weights, args.steps, args.seed, log)
    card["training_seconds"] = round(time.time() - t)
    card["command"] = (
        f"python data_prep/train_nuclei.py DSB_DIR --steps {args.steps} --seed {args.seed}"
    )
    card["licence"] = "weights trained on the DSB 2018 stage-1 training set (CC0); weights CC0"
    with open(os.path.join(args.out, "nuclei_unet.json"), "w") as f:
        json.dump(card, f, indent=1)
        f.write("\n")
    log(f"wrote {weights}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Writes a synthetic HPA-like dataset in the exact Kaggle layout (DIR/train.csv, DIR/train/).

    python data_prep/make_synthetic.py --out DIR --n N --size S --seed K
                                       [--min-per-class M] [--workers W] [--truth]
                                       [--scheme hpa2018|hpa2021] [--variability V]
    python data_prep/make_synthetic.py --figure PNG [--real DIR/ID] [--size S]
    python data_prep/make_synthetic.py --as-hpav18 ROOT --out DIR [--n N] [--size 2048]

--scheme hpa2021 writes the 2021 layout (`ID,Label`, labels joined by `|`, 19 classes with
Negative); --variability V (0..1) lets a label of an image show in only some of its cells
(ground truth written). run_single_cell.py's default atlas is `--scheme hpa2021 --variability 1
--truth`.

--as-hpav18 writes the samples of ROOT (an atlas folder) as simulated HPAv18 files: one RGB
JPEG per channel, upscaled to --size (default 2048), named like HPAv18's, with DIR/labels.csv
(`gapnet.data.synthetic.hpav18`); data_prep/import_external.py takes them.

Same seed and parameters give byte-identical files. Scores on synthetic data are not HPA
scores: use it for tests, demos and debugging a pipeline end to end.
"""

import argparse
import os
import sys

from gapnet.data.synthetic.generate import default_min_per_class, write_dataset


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", help="output folder (created)")
    p.add_argument("--n", type=int, default=1000, help="number of samples (default 1000)")
    p.add_argument(
        "--size",
        type=int,
        default=None,
        help="image side in pixels (default 512; 2048 with --as-hpav18)",
    )
    p.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    p.add_argument(
        "--min-per-class",
        type=int,
        default=None,
        help="each class appears in at least M samples "
        "(default: 6%% of N, so every class appears once N >= 100; "
        "about 7%% is the most the real label sets allow)",
    )
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument(
        "--truth",
        action="store_true",
        help="also write the ground truth to DIR/truth/: cell and nucleus label "
        "images, each label's pattern mask, cells.csv (the labels each cell "
        "shows); the images are the same bytes either way",
    )
    p.add_argument(
        "--scheme",
        choices=["hpa2018", "hpa2021"],
        default="hpa2018",
        help="label scheme: hpa2018 (Id,Target, 28 classes; default) or hpa2021 (ID,Label "
        "joined by '|', 19 classes with Negative for a field that shows nothing; the three "
        "2018 classes 2021 dropped are not drawn)",
    )
    p.add_argument(
        "--variability",
        type=float,
        default=0.0,
        help="single-cell variability, 0..1: the probability that a label of an image "
        "shows in only a subset of its cells (an image's labels are then its cells' "
        "union; implies --truth). 0 (default): every cell shows its image's labels, files "
        "byte-identical to an atlas made without the flag",
    )
    p.add_argument(
        "--figure",
        metavar="PNG",
        help="instead of a dataset, write a figure with one example per class",
    )
    p.add_argument(
        "--real",
        metavar="DIR/ID",
        help="with --figure: a real sample (its four <ID>_<color>.png or .jpg "
        "files in DIR) shown beside a synthetic one",
    )
    p.add_argument(
        "--as-hpav18",
        metavar="ROOT",
        help="write ROOT's first --n samples as simulated HPAv18 RGB JPEGs of --size px "
        "(default 2048) to --out, with --out/labels.csv",
    )
    args = p.parse_args(argv)
    if args.as_hpav18:
        if not args.out:
            p.error("--as-hpav18 needs --out")
        from gapnet.data.synthetic.hpav18 import write_hpav18

        size = args.size or 2048
        new = write_hpav18(args.as_hpav18, args.out, size, args.n, workers=args.workers)
        print(f"wrote {len(new)} HPAv18-style samples ({size}px JPEG) and labels.csv to {args.out}")
        return 0
    args.size = args.size or 512
    if args.figure:
        from gapnet.data.synthetic.figure import save_figure

        real = None
        if args.real:
            from gapnet.data.images import read_sample

            folder, sample = os.path.split(args.real)
            ext = "jpg" if os.path.exists(f"{args.real}_green.jpg") else "png"
            real = read_sample(folder or ".", sample, args.size, ext)
        save_figure(args.figure, real, size=args.size, seed=args.seed)
        print(f"wrote {args.figure}")
        return 0
    if not args.out:
        p.error("--out is required (or --figure)")
    if args.n < 1 or args.size < 16:
        p.error("--n must be >= 1 and --size >= 16")
    if not 0 <= args.variability <= 1:
        p.error(f"--variability must be in 0..1, got {args.variability}")
    m = default_min_per_class(args.n) if args.min_per_class is None else args.min_per_class
    try:  # None keeps the default's best effort in datasets too small for it
        out = write_dataset(
            args.out,
            args.n,
            args.size,
            args.seed,
            args.min_per_class,
            args.workers,
            truth=args.truth,
            variability=args.variability,
            scheme=args.scheme,
        )
    except ValueError as e:  # an unreachable --min-per-class
        p.error(str(e))
    extra = f", {args.scheme}" + (f", variability {args.variability:g}" if args.variability else "")
    print(
        f"wrote {args.n} samples ({args.size}px, seed {args.seed}, min per class {m}{extra}) "
        f"to {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

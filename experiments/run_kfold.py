"""Trains a model with K-fold cross-validation and writes a run folder with a report.

    python experiments/run_kfold.py                      # GapNet, 3 folds, synthetic atlas
    python experiments/run_kfold.py --data ROOT --config experiments/configs/hpa_512.yaml
    python experiments/run_kfold.py --data DIR --channel-map GFP=green,DNA=blue --image-size 48

Without --data it uses the embedded synthetic atlas (generated once, then cached), with the
small recipe of `Config.synthetic_default()`. Rerunning with the same --out resumes: folds
already finished are skipped and an interrupted fold continues after its last finished
epoch (a changed config is refused unless --force). Folds can also run as separate
processes or machines sharing the run folder:

    python experiments/run_kfold.py --out runs/a --fold 0     # ... --fold 1, --fold 2
    python experiments/run_kfold.py --out runs/a --merge      # OOF, thresholds, report
"""

import argparse
import sys

from gapnet.config import Config
from gapnet.data.labels import DataError
from gapnet.quiet import quiet_tensorflow


def parse(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Any config key can be set with --set key=value; "
        "see gapnet/config.py for the keys and defaults.",
    )
    p.add_argument("--data", help="dataset root in the Kaggle layout (default: synthetic atlas)")
    p.add_argument("--model", help="registered model name (default gapnet)")
    p.add_argument("--folds", type=int, help="number of folds (default 3)")
    p.add_argument("--epochs", type=int, help="epochs per fold (default 50; synthetic default 12)")
    p.add_argument(
        "--image-size",
        type=int,
        dest="image_size",
        help="images are resized to this square size (default 512; synthetic 128)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        dest="batch_size",
        help="samples per batch (default 20; synthetic 16)",
    )
    p.add_argument("--seed", type=int, help="seeds folds, initialisation and shuffling (default 0)")
    p.add_argument("--out", help="run folder (default runs/<date>-<model>)")
    p.add_argument("--config", help="YAML/JSON file of config keys")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (repeatable)",
    )
    p.add_argument("--folds-file", dest="folds_file", help="reuse an Id,fold CSV")
    p.add_argument(
        "--channel-map",
        dest="channel_map",
        help="your file channel names -> gapnet's roles, e.g. GFP=green,DAPI=blue (files "
        "<Id>_GFP.png ...; roles not mapped are absent from the model); or --set "
        "channels=green,blue for a subset of the roles' own files",
    )
    p.add_argument(
        "--scheme",
        choices=["hpa2018", "hpa2021"],
        help="label scheme: hpa2018 (28 classes, Id,Target) or hpa2021 (19, ID,Label); "
        "default: the label CSV's header (the synthetic atlas: hpa2018)",
    )
    p.add_argument(
        "--skip-bad",
        dest="skip_bad",
        action="store_true",
        default=None,
        help="drop samples with bad files (logged) instead of stopping",
    )
    p.add_argument("--fold", type=int, help="train only fold K (then --merge)")
    p.add_argument(
        "--merge",
        action="store_true",
        help="assemble a run folder whose folds were trained with --fold",
    )
    p.add_argument(
        "--force", action="store_true", help="continue a run folder even though its config changed"
    )
    p.add_argument(
        "--deterministic",
        action="store_true",
        default=None,
        help="TF op determinism: the same seed gives the same predictions (slower)",
    )
    p.add_argument(
        "--precision",
        choices=["float32", "mixed_float16", "mixed_bfloat16"],
        help="Keras dtype policy (default float32)",
    )
    p.add_argument(
        "--strategy",
        choices=["default", "mirrored", "multiworker"],
        help="tf.distribute: one device, all local GPUs, or the TF_CONFIG cluster",
    )
    p.add_argument(
        "--jit-compile",
        dest="jit_compile",
        action="store_true",
        default=None,
        help="compile with XLA. On a CPU it is slower: GapNet at 512 px (batch 20, 2 cores) "
        "trained 4-5x slower with it (0.78-0.91 against 3.4-4.2 img/s) and held 7.7 against "
        "5.8 GB; warned when set without a GPU (docs/configuration.md)",
    )
    args = p.parse_args(argv)
    if args.merge and not args.out:
        p.error("--merge needs --out RUN")
    if args.fold is not None and not args.out:
        p.error("--fold needs --out RUN (the folder the other folds share)")
    return args


def resolve_config(args) -> Config:
    """Defaults (synthetic recipe without --data) <- --config file <- flags <- --set."""
    # The synthetic recipe's warmup is a quarter of its epochs, so --epochs rescales it.
    base = Config() if args.data else Config.synthetic_default(args.epochs or 12)
    cfg = Config.from_file(args.config, base) if args.config else base
    flags = {"channel_map": args.channel_map} if args.channel_map else {}
    flags |= {
        k: getattr(args, k)
        for k in (
            "data",
            "model",
            "folds",
            "epochs",
            "image_size",
            "batch_size",
            "seed",
            "folds_file",
            "scheme",
            "skip_bad",
            "deterministic",
            "precision",
            "jit_compile",
            "strategy",
        )
        if getattr(args, k) is not None
    }
    return Config.from_dict(flags, cfg).with_overrides(args.set)


def main(argv=None) -> int:
    args = parse(argv)
    quiet_tensorflow()  # after parsing: --help never waits for TensorFlow
    from gapnet.cv.kfold import merge, run_kfold
    from gapnet.cv.runfolder import RunError, default_out
    from gapnet.cv.sizes import ConfigDataMismatch
    from gapnet.report.run_report import write_report
    from gapnet.report.tables import caption, summary_table
    from gapnet.training.resume import TrainingError

    if args.merge:
        try:
            m = merge(args.out)
        except (DataError, RunError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        cfg = Config.from_file(f"{args.out}/config.json")
        write_report(args.out)
        print(f"\n{cfg.model}, {cfg.folds} folds: {caption(m)}\n{summary_table(m)}\n")
        return 0
    try:
        cfg = resolve_config(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if cfg.strategy != "default":  # before any other TF op (MultiWorkerMirroredStrategy)
        from gapnet.training.distribute import distribution

        distribution(cfg.strategy)
    out = args.out or default_out(cfg)
    try:
        m = run_kfold(cfg, out, fold=args.fold, force=args.force)
    except ConfigDataMismatch as e:  # every change the data needs, listed at once
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (DataError, RunError, TrainingError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    from gapnet.training.distribute import is_chief

    if m is None or not is_chief(cfg.strategy):
        return 0  # a fold of a split run, or a non-chief worker: no report
    write_report(out)
    print(f"\n{cfg.model}, {cfg.folds} folds: {caption(m)}\n{summary_table(m)}\n")
    print(f"run folder: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

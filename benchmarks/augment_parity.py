"""Do the CPU and device augmentation back ends sample the same distributions? The
measurement behind docs/configuration.md's augmentation-parity paragraph (issue #40 item 18),
at any number of draws.

    python benchmarks/augment_parity.py [--draws 60000] [--block 2000] [--shear 15]
        [--translate 0.05] [--cpu-seed 0] [--device-seed 0] [--device-batches] [--json]

The recipe: tests/test_augment.py's ablation base (every transform at p = 1 except the
flips, the k x 90 rotations and the per-channel brightness and noise at 0.5) with --shear
and --translate (15 and 0.05: the recipe whose 2,000-draw pair of samples failed; 25 and
0.1: today's ablation base). The statistics: that file's 15 per-sample statistics of its
marker image (imported from it, so the measurement and the tests share one definition; run
from the repository).

- CPU: `--draws` augmentations with seeds cpu_seed .. cpu_seed + draws - 1.
- device: draws / block device layers with seeds device_seed, device_seed + 1, ..., each
  drawing `--block` augmentations of a batch; with --device-batches, draws / block
  consecutive batches of `--block` from ONE layer seeded device_seed (as training draws them).

Printed: the Kolmogorov-Smirnov p of each statistic between all the draws of each side;
then each block of either side (block draws) against all of the other side's draws, by its
smallest p over the 15 statistics: the share of blocks under 0.01 and under 0.001, and the
smallest (and, per block, its seed and statistic); and, per statistic, the spread of the
block means over what independent draws give (about 1). Each block is also compared with
the rest of its own side's draws: the rate with no difference, from the same draws, to read
the cross rates against. With no difference about 15 % of blocks fall under 0.01 (15
correlated statistics) and about 1 % under 0.001 (measured: 240 CPU blocks against 60,000
other CPU draws, 14.6 % and 0.8 %; docs/configuration.md); with 30 blocks a side the count
under 0.01 ranges by chance from about 1 to 9, so compare sides over many blocks. About
10 s per 2,000 draws of both sides on 2 CPU cores.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gapnet.jsonout import emit, json_main  # noqa: E402


def measure(
    draws: int,
    block: int,
    shear: float,
    translate: float,
    cpu_seed: int,
    device_seed: int,
    device_batches: bool = False,
):
    import numpy as np
    from scipy.stats import ks_2samp

    from tests.test_augment import (
        ABLATION_BASE,
        R,
        _cpu_statistics,
        _device_statistics,
        _marker_image,
        _statistics,
    )

    recipe = R(**{**ABLATION_BASE, "shear": shear, "translate": translate})
    n_blocks = draws // block
    if device_batches:  # one layer, consecutive batches (its seed generator advancing)
        import keras

        from gapnet.models.device_augment import device_augment

        layer = device_augment(recipe, seed=device_seed)
        batch = np.repeat(_marker_image()[None] / np.float32(255), block, 0)

        def device_block(b):
            dev = keras.ops.convert_to_numpy(layer(batch, training=True))
            return _statistics(np.round(dev * 255) / np.float32(255))  # as _device_statistics
    else:

        def device_block(b):
            return _device_statistics(recipe, block, device_seed + b)

    cpu_blocks, dev_blocks = [], []
    for b in range(n_blocks):
        cpu_blocks.append(_cpu_statistics(recipe, block, cpu_seed + b * block))
        dev_blocks.append(device_block(b))
        print(f"drawn {(b + 1) * block:,} of {n_blocks * block:,} per side", file=sys.stderr)
    keys = list(cpu_blocks[0])
    cpu = {k: np.concatenate([c[k] for c in cpu_blocks]) for k in keys}
    dev = {k: np.concatenate([d[k] for d in dev_blocks]) for k in keys}
    pooled = {k: float(ks_2samp(cpu[k], dev[k]).pvalue) for k in keys}

    def block_minima(blocks, other, seed_of):
        """Per block: its seed, and its smallest p over the statistics with that statistic."""
        rows = []
        for i, b in enumerate(blocks):
            ps = {k: float(ks_2samp(b[k], other[k]).pvalue) for k in keys}
            worst = min(ps, key=ps.get)
            rows.append({"seed": seed_of(i), "statistic": worst, "p": ps[worst]})
        return rows

    def spread(blocks, pooled_side):
        """Per statistic: the standard deviation of the block means over what independent
        draws give (about 1; well above it: draws within a block are not independent)."""
        return {
            k: float(
                np.std([b[k].mean() for b in blocks], ddof=1)
                / (pooled_side[k].std() / np.sqrt(block))
            )
            for k in keys
        }

    details = {
        "cpu": block_minima(cpu_blocks, dev, lambda i: cpu_seed + i * block),
        "device": block_minima(dev_blocks, cpu, lambda i: device_seed + i * (not device_batches)),
    }
    if device_batches:
        for i, row in enumerate(details["device"]):
            row["batch"] = i
    minima = {side: [row["p"] for row in rows] for side, rows in details.items()}

    def own_side(blocks):
        """Each block against the rest of its own side (the same back end): the rate a
        block comparison has with no difference, from the same draws."""
        m = []
        for i in range(len(blocks)):
            rest = {k: np.concatenate([b[k] for j, b in enumerate(blocks) if j != i]) for k in keys}
            m.append(min(float(ks_2samp(blocks[i][k], rest[k]).pvalue) for k in keys))
        return {
            "share_below_0.01": sum(p < 0.01 for p in m) / len(m),
            "share_below_0.001": sum(p < 0.001 for p in m) / len(m),
            "min_p": min(m),
        }

    spreads = {"cpu": spread(cpu_blocks, cpu), "device": spread(dev_blocks, dev)}
    return {
        "draws_per_side": n_blocks * block,
        "block": block,
        "recipe": {**ABLATION_BASE, "shear": shear, "translate": translate},
        "cpu_seeds": [cpu_seed, cpu_seed + n_blocks * block - 1],
        "device_seeds": [device_seed, device_seed + (0 if device_batches else n_blocks - 1)],
        "device_batches": device_batches,
        "pooled_p": pooled,
        "pooled_min_p": min(pooled.values()),
        "blocks": {
            side: {
                "n": len(m),
                "share_below_0.01": sum(p < 0.01 for p in m) / len(m),
                "share_below_0.001": sum(p < 0.001 for p in m) / len(m),
                "min_p": min(m),
                "per_block": details[side],
                "block_mean_spread": spreads[side] if len(m) > 1 else None,
                "against_own_side": own_side(cpu_blocks if side == "cpu" else dev_blocks)
                if len(m) > 1
                else None,
            }
            for side, m in minima.items()
        },
    }


@json_main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--draws", type=int, default=60000, help="augmentations per back end")
    p.add_argument("--block", type=int, default=2000, help="draws per block (default 2000)")
    p.add_argument("--shear", type=float, default=15.0, help="degrees (default 15)")
    p.add_argument("--translate", type=float, default=0.05, help="share of the side")
    p.add_argument("--cpu-seed", dest="cpu_seed", type=int, default=0)
    p.add_argument("--device-seed", dest="device_seed", type=int, default=0)
    p.add_argument(
        "--device-batches",
        dest="device_batches",
        action="store_true",
        help="device blocks as consecutive batches of one layer seeded --device-seed "
        "(as training draws them), not one layer per block",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    args = p.parse_args(argv)
    if args.block < 2 or args.draws < args.block:
        p.error("--draws must be at least --block, and --block at least 2")
    from gapnet.quiet import quiet_tensorflow

    quiet_tensorflow()
    r = measure(
        args.draws,
        args.block,
        args.shear,
        args.translate,
        args.cpu_seed,
        args.device_seed,
        args.device_batches,
    )
    print(
        f"{r['draws_per_side']:,} draws per side (shear {args.shear}, translate "
        f"{args.translate}): smallest p over the 15 statistics {r['pooled_min_p']:.3g}"
    )
    print("| statistic | KS p, all draws |\n|---|---:|")
    for k, v in r["pooled_p"].items():
        print(f"| {k} | {v:.3g} |")
    print("\n| blocks of | against | n | min p < 0.01 | min p < 0.001 | smallest |")
    print("|---|---|---:|---:|---:|---:|")
    for side, other in (("cpu", "device"), ("device", "cpu")):
        b = r["blocks"][side]
        print(
            f"| {side} ({args.block:,}) | all {other} draws | {b['n']} | "
            f"{b['share_below_0.01']:.0%} | {b['share_below_0.001']:.0%} | {b['min_p']:.2g} |"
        )
        own = b["against_own_side"]
        if own:
            print(
                f"| {side} ({args.block:,}) | the rest of {side} draws | {b['n']} | "
                f"{own['share_below_0.01']:.0%} | {own['share_below_0.001']:.0%} | "
                f"{own['min_p']:.2g} |"
            )
    for side in ("cpu", "device"):
        b = r["blocks"][side]
        low = [
            f"{x['seed']}{' batch %d' % x['batch'] if 'batch' in x else ''} "
            f"({x['statistic']} {x['p']:.2g})"
            for x in b["per_block"]
            if x["p"] < 0.01
        ]
        print(f"{side} blocks under 0.01, by seed: {', '.join(low) or 'none'}")
        if b["block_mean_spread"]:
            hi = max(b["block_mean_spread"], key=b["block_mean_spread"].get)
            print(
                f"{side} block means' spread over independent draws': "
                f"{min(b['block_mean_spread'].values()):.2f}-{b['block_mean_spread'][hi]:.2f} "
                f"(highest: {hi})"
            )
    if args.json:
        emit(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())

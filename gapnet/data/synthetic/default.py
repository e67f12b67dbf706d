"""The embedded default dataset: the synthetic atlas for a set of parameters, generated on
first use into $GAPNET_CACHE (or ~/.cache/gapnet) and reused after."""

from __future__ import annotations

import os

from gapnet.data.synthetic.generate import write_dataset

CACHE_ENV = "GAPNET_CACHE"


def cache_dir() -> str:
    """Where generated default datasets live: $GAPNET_CACHE or ~/.cache/gapnet."""
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "gapnet")


def default_dataset(
    n: int = 900,
    size: int = 128,
    seed: int = 0,
    log=print,
    variability: float = 0.0,
    scheme: str = "hpa2018",
) -> str:
    """The synthetic dataset for these parameters, generated on first use and then reused.

    The folder name encodes every parameter (and the generator version), so a different
    request never reuses the wrong files; a complete dataset has its train.csv. An atlas
    with single-cell variability or in the 2021 scheme also gets its truth folder.
    """
    from gapnet.data.synthetic.render import GENERATOR_VERSION

    name = f"synthetic-g{GENERATOR_VERSION}-n{n}-s{size}-seed{seed}"
    if variability:
        name += f"-v{variability:g}"
    if scheme != "hpa2018":
        name += f"-{scheme}"
    path = os.path.join(cache_dir(), name)
    if os.path.isfile(os.path.join(path, "train.csv")):
        log(f"synthetic atlas: reusing {path}")
        return path
    log(f"synthetic atlas: generating {n} samples at {size}px into {path} (once)")
    truth = bool(variability) or scheme != "hpa2018"  # what per-cell scoring needs
    return write_dataset(path, n, size, seed, variability=variability, scheme=scheme, truth=truth)

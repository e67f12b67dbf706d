"""The marker a synthetic dataset carries: `SYNTHETIC.json` beside its `train.csv`.

`write_dataset` (and so `data_prep/make_synthetic.py` and the embedded default atlas)
writes it with the generator's parameters, seed and the gapnet version; `is_synthetic`
is how every stage tells a synthetic folder from a real one, whether it came with
`--data` or not. Pure: reads one small file, imports nothing heavy.
"""

from __future__ import annotations

import json
import os

MARKER = "SYNTHETIC.json"


def marker_path(root: str | os.PathLike) -> str:
    return os.path.join(os.fspath(root), MARKER)


def write_marker(root: str | os.PathLike, params: dict) -> str:
    """Writes `root/SYNTHETIC.json`: {"synthetic": true, **params, "gapnet_version"};
    no time stamp or path, so the same parameters give the same bytes."""
    from gapnet import __version__
    from gapnet.io import atomic_write_text

    body = {"synthetic": True, **params, "gapnet_version": __version__}
    path = marker_path(root)
    atomic_write_text(path, json.dumps(body, indent=2, sort_keys=True) + "\n")
    return path


def read_marker(root: str | os.PathLike | None) -> dict | None:
    """The marker's content, or None for a folder without one (real data). A marker that
    cannot be parsed still marks the folder synthetic ({"synthetic": true})."""
    if not root:
        return None
    path = marker_path(root)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            body = json.load(f)
    except (OSError, ValueError):
        return {"synthetic": True}
    return body if isinstance(body, dict) else {"synthetic": True}


def is_synthetic(root: str | os.PathLike | None) -> bool:
    """True if `root` was written by gapnet's synthetic generator (it has the marker)."""
    return read_marker(root) is not None

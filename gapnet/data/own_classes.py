"""A user's own classes: `DIR/classes.csv` (`index,name`) read into a label scheme
(docs/data.md, "Your own channels and classes")."""

from __future__ import annotations

import csv
import io
import os

from gapnet.data.labels import DataError, _decode
from gapnet.schemes import LabelScheme


def read_classes(path: str | os.PathLike) -> LabelScheme:
    """A user's own classes from `classes.csv` (`index,name`, indices 0..n-1, each once)
    as a scheme (`gapnet.schemes.own_scheme`).

    Raises:
        DataError: naming the file and row: no header, an index that is not 0..n-1 in
            order, an empty or repeated name, fewer than 2 classes."""
    from gapnet.schemes import own_scheme

    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            text = _decode(f.read(), path)
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if any(c.strip() for c in r)]
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["index", "name"]:
        raise DataError(f"{path}:1: expected the header 'index,name'")
    names = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) < 2 or row[0].strip() != str(len(names)):
            raise DataError(f"{path}:{line}: expected index {len(names)}, then a name")
        name = row[1].strip()
        if not name or name in names:
            raise DataError(f"{path}:{line}: class name {name!r} is empty or repeated")
        names.append(name)
    if len(names) < 2:
        raise DataError(f"{path}: declares {len(names)} class(es); a classifier needs 2 or more")
    return own_scheme(names)

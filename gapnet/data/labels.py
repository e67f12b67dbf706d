"""Reading HPA label CSVs into multi-hot label tables: the 2018 layout (`Id,Target`, labels
space-separated, 28 classes) and the 2021 one (`ID,Label`, labels joined by `|`, 19 classes
with 18 = Negative); the scheme comes from the header or is given (`gapnet.schemes`).

The parser never stops at the first bad row: it returns every problem it finds (with the
CSV line number and the Id) so that `gapnet.data.validate` can print them all at once, and
`read_labels` raises one `DataError` listing them. The table itself (`LabelTable`: Ids,
multi-hot targets, rows, sources) is `gapnet.data.label_table`'s.

Tolerated quirks: a UTF-8 byte-order mark, CRLF line ends, extra spaces around and between
labels, blank lines (trailing or not), and a label repeated within a row (counted once,
reported as a note: the official 2021 train.csv has 146 such rows, e.g. `13|13`). Errors:
a row with the wrong number of fields, a label that is not an integer or lies outside the
scheme's classes (0..27, 0..18), 2021's Negative (18) with another label (in the official
train.csv 18 always stands alone), an empty label cell in a training CSV, a duplicate Id,
and an Id that is not a plain file-name stem (see `check_id`).
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass

import numpy as np

from gapnet.data.label_table import LabelTable
from gapnet.schemes import SCHEMES, LabelScheme, get_scheme

# A plain file-name stem: letters, digits, '.', '_' and '-', not starting with '.', no '..'.
# Whitelisting (rather than blacklisting '/' and '\\') guarantees that no Id can name a
# path outside the data root, whatever the platform.
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
TARGET_COLUMNS = ("Target", "Predicted")
# 2021: the training CSV's `ID,Label`; its test CSV (sample_submission.csv) starts with ID
TARGET_COLUMNS_2021 = ("Label", "ImageWidth", "PredictionString")


class DataError(ValueError):
    """Bad input data. The message names the file (and row) and what is wrong."""


@dataclass(frozen=True)
class Problem:
    """One problem found in a CSV or an image file."""

    path: str
    message: str
    row: int | None = None  # 1-based line number in the CSV, the header being line 1
    sample_id: str | None = None
    severity: str = "error"  # "error" or "note"

    def __str__(self) -> str:
        where = self.path if self.row is None else f"{self.path}:{self.row}"
        who = f" (Id {self.sample_id})" if self.sample_id else ""
        return f"{self.severity.upper()} {where}{who}: {self.message}"


def check_id(sample_id: str) -> str | None:
    """Returns why `sample_id` is not a safe file-name stem, or None if it is."""
    if not sample_id:
        return "empty Id"
    if "/" in sample_id or "\\" in sample_id or ".." in sample_id:
        return f"Id {sample_id!r} is not a plain file-name stem (contains '/', '\\' or '..')"
    if not _ID_RE.match(sample_id):
        return f"Id {sample_id!r} has characters outside letters, digits, '.', '_', '-'"
    return None


def parse_target(text: str, scheme: str | LabelScheme = "hpa2018") -> list[int]:
    """Parses a label cell ("16 0", " 7  25 "; 2021: "8|5|0") into label indices, in the
    cell's order (repeats kept: the caller collapses them).

    Raises:
        ValueError: a label is not an integer or lies outside the scheme's classes.
    """
    sc = get_scheme(scheme)
    tokens = text.split() if sc.separator == " " else [t.strip() for t in text.split(sc.separator)]
    if sc.separator != " " and tokens == [""]:
        tokens = []
    labels = []
    for token in tokens:
        if not re.fullmatch(r"[0-9]+", token):
            raise ValueError(f"label {token!r} is not a number")
        value = int(token)
        if value >= sc.n_classes:
            raise ValueError(f"label {value} outside 0..{sc.n_classes - 1} ({sc.name})")
        labels.append(value)
    return labels


def format_target(multi_hot) -> str:
    """The Kaggle Target string of a multi-hot row: labels ascending, space-separated."""
    return " ".join(str(i) for i in np.flatnonzero(np.asarray(multi_hot)))


def _decode(raw: bytes, path: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def _scheme_of(header: list[str]) -> LabelScheme | None:
    if len(header) >= 2 and header[0] == "Id" and header[1] in TARGET_COLUMNS:
        return SCHEMES["hpa2018"]
    if len(header) >= 2 and header[0] == "ID" and header[1] in TARGET_COLUMNS_2021:
        return SCHEMES["hpa2021"]
    return None


def parse_label_csv(
    path: str | os.PathLike,
    require_targets: bool = True,
    data: bytes | None = None,
    scheme: str | LabelScheme | None = None,
) -> tuple[LabelTable, list[Problem]]:
    """Parses a label CSV, collecting problems instead of raising on bad rows.

    Args:
        path: the CSV file (`train.csv`, `sample_submission.csv`, the HPAv18 label file).
        require_targets: True for training CSVs: an empty Target is an error. False for
            test CSVs, whose label column is ignored.
        data: the file's bytes, if already read (`path` then only names it in messages).
        scheme: "hpa2018" or "hpa2021"; None: from the header (`Id,Target` is 2018,
            `ID,Label` 2021). A header that does not fit the scheme given is an error.

    Returns:
        The table of the good rows, and the problems found (rows with errors are left out
        of the table).

    Raises:
        DataError: the file is missing, unreadable, not UTF-8 text, or has no usable header.
    """
    path = os.fspath(path)
    if data is None:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise DataError(f"{path}: cannot read label CSV ({e.strerror})") from None
    text = _decode(data, path)
    if "\x00" in text:
        raise DataError(f"{path}: not a CSV file (contains NUL bytes)")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        raise DataError(f"{path}: malformed CSV ({e})") from None

    header_line = next((i for i, r in enumerate(rows) if any(c.strip() for c in r)), None)
    if header_line is None:
        raise DataError(f"{path}: empty CSV (expected a header 'Id,Target')")
    header = [c.strip() for c in rows[header_line]]
    found = _scheme_of(header)
    sc = get_scheme(scheme) if scheme is not None else found
    if sc is not None and sc.name == "own" and found is SCHEMES["hpa2018"]:
        found = sc  # a user's own classes, written as 2018's Id,Target
    if found is None or found is not sc:
        want = (
            "'Id,Target' (or 'Id,Predicted' for a test CSV)"
            if sc is None or sc.name == "hpa2018"
            else "'ID,Label' (2021; a test CSV starts 'ID,ImageWidth')"
        )
        raise DataError(
            f"{path}:{header_line + 1}: header is {','.join(header)!r}; expected {want}"
        )
    n_classes = sc.n_classes

    source_col = header.index("Source") if "Source" in header else None
    ids, targets, lines, sources, problems = [], [], [], [], []
    first_row: dict[str, int] = {}
    for i in range(header_line + 1, len(rows)):
        line, row = i + 1, rows[i]
        if not any(c.strip() for c in row):
            continue  # blank line
        sample_id = row[0].strip()
        if len(row) != len(header):
            problems.append(
                Problem(
                    path,
                    f"expected {len(header)} fields, found {len(row)}",
                    line,
                    sample_id or None,
                )
            )
            continue
        reason = check_id(sample_id)
        if reason:
            problems.append(Problem(path, reason, line, None))
            continue
        if sample_id in first_row:
            problems.append(
                Problem(
                    path, f"duplicate Id (first on line {first_row[sample_id]})", line, sample_id
                )
            )
            continue
        first_row[sample_id] = line
        multi_hot = np.zeros(n_classes, np.uint8)
        if require_targets:
            try:
                labels = parse_target(row[1], sc)
            except ValueError as e:
                problems.append(Problem(path, str(e), line, sample_id))
                continue
            if not labels:
                problems.append(Problem(path, f"empty {header[1]}", line, sample_id))
                continue
            if sc.negative in labels and set(labels) != {sc.negative}:
                problems.append(
                    Problem(
                        path,
                        f"{row[1].strip()!r}: label {sc.negative} (Negative) stands alone "
                        "(no location can be present in a negative field)",
                        line,
                        sample_id,
                    )
                )
                continue
            if len(set(labels)) < len(labels):
                problems.append(
                    Problem(
                        path,
                        f"label repeated in {row[1].strip()!r} (counted once)",
                        line,
                        sample_id,
                        severity="note",
                    )
                )
            multi_hot[labels] = 1
        ids.append(sample_id)
        targets.append(multi_hot)
        lines.append(line)
        if source_col is not None:
            sources.append(row[source_col].strip())

    table = LabelTable(
        ids=tuple(ids),
        targets=np.array(targets, np.uint8).reshape(-1, n_classes),
        rows=tuple(lines),
        path=path,
        sources=tuple(sources),
        scheme=sc.name,
    )
    return table, problems


def read_labels(
    path: str | os.PathLike, require_targets: bool = True, scheme: str | None = None
) -> LabelTable:
    """Reads a label CSV, raising `DataError` listing every bad row if there is any (notes,
    such as a label repeated within a row, do not raise)."""
    table, problems = parse_label_csv(path, require_targets, scheme=scheme)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise DataError(
            f"{len(errors)} problem(s) in {os.fspath(path)}:\n" + "\n".join(str(p) for p in errors)
        )
    return table


def write_labels(path: str | os.PathLike, ids, targets) -> None:
    """Writes an `Id,Target` CSV (LF line ends, labels ascending)."""
    from gapnet.io import atomic_write_text

    lines = ["Id,Target"] + [f"{i},{format_target(t)}" for i, t in zip(ids, targets, strict=True)]
    atomic_write_text(path, "\n".join(lines) + "\n")

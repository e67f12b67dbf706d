"""Checking a dataset before anything trains: every CSV row and every image file.

Each problem names the file or the CSV row (with its Id). Errors: a missing, empty,
truncated, corrupt or non-image file, and every CSV error of `gapnet.data.labels`. Notes (not
errors): 16-bit files, colour files (one plane used), sizes other than the target size.
Files are fully decoded (a header check misses truncated data), in parallel threads.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from gapnet.data.images import ImageError, read_channel
from gapnet.data.labels import DataError, Problem
from gapnet.data.source import HPASource, open_source
from gapnet.progress import track


@dataclass
class ValidationReport:
    source: HPASource
    problems: list[Problem] = field(default_factory=list)
    bad_ids: list[str] = field(default_factory=list)  # samples with an image error

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def notes(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "note"]

    def summary(self) -> str:
        n = len(self.source.labels) + len({p.row for p in self.source.csv_problems})
        usable = len(self.source.labels) - len(self.bad_ids)  # rows with good files
        return (
            f"{self.source.csv_path}: {n} rows, {usable} usable samples, "
            f"{len(self.errors)} error(s), {len(self.notes)} note(s), "
            f"{len(self.bad_ids)} sample(s) with bad image files"
        )


def _check_sample(source: HPASource, sample_id: str, size: int) -> list[Problem]:
    problems = []
    for color, path in zip(source.channels.roles, source.paths(sample_id), strict=True):
        notes: list[str] = []
        try:
            read_channel(path, color, size, notes)
        except ImageError as e:
            problems.append(Problem(path, e.reason, sample_id=sample_id))
        problems += [Problem(path, n, sample_id=sample_id, severity="note") for n in notes]
    return problems


def validate(
    root: str | os.PathLike,
    split: str = "train",
    size: int = 512,
    workers: int | None = None,
    progress: bool = True,
    scheme: str | None = None,
    channels=None,
) -> ValidationReport:
    """Checks every CSV row and every image file of a dataset split.

    Args:
        root: the dataset folder (Kaggle layout).
        split: "train" or "test".
        size: the training image size (files of another size get a note).
        workers: decoding threads (default: CPU count).
        progress: report progress (`gapnet.progress.track`).
        scheme: the label scheme; None: the CSV header's (`gapnet.data.labels`).
        channels: the run's `gapnet.channels.ChannelSet` (default: the four).

    Raises:
        DataError: the folder or CSV is unusable as a whole (missing, no header).
    """
    source = open_source(root, split, scheme, channels)
    report = ValidationReport(source, list(source.csv_problems))
    ids = source.labels.ids
    workers = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(workers) as pool:  # PIL and zlib release the GIL while decoding
        results = pool.map(lambda i: _check_sample(source, i, size), ids, chunksize=8)
        bar = track(len(ids), "validating", enabled=progress)
        for sample_id, problems in zip(ids, results, strict=True):
            bar.update()
            report.problems += problems
            if any(p.severity == "error" for p in problems):
                report.bad_ids.append(sample_id)
        bar.close()
    return report


def summarize_notes(notes: list[Problem], first: int = 3) -> list[str]:
    """Notes as lines, one per kind (a 2021 set gives one per channel file: ~87,000): a kind
    with more than `first` notes becomes one line with its count and its first `first`
    files or rows; the others are printed as they are. Kinds keep their first order."""
    kinds: dict[tuple, list[Problem]] = {}
    for p in notes:
        kind = re.sub(r"'[^']*'", "'...'", p.message)  # a CSV cell quoted in the message
        kinds.setdefault((p.row is None, kind), []).append(p)
    lines = []
    for (is_file, kind), group in kinds.items():
        if len(group) <= first:
            lines += [str(p) for p in group]
            continue
        where = ", ".join(
            (p.path if is_file else f"{p.path}:{p.row}")
            + (f" (Id {p.sample_id})" if p.sample_id else "")
            for p in group[:first]
        )
        what = "files" if is_file else "rows"
        lines.append(f"NOTE {len(group):,} {what}: {kind}; e.g. {where}, ...")
    return lines


SKIP_HINT = "Fix the files, or rerun with --skip-bad to drop these samples."


def check_or_raise(
    report: ValidationReport, skip_bad: bool, log=print, hint: str = SKIP_HINT
) -> list[str]:
    """The guard in front of training: the usable Ids, or DataError listing the errors
    and ending with `hint` (what the command that called it lets the user do).

    With `skip_bad`, samples with bad image files are dropped and logged instead (CSV
    rows with errors are always left out and logged).
    """
    errors = report.errors
    image_errors = [p for p in errors if p.row is None]
    csv_errors = [p for p in errors if p.row is not None]
    if errors and not skip_bad:
        listing = "\n".join(str(p) for p in errors[:50])
        more = f"\n... and {len(errors) - 50} more" if len(errors) > 50 else ""
        raise DataError(f"{report.summary()}\n{listing}{more}\n{hint}")
    if csv_errors:
        log(
            f"skip-bad: left out {len(csv_errors)} bad CSV row(s): "
            + ", ".join(f"line {p.row}" for p in csv_errors)
        )
    if image_errors:
        log(
            f"skip-bad: dropped {len(report.bad_ids)} sample(s) with bad image files: "
            + ", ".join(report.bad_ids)
        )
    bad = set(report.bad_ids)
    return [i for i in report.source.labels.ids if i not in bad]

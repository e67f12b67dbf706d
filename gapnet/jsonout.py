"""`--json` on a script: one valid JSON object on stdout, everything else on stderr.

    @json_main
    def main(argv=None):
        ...              # tables, progress lines, library logs: printed as usual
        if args.json:
            emit(result)  # the object, on the real stdout

`json_main` sends what the script prints (`print`, Keras, gapnet's logs and progress
lines) to stderr while it runs when its arguments hold `--json`, so
`script.py --json > out.json` writes one object. `dumps` writes NaN and infinities as
null (JSON has none; `json.dumps` would write the bare word NaN, which strict parsers
refuse), NumPy values as numbers and lists, dataclasses as their fields.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import sys

_STDOUT: list = []  # the real stdout of each `json_main` running, innermost last


def clean(obj):
    """`obj` with NaN / infinities as None, NumPy scalars and arrays as Python numbers and
    lists, dataclass instances as dicts; tuples as lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return clean(dataclasses.asdict(obj))
    if hasattr(obj, "tolist") and type(obj).__module__ == "numpy":
        return clean(obj.tolist())
    return obj


def dumps(obj, indent: int | None = 1, default=None) -> str:
    """Strict JSON of `obj` (`clean`ed; `default` for any other type, as in json.dumps)."""
    return json.dumps(clean(obj), indent=indent, allow_nan=False, default=default)


def wants_json(argv) -> bool:
    """Whether a command line asks for --json (argparse's unique prefixes count)."""
    return any(a.startswith("--js") and "--json".startswith(a) for a in argv)


def emit(obj, default=None) -> None:
    """Prints `obj` as strict JSON on the real stdout (the one `json_main` set aside)."""
    stream = _STDOUT[-1] if _STDOUT else sys.stdout
    stream.write(dumps(obj, default=default) + "\n")
    stream.flush()


def json_main(main):
    """Wraps `main(argv=None)`: with --json in its arguments, whatever it prints goes to
    stderr while it runs and only `emit` writes to stdout."""

    @functools.wraps(main)
    def run(argv=None):
        args = sys.argv[1:] if argv is None else list(argv)
        if not wants_json(args):
            return main(argv)
        _STDOUT.append(sys.stdout)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                return main(argv)
        finally:
            _STDOUT.pop()

    return run

"""Every command the README and docs/ show names a script that exists and flags it accepts."""

import contextlib
import glob
import io
import os
import re
import runpy

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = [os.path.join(REPO, "README.md")] + sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
COMMAND = re.compile(
    r"python ((?:experiments|data_prep|benchmarks)/\w+\.py)([^`\n]*(?:\\\n[^`\n]*)*)"
)


def commands():
    """(page, script, argument text) of every `python <script>.py ...` on the pages."""
    found = []
    for page in PAGES:
        text = open(page, encoding="utf-8").read()
        for m in COMMAND.finditer(text):
            args = m.group(2).replace("\\\n", " ").split("#")[0]
            found.append((os.path.basename(page), m.group(1), args))
    return found


_HELP: dict = {}


def help_text(script: str) -> str:
    """The script's --help output, from its `main(argv)` run in this process."""
    if script not in _HELP:
        module = runpy.run_path(os.path.join(REPO, script), run_name="gapnet_docs_check")
        out = io.StringIO()
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as e:
            module["main"](["--help"])
        assert e.value.code == 0, script
        _HELP[script] = out.getvalue()
    return _HELP[script]


def flags(args: str) -> list[str]:
    return [f.split("=")[0] for f in re.findall(r"(?<![\w-])--[a-z][\w-]*(?:=\S*)?", args)]


ALL = commands()


def test_the_pages_show_commands():
    assert len(ALL) > 30 and {s for _, s, _ in ALL} >= {
        "experiments/run_kfold.py",
        "experiments/predict.py",
        "data_prep/validate.py",
        "benchmarks/train_speed.py",
    }


@pytest.mark.parametrize("script", sorted({s for _, s, _ in ALL}))
def test_every_shown_flag_is_accepted(script):
    assert os.path.isfile(os.path.join(REPO, script)), script
    bad = []
    for page, name, args in ALL:
        if name != script:
            continue
        own, _, passed_on = args.partition(" -- ")  # main_job.py passes these to run_kfold.py
        for flag in flags(own):
            if flag not in re.findall(r"--[\w-]+", help_text(script)):
                bad.append(f"{page}: {script} {flag}")
        for flag in flags(passed_on):
            if flag not in re.findall(r"--[\w-]+", help_text("experiments/run_kfold.py")):
                bad.append(f"{page}: {script} -- {flag}")
    assert not bad, bad


def test_every_dotted_name_the_pages_cite_exists():
    import importlib

    missing = []
    for page in PAGES:
        text = open(page, encoding="utf-8").read()
        for name in set(re.findall(r"`(gapnet(?:\.\w+)+)", text)):
            parts = name.split(".")
            for cut in range(len(parts), 0, -1):  # the longest importable module, then attributes
                try:
                    obj = importlib.import_module(".".join(parts[:cut]))
                    break
                except ImportError:
                    continue
            try:
                for attr in parts[cut:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                missing.append(f"{os.path.basename(page)}: {name}")
    assert not missing, missing


def test_the_architecture_page_lists_every_room_and_module_in_stage_order():
    """docs/architecture.md's table: one row per room in tests/test_layout.py's stage
    order, naming every module of the room (the registered architectures stand as "one
    file per architecture")."""
    from tests.test_layout import STAGES

    text = open(os.path.join(REPO, "docs", "architecture.md"), encoding="utf-8").read()
    rows = re.findall(r"^\| (\d+) \| `([\w/]+)` \| ([^|]*) \|", text, re.M)
    root = os.path.join(REPO, "gapnet")
    rooms = [room.rstrip("/") for _, room, _ in rows]
    assert [int(stage) for stage, _, _ in rows] == list(range(len(rows)))
    top = {k for k, v in STAGES.items() if v == 0}
    assert rooms[0] == "gapnet" and rooms[1:] == sorted(set(STAGES) - top, key=STAGES.get)
    for (stage, _, modules), name in zip(rows, rooms, strict=True):
        listed = set(re.findall(r"`(\w+)/?`", modules))
        if name == "gapnet":
            actual = {f[:-3] for f in os.listdir(root) if f.endswith(".py")} - {"__init__"}
            assert actual == listed == top, (sorted(actual ^ listed), sorted(listed ^ top))
            continue
        assert int(stage) == STAGES[name], name
        path = os.path.join(root, name)
        actual = {f[:-3] for f in os.listdir(path) if f.endswith(".py") and f[0] != "_"}
        actual |= {d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))}
        actual -= {"__pycache__"}
        if name == "models":
            from gapnet import models

            actual -= set(models.list_models(networks_only=True))
        assert actual <= listed, (name, sorted(actual - listed))
        if name not in ("models", "data"):  # models: "one file per architecture"
            assert listed <= actual | {"__init__"}, (name, sorted(listed - actual))
    dirs = {d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))}
    assert dirs - {"resources", "__pycache__"} == set(rooms[1:])

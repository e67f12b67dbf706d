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


def test_the_readme_layout_tree_lists_every_module():
    text = open(PAGES[0], encoding="utf-8").read()
    tree = text[text.index("## Layout") : text.index("## Documentation")]
    block = tree[tree.index("```\ngapnet/") : tree.index("experiments/")]
    listed, folder = {}, None
    for line in block.splitlines()[2:]:
        m = re.match(r"  (\w+)/\s+(.*)", line)
        if m:
            folder, rest = m.group(1), m.group(2)
        elif line.startswith("  ") and not line.startswith("   ") and ".py" in line:
            folder, rest = "", line.strip().split("   ")[0]
        elif folder is not None and line.startswith("     "):
            rest = line
        else:
            continue
        words = re.findall(r"(\w+)(?:\.py|/)?", rest)
        listed.setdefault(folder, set()).update(words)
    root = os.path.join(REPO, "gapnet")
    for folder, words in listed.items():
        path = os.path.join(root, folder)
        actual = {f[:-3] for f in os.listdir(path) if f.endswith(".py") and not f.startswith("_")}
        actual |= {
            d
            for d in os.listdir(path)
            if folder and os.path.isdir(os.path.join(path, d)) and not d.startswith("_")
        }
        if folder == "models":  # "one file per architecture" stands for the registered ones
            from gapnet import models

            actual -= set(models.list_models(networks_only=True))
        assert actual <= words, (folder or "gapnet/", sorted(actual - words))
    dirs = {
        d
        for d in os.listdir(root)
        if os.path.isdir(os.path.join(root, d)) and not d.startswith("_") and d != "resources"
    }
    assert dirs == set(listed) - {""}

"""The command-line scripts of experiments/, data_prep/ and benchmarks/ as a user meets
them: --help without TensorFlow, and clear errors (no traceback) for a missing or unfinished run."""

import glob
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = sorted(
    os.path.relpath(p, ROOT)
    for p in glob.glob(os.path.join(ROOT, "experiments", "*.py"))
    + glob.glob(os.path.join(ROOT, "data_prep", "*.py"))
)
BENCHMARKS = sorted(  # benchmarks/common.py and the like are imported, not run
    os.path.relpath(p, ROOT)
    for p in glob.glob(os.path.join(ROOT, "benchmarks", "*.py"))
    if "argparse" in open(p, encoding="utf-8").read()
)

# Runs a script's --help in this process and reports whether TensorFlow (or Keras) was
# imported: parsing the arguments must come first, so --help is instant.
HELP_PROBE = """
import runpy, sys
sys.argv = [sys.argv[1], "--help"]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as e:
    assert e.code in (0, None), e.code
heavy = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
"""


def env():
    e = dict(os.environ, PYTHONPATH=ROOT)
    for key in ("GAPNET_QUIET_TF", "TF_CPP_MIN_LOG_LEVEL"):  # as a user starts them
        e.pop(key, None)
    return e


def run_all(commands: dict, workers: int = 4) -> dict:
    """{key: CompletedProcess} of every command, run a few at a time (each is a fresh
    interpreter that mostly waits on its imports: in parallel they take half the time)."""

    def one(cmd):
        return subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=300)

    with ThreadPoolExecutor(workers) as pool:
        done = dict(zip(commands, pool.map(one, commands.values()), strict=True))
    return done


@pytest.fixture(scope="module")
def helps():
    return run_all({s: [sys.executable, "-c", HELP_PROBE, s] for s in SCRIPTS + BENCHMARKS})


@pytest.mark.parametrize("script", SCRIPTS + BENCHMARKS)
def test_help_does_not_import_tensorflow(helps, script):
    out = helps[script]
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "HEAVY:", f"{script} --help imported them"


HELPERS = sorted(  # modules of benchmarks/ that scripts import; a user may still run one
    os.path.relpath(p, ROOT)
    for p in glob.glob(os.path.join(ROOT, "benchmarks", "*.py"))
    if os.path.relpath(p, ROOT) not in BENCHMARKS and not p.endswith("__init__.py")
)


def test_a_benchmark_helper_run_as_a_script_names_the_script_to_run():
    """`python benchmarks/scale_plan.py --help` from the repository root, as a user types
    it (no PYTHONPATH): one line naming the script that uses it, no traceback (it died in
    `from benchmarks.common import ...`)."""
    assert "benchmarks/scale_plan.py" in HELPERS and "benchmarks/common.py" in HELPERS
    user = {k: v for k, v in env().items() if k != "PYTHONPATH"}
    for rel in HELPERS:
        out = subprocess.run(
            [sys.executable, rel, "--help"], cwd=ROOT, env=user, capture_output=True, text=True
        )
        assert "Traceback" not in out.stderr, out.stderr
        assert out.returncode == 1, (rel, out.returncode)
        assert out.stderr.startswith(f"{rel}: helpers of benchmarks/"), out.stderr
        assert "not a script; run python benchmarks/" in out.stderr, out.stderr


# (script, its arguments around the run folder RUN): every script that reads a run.
RUN_SCRIPTS = [
    ("experiments/predict.py", ["--run", "RUN", "--data", "ROOT"]),
    ("experiments/predict.py", ["--run", "RUN", "--images", "ROOT"]),
    ("experiments/explain.py", ["--run", "RUN"]),
    ("experiments/export.py", ["--run", "RUN", "--out", "OUT"]),
    ("experiments/report.py", ["RUN"]),
    ("experiments/compare.py", ["RUN"]),
    ("experiments/finetune_head.py", ["--run", "RUN"]),
]


def unfinished_run(path):
    """A run killed in its first fold: config, folds, a fold folder without its marker."""
    (path / "fold_0").mkdir(parents=True)
    (path / "config.json").write_text('{"model": "gapnet"}\n')
    (path / "folds.csv").write_text("Id,fold\na,0\nb,1\n")
    return path


STATES = ("missing", "empty", "unfinished")


@pytest.fixture(scope="module")
def run_errors(tmp_path_factory):
    """Every (script, state) run once, in parallel: {key: (CompletedProcess, run, tmp)}."""
    cases, commands = {}, {}
    for n, (script, argv) in enumerate(RUN_SCRIPTS):
        for state in STATES:
            tmp = tmp_path_factory.mktemp(f"case{n}{state}")
            run = tmp / "runs" / "my-run"
            if state == "empty":
                run.mkdir(parents=True)
            elif state == "unfinished":
                unfinished_run(run)
            subs = {"RUN": str(run), "ROOT": str(tmp), "OUT": str(tmp / "out")}
            key = (script, tuple(argv), state)
            cases[key] = (run, tmp)
            commands[key] = [sys.executable, script, *[subs.get(a, a) for a in argv]]
    done = run_all(commands)
    return {k: (done[k], *cases[k]) for k in commands}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("script,argv", RUN_SCRIPTS, ids=lambda v: str(v))
def test_a_missing_or_unfinished_run_is_named_without_a_traceback(run_errors, script, argv, state):
    out, run, tmp_path = run_errors[(script, tuple(argv), state)]
    assert out.returncode == 1, out.stderr  # every script alike; 2 is argparse's usage error
    assert "Traceback" not in out.stderr, out.stderr
    err = out.stderr.strip().splitlines()
    assert err and err[-1].startswith("error: ") and str(run) in err[-1], out.stderr
    want = {
        "missing": "no such run folder",
        "empty": "not a run folder",
        "unfinished": "not finished",
    }
    assert want[state] in err[-1]
    assert not (tmp_path / "out").exists()  # nothing written for a run that is not there


def test_jit_compile_help_states_what_it_costs_on_a_cpu():
    out = subprocess.run(
        [sys.executable, "experiments/run_kfold.py", "--help"],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
    )
    text = " ".join(out.stdout.split())  # argparse wraps the help
    jit = text[text.index("--jit-compile") :]
    assert "4-5x slower" in jit and "without a GPU" in jit
    doc = open(os.path.join(ROOT, "docs", "configuration.md")).read()
    assert "`jit_compile` (`--jit-compile`" in doc and "0.78-0.91 img/s" in doc

"""The command-line scripts of experiments/ and data_prep/ as a user meets them: --help
without TensorFlow, and clear errors (no traceback) for a missing or unfinished run."""

import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = sorted(
    os.path.relpath(p, ROOT)
    for p in glob.glob(os.path.join(ROOT, "experiments", "*.py"))
    + glob.glob(os.path.join(ROOT, "data_prep", "*.py"))
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


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_does_not_import_tensorflow(script):
    out = subprocess.run(
        [sys.executable, "-c", HELP_PROBE, script],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "HEAVY:", f"{script} --help imported them"

"""Commands start quietly: TensorFlow's start-up lines are hidden unless the user asks."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = (
    "import os; from gapnet.quiet import quiet_tensorflow; quiet_tensorflow(); "
    "import tensorflow as tf; tf.constant(1.0) + 1; "
    "print('gapnet first', os.environ['TF_CPP_MIN_LOG_LEVEL'])"
)
NOISE = ("oneDNN", "cuInit", "cuda drivers", "absl::InitializeLog")


def _run(env_level):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if env_level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = env_level
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout + out.stderr


@pytest.mark.slow  # three TensorFlow start-ups in subprocesses (~30 s)
def test_the_first_line_is_gapnets_and_a_users_level_wins():
    quiet = _run(None)
    assert quiet.splitlines()[0] == "gapnet first 3", quiet
    assert not any(n in quiet for n in NOISE), quiet
    loud = _run("0")
    assert "gapnet first 0" in loud  # the user's level is kept, nothing hidden
    assert "cuInit" in loud or "oneDNN" in loud or "cuda" in loud  # what the quiet start hides


CHILD = (
    "import multiprocessing as mp, os, sys\n"
    "from gapnet.quiet import quiet_tensorflow\n"
    "quiet_tensorflow()  # at the top, as every command does: spawn re-runs it in workers\n"
    "def work(_):\n"
    "    import gapnet.models  # TensorFlow, in a fresh (spawned) worker\n"
    "    return os.environ['TF_CPP_MIN_LOG_LEVEL']\n"
    "def light(_):\n"
    "    import gapnet  # a worker that needs no TensorFlow does not import it\n"
    "    return 'tensorflow' in sys.modules\n"
    "if __name__ == '__main__':\n"
    "    with mp.get_context('spawn').Pool(1) as pool:\n"
    "        print('worker level', pool.map(work, [0])[0])\n"
    "    with mp.get_context('spawn').Pool(1) as pool:\n"
    "        print('light worker imported tensorflow', pool.map(light, [0])[0])\n"
)


@pytest.mark.slow  # two TensorFlow start-ups in subprocesses
def test_a_commands_spawned_workers_start_quietly_too(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {
        k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "GAPNET_QUIET_TF")
    }
    out = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == [
        "worker level 3",
        "light worker imported tensorflow False",
    ]
    assert not any(n in out.stderr for n in NOISE), out.stderr


TF_COMMANDS = (
    "experiments/run_kfold.py experiments/report.py experiments/export.py experiments/explain.py "
    "experiments/predict.py experiments/finetune_head.py data_prep/build_cache.py "
    "data_prep/import_external.py benchmarks/train_speed.py benchmarks/gpu.py "
    "benchmarks/pipeline.py benchmarks/localization.py"
).split()


def test_every_command_that_uses_tensorflow_quiets_it_before_its_imports():
    for path in TF_COMMANDS:
        text = open(os.path.join(ROOT, path)).read()
        call = text.find("quiet_tensorflow()")
        assert call > 0, f"{path} does not call it"
        for heavy in ("\nimport tensorflow", "\nimport keras", "\nfrom gapnet.models"):
            at = text.find(heavy)
            assert at < 0 or at > call, f"{path} imports {heavy.strip()} before quieting"

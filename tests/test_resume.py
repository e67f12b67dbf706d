"""Nothing lost: interrupted folds resume exactly; locks, config changes, --fold + merge."""

import json
import os

import numpy as np
import pytest

from gapnet.config import Config
from gapnet.cv.kfold import merge, run_kfold
from gapnet.cv.runfolder import RunError, read_predictions
from gapnet.cv.runlock import RunLock
from gapnet.data.synthetic.generate import write_dataset
from gapnet.training import resume

SMALL = dict(
    image_size=32,
    epochs=3,
    batch_size=8,
    folds=2,
    verbose=0,
    deterministic=True,
    early_stopping_patience=0,
    model_kwargs={"widths": [8, 8, 8], "dense": [16, 16]},
)
quiet = dict(log=lambda *a: None)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("syn"), 24, 32, seed=3, workers=1, progress=False)


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """An uninterrupted deterministic run."""
    out = str(tmp_path_factory.mktemp("ref"))
    run_kfold(Config(data=data, **SMALL), out, **quiet)
    return out


def _oof(out):
    return read_predictions(os.path.join(out, "oof_predictions.csv"))[1]


class Interrupt(BaseException):
    """Stands in for SIGKILL inside the process (the subprocess test uses the real one)."""


@pytest.mark.slow
def test_a_fold_interrupted_mid_epoch_resumes_to_identical_predictions(
    data, reference, tmp_path, monkeypatch
):
    out = str(tmp_path / "run")
    original = resume.StopOnNaN.on_train_batch_end

    def die(self, batch, logs=None):  # fold 1, second epoch, second batch
        if self.fold == 1 and self.epoch == 1 and batch == 1:
            raise Interrupt()
        return original(self, batch, logs)

    monkeypatch.setattr(resume.StopOnNaN, "on_train_batch_end", die)
    with pytest.raises(Interrupt):
        run_kfold(Config(data=data, **SMALL), out, **quiet)
    assert resume.load_state(os.path.join(out, "fold_1"))["epoch"] == 1
    monkeypatch.setattr(resume.StopOnNaN, "on_train_batch_end", original)
    logs = []
    run_kfold(Config(data=data, **SMALL), out, log=logs.append)
    assert "fold 0: already finished, skipped" in logs
    assert any("fold 1: resuming after epoch 1" in m for m in logs)
    # Deterministic mode: same folds, bit-identical predictions and history.
    assert (
        open(os.path.join(out, "folds.csv")).read()
        == open(os.path.join(reference, "folds.csv")).read()
    )
    np.testing.assert_array_equal(_oof(out), _oof(reference))
    history = open(os.path.join(out, "fold_1", "history.csv")).read()
    assert history == open(os.path.join(reference, "fold_1", "history.csv")).read()
    assert not os.path.exists(os.path.join(out, "fold_1", "resume"))  # cleared when done


@pytest.mark.slow
def test_separate_folds_then_merge_equal_the_whole_run(data, reference, tmp_path):
    out = str(tmp_path / "run")
    cfg = Config(data=data, **SMALL)
    for k in (1, 0):
        assert run_kfold(cfg, out, fold=k, **quiet) is None
    m = merge(out, **quiet)
    np.testing.assert_array_equal(_oof(out), _oof(reference))
    assert m["macro_f1"] == json.load(open(os.path.join(reference, "metrics.json")))["macro_f1"]


def test_merge_names_the_unfinished_folds(tiny_run, tmp_path):
    import shutil

    out = shutil.copytree(tiny_run[0], tmp_path / "run")
    os.remove(out / "fold_1" / "done.json")  # as if fold 1 were still training
    with pytest.raises(RunError, match=r"folds \[1\] have not finished"):
        merge(str(out), **quiet)


def test_merge_warns_when_the_folds_were_trained_on_different_data(tiny_run, tmp_path):
    """Folds trained separately (--fold K) before and after an image was edited are
    merged with a warning naming them (each fold's done.json records its data)."""
    import shutil

    from gapnet.io import atomic_write_json, read_json

    out = shutil.copytree(tiny_run[0], tmp_path / "run")
    done = read_json(out / "fold_1" / "done.json")
    atomic_write_json(out / "fold_1" / "done.json", {**done, "data": "before an image was edited"})
    logs = []
    merge(str(out), log=logs.append)
    assert any("trained on different data" in x and "[0, 2] vs [1]" in x for x in logs), logs


def test_a_changed_config_is_refused_unless_forced(tiny_run, tmp_path):
    import shutil

    out = shutil.copytree(tiny_run[0], tmp_path / "run")
    cfg = Config.from_file(os.path.join(out, "config.json"))
    with pytest.raises(RunError, match=r"learning_rate: 0.001 -> 0.01.*--force"):
        run_kfold(cfg.with_overrides(["learning_rate=0.01"]), out, **quiet)
    logs = []  # forced: the finished folds are kept, the new config recorded
    run_kfold(cfg.with_overrides(["learning_rate=0.01"]), out, force=True, log=logs.append)
    assert any("changed config" in m for m in logs)
    assert Config.from_file(os.path.join(out, "config.json")).learning_rate == 0.01


def test_a_locked_run_folder_is_refused(data, tmp_path):
    out = str(tmp_path / "run")
    with RunLock(os.path.join(out, ".lock")):
        with pytest.raises(
            RunError, match=f"in use by another gapnet process \\(pid {os.getpid()}"
        ):
            run_kfold(Config(data=data, **SMALL), out, **quiet)
        with pytest.raises(RunError, match="in use"):
            merge(out, **quiet)
    with RunLock(os.path.join(out, ".lock"), shared=True):  # fold processes share the run
        with RunLock(os.path.join(out, ".lock"), shared=True):
            pass


def test_the_lock_file_exists_only_while_held_and_the_last_shared_holder_removes_it(tmp_path):
    path = str(tmp_path / "run" / ".lock")
    with RunLock(path):
        assert os.path.exists(path)
    assert not os.path.exists(path)
    with RunLock(path, shared=True):  # two --fold K processes
        with RunLock(path, shared=True):
            pass
        assert os.path.exists(path)  # the other still trains
    assert not os.path.exists(path)


def test_a_lock_removed_between_open_and_flock_is_taken_again_on_the_new_file(
    tmp_path, monkeypatch
):
    """Removing the file is safe: a process that opened it just before its holder removed
    it must not lock the orphan (two processes would then both 'hold' the run)."""
    import fcntl

    path = str(tmp_path / ".lock")
    first = RunLock(path).__enter__()
    real, calls = fcntl.flock, []

    def flock(fd, op):
        if not calls:  # the holder finishes between our open and our flock
            calls.append(fd)
            first.__exit__(None, None, None)
        return real(fd, op)

    monkeypatch.setattr(fcntl, "flock", flock)
    with RunLock(path) as second:
        assert os.path.exists(path)
        assert os.fstat(second.fd).st_ino == os.stat(path).st_ino
        monkeypatch.setattr(fcntl, "flock", real)
        with pytest.raises(RunError, match="in use"):  # a third process sees it held
            RunLock(path).__enter__()
    assert not os.path.exists(path)


def test_a_non_finite_loss_names_fold_epoch_and_batch():
    import keras

    x = np.ones((16, 4), np.float32)
    x[9] = np.nan  # batch 3 of 4 (batch size 4, no shuffling)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(resume.TrainingError, match="fold 2, epoch 1, batch 3: the training loss"):
        model.fit(
            x,
            np.zeros((16, 1)),
            batch_size=4,
            shuffle=False,
            verbose=0,
            callbacks=[resume.StopOnNaN(fold=2)],
        )


def test_trim_history_drops_rows_of_unfinished_epochs(tmp_path):
    p = tmp_path / "history.csv"
    p.write_text("epoch,loss\n0,1.0\n1,0.9\n2,0.8\n")
    resume.trim_history(str(p), 2)
    assert p.read_text() == "epoch,loss\n0,1.0\n1,0.9\n"


@pytest.mark.slow
def test_the_cache_with_device_augmentation_resumes_to_identical_predictions(
    data, tmp_path, monkeypatch
):
    """The accelerator path: uint8 batches from the cache, augmentation inside the model
    (its random state saved and restored with the epoch): an interrupted fold ends with the
    predictions of an uninterrupted one, bit for bit."""
    import shutil

    from gapnet.data import cache

    root = str(tmp_path / "data")
    shutil.copytree(data, root)
    cache.build(root, 32, progress=False, log=lambda *a: None)
    cfg = Config(data=root, **dict(SMALL, aug_backend="device", cache="require"))
    logs = []
    run_kfold(cfg, str(tmp_path / "ref"), log=logs.append)
    assert any("augmentation: device" in m for m in logs)
    assert any("uint8 cache" in m for m in logs)
    original = resume.StopOnNaN.on_train_batch_end

    def die(self, batch, logs=None):
        if self.fold == 0 and self.epoch == 1 and batch == 0:
            raise Interrupt()
        return original(self, batch, logs)

    monkeypatch.setattr(resume.StopOnNaN, "on_train_batch_end", die)
    out = str(tmp_path / "run")
    with pytest.raises(Interrupt):
        run_kfold(cfg, out, **quiet)
    monkeypatch.setattr(resume.StopOnNaN, "on_train_batch_end", original)
    run_kfold(cfg, out, **quiet)
    np.testing.assert_array_equal(_oof(out), _oof(str(tmp_path / "ref")))


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_matches_an_uninterrupted_run(data, tmp_path):
    """The real thing: `run_kfold.py` killed with SIGKILL three times at random moments."""
    import random
    import signal
    import subprocess
    import sys
    import time

    cfg = tmp_path / "small.json"
    cfg.write_text(json.dumps(dict(SMALL, epochs=5)))
    script = os.path.join(os.path.dirname(__file__), "..", "experiments", "run_kfold.py")

    def cmd(out):
        return [sys.executable, script, "--data", data, "--config", str(cfg), "--out", out]

    ref = str(tmp_path / "ref")
    subprocess.run(cmd(ref), check=True, capture_output=True)
    out, rng, kills = str(tmp_path / "killed"), random.Random(7), 0
    for _ in range(3):
        proc = subprocess.Popen(cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(6.0, 16.0))  # TF import ~5 s, then training
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 2
    done = subprocess.run(cmd(out), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        open(os.path.join(out, "oof_predictions.csv")).read()
        == open(os.path.join(ref, "oof_predictions.csv")).read()
    )
    for k in range(2):
        assert (
            open(os.path.join(out, f"fold_{k}", "history.csv")).read()
            == open(os.path.join(ref, f"fold_{k}", "history.csv")).read()
        )


def test_a_run_started_before_a_config_key_existed_resumes(tiny_run, tmp_path):
    import shutil

    out = shutil.copytree(tiny_run[0], tmp_path / "run")
    saved = json.load(open(out / "config.json"))
    del saved["tensorboard"]  # as written before the key was added
    json.dump(saved, open(out / "config.json", "w"))
    logs = []
    run_kfold(Config.from_file(out / "config.json"), str(out), log=logs.append)
    assert sum("already finished" in m for m in logs) == 3
    assert not any("changed config" in m for m in logs)


def test_saved_callback_states_that_do_not_fit_the_callbacks_stop_with_the_files_name():
    """--force may continue a fold with another config: a saved set of callback states
    that does not fit (another count, or another callback in the same place) is named,
    never applied in part or onto the wrong callback."""
    import keras

    from gapnet.training.resume import apply_states, callback_states

    stop = keras.callbacks.EarlyStopping(patience=3)
    plateau = keras.callbacks.ReduceLROnPlateau(patience=2)
    stop.wait, stop.best, stop.best_epoch, stop.stopped_epoch = 2, 0.4, 5, 0
    saved = {"callbacks": callback_states([stop])}
    fresh = keras.callbacks.EarlyStopping(patience=3)
    apply_states([fresh], saved, "F/state.json")
    assert (fresh.wait, fresh.best, fresh.best_epoch) == (2, 0.4, 5)
    with pytest.raises(resume.TrainingError, match="F/state.json"):
        apply_states([fresh, plateau], saved, "F/state.json")
    with pytest.raises(resume.TrainingError, match="ReduceLROnPlateau"):
        apply_states([plateau], saved, "F/state.json")

"""gapnet.progress and StepProgress: long stages write a few lines to a log, not a bar."""

import io

import keras
import numpy as np

from gapnet.progress import LineProgress, clock, progress_line, track


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_a_log_gets_one_line_per_five_percent_with_rate_and_eta():
    out = io.StringIO()
    with track(31072, "segmenting", stream=out) as bar:
        assert isinstance(bar, LineProgress)
        for _ in range(31072 // 8):
            bar.update(8)
    lines = out.getvalue().splitlines()
    assert 19 <= len(lines) <= 21 and len(out.getvalue()) < 4000
    assert lines[0].startswith("segmenting: 5% (1,560/31,072 sample)") and "ETA" in lines[0]
    assert lines[-1].startswith("segmenting: 100% (31,072/31,072 sample)")


def test_an_unfinished_stage_writes_where_it_stopped_and_silence_when_disabled():
    out = io.StringIO()
    with track(100, "caching", stream=out) as bar:
        bar.update(7)
    assert out.getvalue().splitlines()[-1].startswith("caching: 7% (7/100 sample)")
    quiet = io.StringIO()
    with track(100, "caching", enabled=False, stream=quiet) as bar:
        bar.update(100)
    assert quiet.getvalue() == ""


def test_a_terminal_gets_a_tqdm_bar():
    from tqdm import tqdm

    bar = track(10, "x", stream=_Tty())
    assert isinstance(bar, tqdm)
    bar.close()


def test_eta_is_the_remaining_work_at_the_rate_so_far():
    line = progress_line("predicting", 250, 1000, 50.0, "sample")
    assert line == ("predicting: 25% (250/1,000 sample) 5.0 sample/s, elapsed 0:50, ETA 2:30")
    assert clock(3725) == "1:02:05" and progress_line("x", 0, 5, 0.0, "s").endswith("ETA ?")


def test_step_progress_writes_a_few_lines_per_epoch_with_the_loss():
    from gapnet.training.callbacks import StepProgress

    out = io.StringIO()
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(inputs))
    model.compile("sgd", "mse")
    x, y = np.ones((400, 4), np.float32), np.zeros((400, 1), np.float32)
    model.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[StepProgress(stream=out)])
    lines = out.getvalue().splitlines()
    assert len(lines) == 40  # 20 per epoch of 200 steps
    assert lines[0].startswith("epoch 1/2 (loss ") and "(10/200 step)" in lines[0]
    assert lines[-1].startswith("epoch 2/2 (loss ") and "100% (200/200 step)" in lines[-1]
    # at 31,072 samples (1,942 steps of 16) an epoch still writes about 20 lines
    big = StepProgress(stream=io.StringIO(), steps=1942)
    big.set_model(model)
    big.params = {"epochs": 1}
    big.on_epoch_begin(0)
    for b in range(1942):
        big.on_train_batch_end(b, {"loss": 0.5})
    assert 20 <= len(big.stream.getvalue().splitlines()) <= 21 and len(big.stream.getvalue()) < 3000
    assert (
        keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(big)).steps
        == 1942
    )


def test_a_run_logged_to_a_file_gets_step_lines_not_a_bar(monkeypatch):
    import sys

    from gapnet.training.callbacks import StepProgress
    from gapnet.training.fit import fit_verbosity, step_lines

    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert fit_verbosity(1) == 2 and [type(c) for c in step_lines(1)] == [StepProgress]
    assert step_lines(0) == [] and step_lines(2) == []
    monkeypatch.setattr(sys, "stdout", _Tty())
    assert fit_verbosity(1) == 1 and step_lines(1) == []


def test_the_default_jobs_38_step_epochs_get_at_most_20_lines_in_a_log(monkeypatch):
    """`run_kfold.py > log` on the default job (38 steps an epoch): Keras' verbose is
    dropped to one line per epoch and StepProgress adds at most about 20 lines an epoch
    (rounding 5 % of 38 steps down to 1 once wrote a line per step)."""
    import sys

    from gapnet.training.fit import fit_verbosity, step_lines

    log = io.StringIO()
    monkeypatch.setattr(sys, "stdout", log)
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(inputs))
    model.compile("sgd", "mse")
    x, y = np.ones((38 * 4, 4), np.float32), np.zeros((38 * 4, 1), np.float32)
    model.fit(x, y, batch_size=4, epochs=2, verbose=fit_verbosity(1), callbacks=step_lines(1))
    lines = log.getvalue().splitlines()
    for e in (1, 2):
        steps = [s for s in lines if s.startswith(f"epoch {e}/2 (loss")]
        assert 10 <= len(steps) <= 20 and "100% (38/38 step)" in steps[-1]
    assert len(lines) <= 2 * 22  # with Keras' own line per epoch


def test_no_stage_writes_more_than_20_lines_whatever_its_size():
    for total in (1, 7, 19, 21, 38, 39, 100, 101, 999, 31072):
        out = io.StringIO()
        with track(total, "x", stream=out) as bar:
            for _ in range(total):
                bar.update()
        lines = out.getvalue().splitlines()
        assert 1 <= len(lines) <= 20 and lines[-1].startswith("x: 100%"), total

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


def tiny_model():
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(inputs))
    model.compile("sgd", "mse")
    return model


def epoch_lines(steps: int, seconds_per_step: float, epochs: int = 1) -> list[str]:
    """StepProgress's lines for `epochs` epochs of `steps` steps, each step taking
    `seconds_per_step` on a fake clock (no sleeping)."""
    from gapnet.training.callbacks import StepProgress

    now = [0.0]
    out = io.StringIO()
    bar = StepProgress(stream=out, steps=steps, clock=lambda: now[0])
    bar.set_model(tiny_model())
    bar.params = {"epochs": epochs}
    for e in range(epochs):
        bar.on_epoch_begin(e)
        for b in range(steps):
            now[0] += seconds_per_step
            bar.on_train_batch_end(b, {"loss": 0.5})
    return out.getvalue().splitlines()


def test_step_progress_writes_a_few_lines_per_epoch_with_the_loss():
    from gapnet.training.callbacks import StepProgress

    out, now = io.StringIO(), [0.0]
    model = tiny_model()
    tick = keras.callbacks.LambdaCallback(  # 3 s a step: a 10-minute epoch of 200 steps
        on_train_batch_end=lambda b, logs: now.__setitem__(0, now[0] + 3.0)
    )
    x, y = np.ones((400, 4), np.float32), np.zeros((400, 1), np.float32)
    progress = StepProgress(stream=out, clock=lambda: now[0])
    model.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[tick, progress])
    lines = out.getvalue().splitlines()
    assert len(lines) == 40  # 20 per epoch of 200 steps: every 5 % comes 30 s after the last
    assert lines[0].startswith("epoch 1/2 (loss ") and "(10/200 step)" in lines[0]
    assert lines[-1].startswith("epoch 2/2 (loss ") and "100% (200/200 step)" in lines[-1]
    big = StepProgress(stream=io.StringIO(), steps=1942)
    assert (
        keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(big)).steps
        == 1942
    )


def test_step_lines_come_at_5_percent_boundaries_at_least_30_s_apart():
    # at 31,072 samples (1,942 steps of 16, about 17 minutes an epoch here): 20 lines
    lines = epoch_lines(1942, 1020 / 1942)
    assert len(lines) == 20 and len("\n".join(lines)) < 3000
    assert "100% (1,942/1,942 step)" in lines[-1]
    # the default job (38 steps, about 4 s an epoch): none; Keras' epoch line stays
    assert epoch_lines(38, 4 / 38, epochs=2) == []
    # 200 steps at 1 s: the 5 % boundaries are 10 s apart, a line every third (30 s)
    lines = epoch_lines(200, 1.0)
    assert [line.split("(")[2].split(" ")[0] for line in lines] == [
        f"{s}/200" for s in (30, 60, 90, 120, 150, 180)
    ]


def test_a_run_logged_to_a_file_gets_step_lines_not_a_bar(monkeypatch):
    import sys

    from gapnet.training.callbacks import StepProgress
    from gapnet.training.fit import fit_verbosity, step_lines

    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert fit_verbosity(1) == 2 and [type(c) for c in step_lines(1)] == [StepProgress]
    assert step_lines(0) == [] and step_lines(2) == []
    monkeypatch.setattr(sys, "stdout", _Tty())
    assert fit_verbosity(1) == 1 and step_lines(1) == []


def test_the_default_jobs_short_epochs_get_only_keras_line_in_a_log(monkeypatch):
    """`run_kfold.py > log` on the default job (38 steps an epoch, seconds each): Keras'
    verbose is dropped to one line per epoch and StepProgress adds none (its 30-s floor;
    once it wrote a line per step, then 19 an epoch: 83 % of the log)."""
    import sys

    from gapnet.training.fit import fit_verbosity, step_lines

    log = io.StringIO()
    monkeypatch.setattr(sys, "stdout", log)
    model = tiny_model()
    x, y = np.ones((38 * 4, 4), np.float32), np.zeros((38 * 4, 1), np.float32)
    model.fit(x, y, batch_size=4, epochs=2, verbose=fit_verbosity(1), callbacks=step_lines(1))
    lines = log.getvalue().splitlines()
    assert not [s for s in lines if s.startswith("epoch ")], lines
    assert 1 <= len(lines) <= 4  # Keras' own line per epoch


def test_no_stage_writes_more_than_20_lines_whatever_its_size():
    for total in (1, 7, 19, 21, 38, 39, 100, 101, 999, 31072):
        out = io.StringIO()
        with track(total, "x", stream=out) as bar:
            for _ in range(total):
                bar.update()
        lines = out.getvalue().splitlines()
        assert 1 <= len(lines) <= 20 and lines[-1].startswith("x: 100%"), total

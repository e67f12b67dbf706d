import json
import os

import numpy as np
import pytest

from gapnet import models
from gapnet.config import Config
from gapnet.cv.kfold import run_kfold
from gapnet.cv.runfolder import read_predictions
from tests.conftest import TINY


def test_run_folder_has_every_file(tiny_run):
    out, m = tiny_run
    for f in [
        "config.json",
        "folds.csv",
        "oof_predictions.csv",
        "thresholds.json",
        "metrics.json",
        "report/report.md",
        "report/report.html",
    ]:
        assert os.path.isfile(os.path.join(out, f)), f
    for k in range(3):
        for f in ["model.keras", "history.csv", "val_predictions.csv", "done.json"]:
            assert os.path.isfile(os.path.join(out, f"fold_{k}", f)), (k, f)
    ids, oof = read_predictions(os.path.join(out, "oof_predictions.csv"))
    assert len(ids) == 30 and oof.shape == (30, 28) and (0 <= oof).all() and (oof <= 1).all()
    thr = json.load(open(os.path.join(out, "thresholds.json")))
    assert len(thr["thresholds"]) == 28 and set(thr["crossfit"]) == {"0", "1", "2"}
    saved = json.load(open(os.path.join(out, "metrics.json")))
    for key in [
        "macro_f1",
        "macro_f1_ci95",
        "macro_f1_at_0.5",
        "macro_f1_tuned",
        "micro_f1",
        "micro_f1_tuned",
        "per_class",
        "per_class_tuned",
        "per_fold",
        "selection_label",
        "threshold_rules",
        "train_seconds",
    ]:
        assert key in saved
    # The headline is the honest figure: cross-fitted thresholds, read back from the files.
    from gapnet import metrics, thresholds
    from gapnet.cv.runread import load_run

    table = load_run(out, log=lambda *a: None)
    by_fold = {int(k): np.array(v) for k, v in thr["crossfit"].items()}
    cross = np.stack([by_fold[k] for k in table.folds])
    assert saved["macro_f1"] == pytest.approx(metrics.macro_f1(table.targets, oof > cross))
    assert saved["macro_f1_tuned"] == pytest.approx(
        metrics.macro_f1(table.targets, oof > np.array(thr["thresholds"]))
    )
    for k in range(3):  # each fold's thresholds never saw that fold
        other = table.folds != k
        np.testing.assert_allclose(
            by_fold[k], thresholds.search_f1(table.targets[other], oof[other], 0.001)
        )
    assert saved["data"].startswith("synthetic") and saved["synthetic"]  # make_synthetic data
    assert len(saved["per_fold"]) == 3
    assert Config.from_file(os.path.join(out, "config.json")).image_size == 48
    assert "cross-fitted" in open(os.path.join(out, "report", "report.md")).read()


def test_oof_predictions_are_those_of_the_fold_models(tiny_run, tiny_data):
    import keras

    from gapnet.data.pipeline import PngReader
    from gapnet.data.source import open_source
    from gapnet.training.predict import predict

    out, _ = tiny_run
    ids, oof = read_predictions(os.path.join(out, "oof_predictions.csv"))
    folds = dict(
        line.strip().split(",") for line in open(os.path.join(out, "folds.csv")).readlines()[1:]
    )
    src = open_source(tiny_data)
    reader = PngReader(src.image_dir, src.ext, ids, 48)
    idx = [i for i, s in enumerate(ids) if folds[s] == "1"]
    model = keras.saving.load_model(os.path.join(out, "fold_1", "model.keras"))
    np.testing.assert_allclose(predict(model, reader, idx, 8), oof[idx], atol=1e-5)


def test_restart_skips_finished_folds(tiny_run, tiny_data):
    out, m = tiny_run
    logs = []
    again = run_kfold(Config(data=tiny_data, **TINY), out, log=logs.append)
    assert sum("already finished, skipped" in line for line in logs) == 3
    # tiny_data is a make_synthetic folder passed with --data: the log calls it synthetic.
    assert any(f"data: {tiny_data} (synthetic atlas)" in line for line in logs)
    assert again["macro_f1_at_0.5"] == m["macro_f1_at_0.5"]


@pytest.mark.parametrize(  # logreg in the slow suite (suite time): random_forest stays fast
    "model, kwargs",
    [
        pytest.param("logreg", {"C": 0.01}, marks=pytest.mark.slow),
        ("random_forest", {"n_estimators": 20}),
    ],
)
def test_baselines_run_through_the_main_job(tiny_data, tmp_path, model, kwargs):
    import shutil

    from PIL import Image

    data = str(tmp_path / "data")
    shutil.copytree(tiny_data, data)
    run = str(tmp_path / "run")
    cfg = Config(data=data, model=model, model_kwargs=kwargs, folds=3, image_size=48)
    m = run_kfold(cfg, run, log=lambda *a: None)
    assert os.path.isfile(os.path.join(run, "fold_0", "model.joblib"))
    ids, oof = read_predictions(os.path.join(run, "oof_predictions.csv"))
    assert oof.shape == (30, 28) and 0 <= m["macro_f1_at_0.5"] <= 1
    logs = []
    run_kfold(cfg, run, log=logs.append)
    assert sum("already finished" in line for line in logs) == 3
    # an image edited in place since: every fold saw it, so every fold is trained again
    png = os.path.join(data, "train", f"{ids[0]}_green.png")
    Image.fromarray(255 - np.asarray(Image.open(png))).save(png)
    logs = []
    run_kfold(cfg, run, log=logs.append)
    assert sum("finished on other data" in line for line in logs) == 3, logs
    assert not any("already finished" in line for line in logs)


def test_an_interrupted_fold_started_on_other_data_starts_again(tiny_data, tmp_path, monkeypatch):
    """A fold killed mid-way, whose images changed before the rerun, is not resumed from
    epochs trained on the old images: its resume state is dropped, with a line saying so."""
    from gapnet.cv import kfold
    from gapnet.io import atomic_write_json
    from gapnet.training import resume

    run = str(tmp_path / "run")
    cfg = Config(data=tiny_data, model="random_forest", folds=3, image_size=48)
    fold = os.path.join(run, "fold_0")
    seen = []

    def fake_train(cfg, task, log=print):  # a network fold would resume from `resume/`
        seen.append(resume.load_state(task.fold_dir))
        open(os.path.join(task.fold_dir, "model.joblib"), "wb").close()
        return np.zeros((len(task.scored_idx), 28), np.float32)

    def killed_on(data):  # fold 0 killed after epoch 3, started on `data`
        if os.path.exists(os.path.join(fold, "done.json")):
            os.remove(os.path.join(fold, "done.json"))
        atomic_write_json(os.path.join(fold, "resume", "state.json"), {"epoch": 3})
        atomic_write_json(os.path.join(fold, "started.json"), {"data": data})
        logs = []
        run_kfold(cfg, run, log=logs.append, fold=0)
        return seen.pop() is not None, any("started on other data" in x for x in logs)

    monkeypatch.setattr(kfold, "train_fold", fake_train)
    os.makedirs(os.path.join(fold, "resume"))
    assert killed_on(kfold.prepare(cfg, log=lambda *a: None).fingerprint) == (True, False)
    assert killed_on("the fingerprint of the images before an edit") == (False, True)
    # a fold from before the record (no started.json) resumes as it did
    os.remove(os.path.join(fold, "done.json"))
    atomic_write_json(os.path.join(fold, "resume", "state.json"), {"epoch": 3})
    os.remove(os.path.join(fold, "started.json"))
    run_kfold(cfg, run, log=lambda *a: None, fold=0)
    assert seen.pop() is not None


def test_compare_writes_table_csv_and_chart(tiny_run, tiny_data, tmp_path):
    import runpy
    import sys

    out, m = tiny_run
    base = tmp_path / "rf"
    run_kfold(
        Config(
            data=tiny_data,
            model="random_forest",
            model_kwargs={"n_estimators": 10},
            folds_file=os.path.join(out, "folds.csv"),
            image_size=48,
        ),
        str(base),
        log=lambda *a: None,
    )
    argv, sys.argv = sys.argv, ["compare.py", out, str(base), "--out", str(tmp_path / "cmp")]
    try:
        with pytest.raises(SystemExit) as e:
            runpy.run_path("experiments/compare.py", run_name="__main__")
    finally:
        sys.argv = argv
    assert e.value.code == 0
    table = (tmp_path / "cmp" / "comparison.md").read_text()
    assert (
        "| gapnet |" in table and "| random_forest |" in table and "| 27 | Rods & rings |" in table
    )
    assert f"{m['macro_f1']:.3f}" in table and "macro-F1 cross-fitted" in table
    assert "macro-F1 tuned (optimistic)" in table
    rows = (tmp_path / "cmp" / "comparison.csv").read_text().splitlines()
    assert len(rows) == 3 and "f1_27" in rows[0]
    assert (tmp_path / "cmp" / "comparison.png").stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(set(models.list_models(networks_only=True)) - {"gapnet"}))
def test_every_network_runs_through_the_main_job(tmp_path_factory, model):
    from gapnet.data.synthetic.generate import write_dataset

    data = write_dataset(
        tmp_path_factory.mktemp("syn80"), 12, 80, seed=2, workers=1, progress=False
    )
    out = tmp_path_factory.mktemp(model)
    # 6 training samples per fold: too few to hold out a selection set; the last epoch.
    m = run_kfold(
        Config(
            data=data,
            model=model,
            image_size=80,
            epochs=1,
            batch_size=4,
            folds=2,
            verbose=0,
            selection="last",
            early_stopping_patience=0,
        ),
        str(out),
        log=lambda *a: None,
    )
    assert os.path.isfile(out / "fold_1" / "model.keras") and len(m["per_fold"]) == 2


def test_progress_bars_only_on_a_terminal(monkeypatch):
    import io
    import sys

    from gapnet.training.fit import fit_verbosity

    monkeypatch.setattr(sys, "stdout", io.StringIO())  # a log file, CI, nohup
    assert (fit_verbosity(1), fit_verbosity(0), fit_verbosity(2)) == (2, 0, 2)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdout", Terminal())
    assert fit_verbosity(1) == 1


def test_metrics_written_before_the_honest_headline_compare_under_todays_names(tiny_run):
    # Earlier runs stored the tuned figure as macro_f1 and the cross-fitted one as
    # macro_f1_crossfit; compare.py and the fine-tuning table rename, never mix them up.
    from gapnet.report.tables import comparison_markdown, comparison_rows

    new = tiny_run[1]
    old = {k: new[k] for k in ("data", "n_samples", "macro_f1_at_0.5")}
    old.update(
        macro_f1=new["macro_f1_tuned"],
        macro_f1_crossfit=new["macro_f1"],
        per_class=new["per_class_tuned"],
        fold_spread={**new["fold_spread"], "macro_f1_crossfit": new["fold_spread"]["macro_f1"]},
        per_fold=[
            {**f, "macro_f1": f["macro_f1_tuned"], "macro_f1_crossfit": f["macro_f1"]}
            for f in new["per_fold"]
        ],
    )
    row = comparison_rows([{"name": "old", "config": {"model": "gapnet"}, "metrics": old}])[0]
    assert row["macro_f1"] == new["macro_f1"] and row["macro_f1_tuned"] == new["macro_f1_tuned"]
    assert row["selection"] == "epoch chosen on the scored fold (optimistic)"
    assert row["f1_0"] is None  # no cross-fitted per-class F1 was stored: shown as "-"
    assert "| 0 | Nucleoplasm | - |" in comparison_markdown([row])


def test_tensorboard_logs_hold_each_folds_curves(tiny_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, _ = tiny_run
    for k in range(3):
        history = open(os.path.join(out, f"fold_{k}", "history.csv")).read().splitlines()
        row = dict(zip(history[0].split(","), history[1].split(","), strict=True))
        logged = {}
        for part in ("train", "validation"):
            acc = EventAccumulator(os.path.join(out, f"fold_{k}", "tensorboard", part))
            acc.Reload()
            for tag in acc.Tags()["tensors"]:
                value = acc.Tensors(tag)[-1]
                logged[(part, tag)] = float(
                    np.asarray(__import__("tensorflow").make_ndarray(value.tensor_proto))
                )
        assert logged[("validation", "epoch_macro_f1")] == pytest.approx(
            float(row["val_macro_f1"]), abs=1e-6
        )
        assert logged[("train", "epoch_loss")] == pytest.approx(float(row["loss"]), rel=1e-6)
        assert logged[("train", "epoch_learning_rate")] == pytest.approx(
            float(row["learning_rate"]), rel=1e-6
        )


def _atlas_run(tmp_path, atlas, recorded=None):
    """A finished-looking run folder of the embedded atlas (no --data) trained on `atlas`,
    whose data.json records `recorded` (default `atlas`)."""
    from gapnet.config import Config
    from gapnet.cv.runread import record_data
    from gapnet.data.labels import read_labels

    run = tmp_path / "run"
    run.mkdir()
    cfg = Config.synthetic_default(1)
    (run / "config.json").write_text(
        Config.from_dict({"synthetic_n": 30, "synthetic_size": 48}, cfg).to_json()
    )
    ids = read_labels(os.path.join(atlas, "train.csv")).ids
    (run / "folds.csv").write_text(
        "Id,fold\n" + "".join(f"{i},{n % 3}\n" for n, i in enumerate(ids))
    )
    for name in ("thresholds.json", "metrics.json"):
        (run / name).write_text("{}\n")
    record_data(str(run), recorded or atlas, True)
    return run, ids


def test_a_run_reads_its_atlas_where_it_recorded_it_whatever_the_cache(
    tiny_run, tiny_data, tmp_path, monkeypatch
):
    """report.py used to regenerate the synthetic atlas (about a minute at its default size)
    whenever $GAPNET_CACHE differed from the run's; the run's data.json says where it is."""
    import json

    from gapnet.cv.runread import load_run

    run_dir, _ = tiny_run  # run_kfold records what it trained on
    record = json.loads(open(os.path.join(run_dir, "data.json")).read())
    assert record == {"root": os.path.abspath(tiny_data), "synthetic": True}
    cache = tmp_path / "elsewhere"
    cache.mkdir()
    monkeypatch.setenv("GAPNET_CACHE", str(cache))
    run, ids = _atlas_run(tmp_path, tiny_data)
    said = []
    table = load_run(str(run), log=said.append)
    assert table.ids == list(ids) and table.synthetic
    assert os.listdir(cache) == [] and said == []  # nothing generated, nothing to say


def test_report_says_where_the_atlas_comes_from_when_the_recorded_one_is_gone(
    tiny_data, tmp_path, monkeypatch, capsys
):
    import runpy

    from gapnet.cv.runread import run_data

    run, _ = _atlas_run(tmp_path, tiny_data, recorded=str(tmp_path / "deleted-atlas"))
    monkeypatch.setenv("GAPNET_CACHE", str(tmp_path / "cache"))

    def generator(cfg, log):  # stands in for the atlas generator: no minute spent
        log("synthetic atlas: generating 30 samples (once)")
        return tiny_data, True

    monkeypatch.setattr("gapnet.data.prepare.resolve_data", generator)
    monkeypatch.setattr("gapnet.report.run_report.write_report", lambda run: None)  # a stub run
    main = runpy.run_path("experiments/report.py", run_name="report")["main"]
    assert main([str(run)]) == 0
    err = capsys.readouterr().err
    assert f"{tmp_path / 'deleted-atlas'}, where {run} recorded its data, is gone" in err
    assert "synthetic atlas: generating" in err
    assert run_data(str(run), log=lambda *a: None) == (tiny_data, True)


def test_jit_compile_without_a_gpu_is_warned_with_what_was_measured():
    from gapnet.config import Config
    from gapnet.training.build import jit_compile_warning

    xla = Config(jit_compile=True)
    said = jit_compile_warning(xla, gpus=0)
    assert said.startswith("warning: jit_compile") and "4-5x slower" in said
    assert jit_compile_warning(xla, gpus=1) is None  # on a GPU it may pay: not warned
    assert jit_compile_warning(Config(), gpus=0) is None

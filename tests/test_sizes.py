"""A config that cannot apply to the data: one message listing every change, exit 2, no
traceback and nothing written (the README's real-data command on six real samples)."""

import os
import runpy

import numpy as np
import pytest

from gapnet.config import Config
from gapnet.cv.sizes import ConfigDataMismatch, fit_problems, require_fit

CONFIG = "experiments/configs/hpa_512.yaml"


@pytest.fixture(scope="module")
def main():
    return runpy.run_path("experiments/run_kfold.py", run_name="run_kfold")["main"]


def test_the_readme_command_on_six_real_samples_lists_every_change(
    main, kaggle_root, tmp_path, capsys
):
    out = tmp_path / "run"
    code = main(["--data", str(kaggle_root), "--config", CONFIG, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert "a fold here trains on 4 (at least 10 needed)" in err
    assert "early_stopping_patience=10 watches the selection set" in err
    assert "--set selection=last --set early_stopping_patience=0" in err
    assert not os.path.exists(out)  # refused before anything is written, folder included


def test_uneven_folds_the_estimate_passes_are_refused_before_anything_is_written(
    main, kaggle_root, tmp_path, capsys
):
    # The estimate (6 samples in 3 folds: 4 train per fold) allows 1 in 4 held out, but
    # these folds train fold 0 on 2: refused with nothing written (the advised rerun on the
    # same --out used to find the refused run's config.json there and refuse too).
    folds = tmp_path / "folds.csv"
    rows = [0, 0, 0, 0, 1, 2]
    folds.write_text("Id,fold\n" + "".join(f"sample0{s},{f}\n" for s, f in enumerate(rows)))
    out = tmp_path / "run"
    args = ["--data", str(kaggle_root), "--folds-file", str(folds), "--out", str(out)]
    args += ["--set", "inner_fraction=0.25", "--set", "early_stopping_patience=3"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "a fold here trains on 2 (at least 4 needed)" in err
    assert "--set selection=last --set early_stopping_patience=0" in err
    assert not os.path.exists(out)  # so the advised rerun may use the same --out


def test_skip_bad_leaving_one_sample_says_so_without_a_traceback(
    main, kaggle_root, tmp_path, capsys
):
    for s in range(1, 6):
        os.remove(kaggle_root / "train" / f"sample0{s}_red.png")
    args = ["--data", str(kaggle_root), "--config", CONFIG, "--skip-bad"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "1 usable sample(s): cross-validation needs at least 2" in err


def test_the_suggested_changes_fit_and_folds_shrink_to_the_samples():
    cfg = Config.from_file(CONFIG)
    ids = [f"s{i}" for i in range(6)]
    problems, changes = fit_problems(cfg, ids)
    assert changes == {"selection": "last", "early_stopping_patience": 0}
    fixed = cfg.with_overrides([f"{k}={v}" for k, v in changes.items()])
    assert fit_problems(fixed, ids) == ([], {})
    problems, changes = fit_problems(cfg, ids[:2])
    assert changes["folds"] == 2 and changes["selection"] == "last"
    assert any("2 samples cannot be split into 3 folds" in p for p in problems)
    many = [f"s{i}" for i in range(40)]
    assert fit_problems(cfg, many) == ([], {})  # 26 training samples per fold: 1 in 10 held out
    folds = np.array([0] * 38 + [1, 2])  # a folds file with a fold holding nearly everything
    with pytest.raises(ConfigDataMismatch, match="trains on 2 \\(at least 10"):
        require_fit(cfg, many, folds=folds)

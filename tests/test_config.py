import json
import os

import pytest

from gapnet.config import Config

LEGACY = os.path.join(os.path.dirname(__file__), "data", "legacy")


def test_overrides_are_type_checked():
    cfg = Config().with_overrides(
        ["epochs=3", "aug_scale=[0.8, 1.2]", "data=null", "learning_rate=1"]
    )
    assert (cfg.epochs, cfg.aug_scale, cfg.data, cfg.learning_rate) == (3, (0.8, 1.2), None, 1.0)
    for bad, msg in [
        ("epochs=x", "not a valid int"),
        ("epoch=3", "Unknown config key"),
        ("aug_hflip=2", "probability"),
        ("precision=fp8", "expected one of"),
        ("folds=1", "folds must be >= 2"),
        ("noequals", "key=value"),
        ("bn_momentum=1", "bn_momentum must be in"),
    ]:
        with pytest.raises(ValueError, match=msg):
            Config().with_overrides([bad])


def test_scientific_notation_is_a_float_in_overrides_and_yaml_files(tmp_path):
    # YAML 1.1 (PyYAML) reads "3e-4" as a string; users write learning rates that way.
    cfg = Config().with_overrides(["learning_rate=3e-4", "aug_scale=[5e-1, 1.5E+0]"])
    assert (cfg.learning_rate, cfg.aug_scale) == (3e-4, (0.5, 1.5))
    (tmp_path / "c.yaml").write_text("learning_rate: 2e-3\nfocal_alpha: .25\n")
    assert Config.from_file(tmp_path / "c.yaml").learning_rate == 2e-3
    for bad in ("learning_rate=3e", "learning_rate=e-4", "learning_rate=fast", "epochs=1e3"):
        with pytest.raises(ValueError, match="not a valid"):
            Config().with_overrides([bad])


def test_json_round_trip_and_yaml_file(tmp_path):
    cfg = Config(model="gapnet_pl", aug_scale=(0.7, 1.3))
    (tmp_path / "c.json").write_text(cfg.to_json())
    assert Config.from_file(tmp_path / "c.json") == cfg
    (tmp_path / "c.yaml").write_text("epochs: 7\nmodel_kwargs: {dense: [64, 64]}\n")
    assert Config.from_file(tmp_path / "c.yaml").model_kwargs == {"dense": [64, 64]}
    (tmp_path / "bad.yaml").write_text("epochs: many\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        Config.from_file(tmp_path / "bad.yaml")


def test_shipped_configs_load():
    cfg = Config.from_file("experiments/configs/hpa_512.yaml")
    assert cfg.image_size == 512 and cfg.model == "gapnet"
    short = Config.from_file("experiments/configs/seed002_short.yaml", Config.synthetic_default())
    assert (
        short.lr_schedule,
        short.lr_warmup_epochs,
        short.early_stopping_patience,
        short.selection,
    ) == ("constant", 0, 4, "inner")
    assert (
        Config.from_file("experiments/configs/hpa_512.yaml", Config.synthetic_default()).selection
        == "inner"
    )


def test_synthetic_recipe_warms_up_over_a_quarter_of_its_epochs():
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_kfold", "experiments/run_kfold.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    resolve = lambda *argv: script.resolve_config(script.parse(list(argv)))  # noqa: E731
    assert (resolve().epochs, resolve().lr_warmup_epochs) == (12, 3)
    assert resolve("--epochs", "2").lr_warmup_epochs == 0  # a quick run needs no --set
    assert resolve("--epochs", "20").lr_warmup_epochs == 5
    assert resolve("--data", "ROOT").lr_warmup_epochs == 0  # seed 002's recipe: none
    # Nothing chooses an epoch: the cosine schedule ends at 0 and the last epoch predicts;
    # seed 002's recipe (early stopping) chooses on the inner selection set.
    assert resolve().selection == "last" and resolve("--data", "ROOT").selection == "inner"


@pytest.mark.parametrize("name", ["config_v0.1.json", "config_v0.3.json"])
def test_an_older_run_folders_config_json_and_each_of_its_keys_as_set_still_work(name, tmp_path):
    """config.json files written by gapnet 0.1 and by the last commit before issue #35
    (tests/data/legacy/README.md): read with every value unchanged, their keys accepted by
    `--set key=value` with the same values, and a run folder started with one continues."""
    from gapnet.cv.runlock import check_config

    path = os.path.join(LEGACY, name)
    old = json.load(open(path))
    cfg = Config.from_file(path)
    assert {k: v for k, v in cfg.to_dict().items() if k in old} == old
    # every key as `--set key=value` (together: some rules tie keys, e.g. selection=last)
    assert Config().with_overrides([f"{k}={json.dumps(v)}" for k, v in old.items()]) == cfg
    (tmp_path / "config.json").write_text(open(path).read())
    check_config(str(tmp_path), cfg, force=False, log=lambda *a: None)  # no "another config"

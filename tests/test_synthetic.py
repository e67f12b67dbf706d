import hashlib
import os

import numpy as np
import pytest

from gapnet.classes import N_CLASSES
from gapnet.data.labels import read_labels
from gapnet.data.synthetic import generate
from gapnet.data.synthetic.default import CACHE_ENV, default_dataset
from gapnet.data.synthetic.generate import (
    draw_label_sets,
    real_label_sets,
    render_sample,
    write_dataset,
)
from gapnet.data.synthetic.render import render
from gapnet.data.validate import validate


def digest(folder):
    h = hashlib.sha256()
    for root, _, files in sorted(os.walk(folder)):
        for f in sorted(files):
            h.update(f.encode())
            h.update(open(os.path.join(root, f), "rb").read())
    return h.hexdigest()


@pytest.mark.slow  # suite time; one-worker determinism is checked fast
def test_same_seed_byte_identical_whatever_the_workers(tmp_path):
    a = write_dataset(tmp_path / "a", 6, 64, seed=3, workers=1, progress=False)
    b = write_dataset(tmp_path / "b", 6, 64, seed=3, workers=2, progress=False)
    c = write_dataset(tmp_path / "c", 6, 64, seed=4, workers=1, progress=False)
    assert digest(a) == digest(b) != digest(c)


def test_writes_kaggle_layout_that_validates_clean(tmp_path):
    root = write_dataset(tmp_path / "syn", 8, 96, seed=0, workers=1, progress=False)
    assert os.path.isfile(os.path.join(root, "train.csv"))
    assert len(os.listdir(os.path.join(root, "train"))) == 32
    report = validate(root, size=96, progress=False)
    assert report.errors == [] and report.notes == []
    table = read_labels(os.path.join(root, "train.csv"))
    assert len(table) == 8 and table.targets.sum(1).min() >= 1


def test_label_sets_follow_the_real_distribution():
    real = real_label_sets()
    assert len(real) == 31072
    sets = draw_label_sets(3000, seed=0, min_per_class=0)
    freq = np.bincount([k for s in sets for k in s], minlength=N_CLASSES) / len(sets)
    real_freq = np.bincount([k for s in real for k in s], minlength=N_CLASSES) / len(real)
    assert freq[0] == pytest.approx(real_freq[0], abs=0.03)  # nucleoplasm ~41 %
    assert freq[25] == pytest.approx(real_freq[25], abs=0.03)  # cytosol ~26 %
    assert all(s in set(real) for s in sets[:200])  # real co-occurrence, not independent draws


def _counts(sets):
    return np.bincount([k for s in sets for k in s], minlength=N_CLASSES)


@pytest.mark.parametrize("n", [100, 250, 900])
def test_default_min_per_class_covers_all_28_classes(n):
    for seed in range(3):
        assert (
            _counts(draw_label_sets(n, seed=seed)).min() >= generate.default_min_per_class(n) >= 2
        )


def test_top_up_meets_a_high_quota_and_keeps_real_label_sets():
    # 7 % of 900: an earlier top-up lost classes it had already topped up (one ended at 8).
    sets = draw_label_sets(900, seed=0, min_per_class=63)
    assert _counts(sets).min() >= 63
    assert set(sets) <= set(real_label_sets())


def test_unreachable_min_per_class_is_a_clear_error(tmp_path, capsys):
    import runpy

    with pytest.raises(ValueError, match="min_per_class=40 cannot be met with 100 samples"):
        write_dataset(tmp_path / "syn", 100, 32, min_per_class=40, progress=False)
    assert not (tmp_path / "syn").exists()
    script = os.path.join(os.path.dirname(__file__), "..", "data_prep", "make_synthetic.py")
    with pytest.raises(SystemExit) as e:  # the CLI: a usage error, not a traceback
        runpy.run_path(script)["main"](
            ["--out", str(tmp_path / "syn"), "--n", "100", "--min-per-class", "40"]
        )
    assert e.value.code == 2 and "cannot be met" in capsys.readouterr().err
    # Without --min-per-class a dataset too small for the default quota is still written.
    assert (
        runpy.run_path(script)["main"](
            ["--out", str(tmp_path / "tiny"), "--n", "10", "--size", "16", "--workers", "1"]
        )
        == 0
    )
    assert len(read_labels(tmp_path / "tiny" / "train.csv")) == 10


def _corr(a, b):
    a, b = a.astype(float).ravel(), b.astype(float).ravel()
    return np.corrcoef(a, b)[0, 1]


@pytest.mark.parametrize(
    "label, reference, lo",
    [
        (0, 2, 0.6),  # nucleoplasm lies in the nucleus (blue)
        (14, 0, 0.5),  # microtubules follow red
        (6, 3, 0.5),  # ER follows yellow
    ],
)
def test_patterns_sit_where_biology_puts_them(label, reference, lo):
    images = [render([label], 256, np.random.default_rng(s)) for s in range(4)]
    assert np.median([_corr(im[..., 1], im[..., reference]) for im in images]) > lo


def test_cytosol_avoids_the_nucleus():
    rs = [
        _corr(*np.moveaxis(render([25], 256, np.random.default_rng(s))[..., [1, 2]], -1, 0))
        for s in range(4)
    ]
    assert np.median(rs) < 0.2


def test_dividing_labels_force_dividing_cells_in_their_phase(monkeypatch):
    from gapnet.data.synthetic import render as render_module
    from gapnet.data.synthetic.morphology import make_layout

    layout = make_layout(np.random.default_rng(0), 256, phases=["telophase"] * 2 + ["metaphase"])
    assert sorted(c.phase for c in layout.cells if c.phase) == [
        "metaphase",
        "telophase",
        "telophase",
    ]
    # The bridge (16) needs telophase cells, the spindle (17) metaphase ones, in every sample.
    layouts = []
    monkeypatch.setattr(
        render_module,
        "make_layout",
        lambda *a, **k: layouts.append(make_layout(*a, **k)) or layouts[-1],
    )
    for seed in range(5):
        for label, phase in ((16, "telophase"), (17, "metaphase")):
            render([label], 64, np.random.default_rng(seed))
            assert sum(c.phase == phase for c in layouts[-1].cells) >= 2


def test_confluent_layouts_have_long_shared_borders():
    """Cell junctions (22) are drawn where cells touch, so their samples are confluent."""
    from gapnet.data.synthetic.morphology import make_layout, touching_edges

    dense = [
        touching_edges(make_layout(np.random.default_rng(s), 128, confluent=True).owner).sum()
        for s in range(8)
    ]
    any_ = [
        touching_edges(make_layout(np.random.default_rng(s), 128).owner).sum() for s in range(8)
    ]
    assert np.median(dense) > 3 * np.median(any_)


def test_each_label_changes_the_green_channel():
    base = render([], 128, np.random.default_rng(1))[..., 1].astype(int)
    for k in range(N_CLASSES):
        green = render([k], 128, np.random.default_rng(1))[..., 1].astype(int)
        assert np.abs(green - base).sum() > 0, f"label {k} draws nothing"


def test_small_renders_are_as_noisy_as_the_512px_field_averaged_down():
    # No labels: the green channel is background plus noise only. A 128-px pixel averages
    # 16 of the 512-px field's, so its noise is about a quarter; rendering 128 px with the
    # 512-px noise per pixel (as before) made it 3.2x too noisy.
    small, averaged = [], []
    for seed in range(6):
        small.append(render([], 128, np.random.default_rng(seed))[..., 1].std())
        big = render([], 512, np.random.default_rng(seed))[..., 1].astype(np.float32)
        averaged.append(big.reshape(128, 4, 128, 4).mean((1, 3)).std())
    assert 0.75 < np.mean(small) / np.mean(averaged) < 1.33


def test_default_dataset_generated_once_then_reused(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    logs = []
    path = default_dataset(n=4, size=32, seed=0, log=logs.append)
    mtime = os.path.getmtime(os.path.join(path, "train.csv"))
    again = default_dataset(n=4, size=32, seed=0, log=logs.append)
    assert again == path and os.path.getmtime(os.path.join(path, "train.csv")) == mtime
    assert "generating" in logs[0] and "reusing" in logs[1]
    assert path.startswith(str(tmp_path))


def test_render_is_deterministic():
    np.testing.assert_array_equal(
        render_sample(0, 5, (3, 25), 64), render_sample(0, 5, (3, 25), 64)
    )


@pytest.mark.slow  # two figures drawn by the CLI (6 s)
def test_figure_cli_shows_a_real_sample_beside_the_synthetic_ones(tmp_path):
    import runpy

    from PIL import Image

    from gapnet.data.images import ImageError

    here = os.path.dirname(__file__)
    main = runpy.run_path(os.path.join(here, "..", "data_prep", "make_synthetic.py"))["main"]
    real = os.path.join(here, "data", "hpav18_jpg", "10814_50_A1_1")
    assert main(["--figure", str(tmp_path / "a.png"), "--size", "64"]) == 0
    assert main(["--figure", str(tmp_path / "b.png"), "--size", "64", "--real", real]) == 0
    a, b = (np.asarray(Image.open(tmp_path / f).convert("RGB")) for f in ("a.png", "b.png"))
    assert a.shape == b.shape and (a != b).any()  # the real panel is drawn
    with pytest.raises(ImageError, match="nope_red"):
        main(
            ["--figure", str(tmp_path / "c.png"), "--size", "64", "--real", str(tmp_path / "nope")]
        )


def test_more_forced_phases_than_cells_drops_the_extra_phases():
    # A crowded or tiny field can hold fewer cells than the phases asked for: the extra phases
    # are dropped (the default 900-sample atlas meets this case), not an error.
    from gapnet.data.synthetic.morphology import make_layout

    layout = make_layout(np.random.default_rng(0), 64, phases=["metaphase"] * 40)
    assert 5 <= len(layout.cells) < 40


def test_make_synthetic_writes_the_2021_scheme_and_single_cell_variability(tmp_path, capsys):
    """--scheme and --variability give what the library's generator writes for them (the
    2021-scheme, variable atlas run_single_cell.py trains on)."""
    import filecmp
    import runpy

    from gapnet.data.labels import read_labels
    from gapnet.data.synthetic.generate import write_dataset
    from gapnet.data.synthetic.marker import read_marker

    main = runpy.run_path("data_prep/make_synthetic.py", run_name="make_synthetic")["main"]
    out = tmp_path / "cli"
    args = ["--out", str(out), "--n", "6", "--size", "32", "--seed", "2", "--workers", "1"]
    assert main([*args, "--scheme", "hpa2021", "--variability", "1"]) == 0
    assert "hpa2021, variability 1" in capsys.readouterr().out
    marker = read_marker(out)
    assert marker["scheme"] == "hpa2021" and marker["variability"] == 1.0 and marker["truth"]
    assert read_labels(out / "train.csv").targets.shape == (6, 19)
    lib = write_dataset(
        tmp_path / "lib", 6, 32, 2, workers=1, progress=False, variability=1.0, scheme="hpa2021"
    )
    cmp = filecmp.dircmp(out / "train", os.path.join(lib, "train"))
    assert cmp.left_only == cmp.right_only == cmp.diff_files == []
    assert (out / "train.csv").read_bytes() == open(os.path.join(lib, "train.csv"), "rb").read()
    with pytest.raises(SystemExit):
        main([*args, "--variability", "1.5"])
    assert "--variability must be in 0..1" in capsys.readouterr().err

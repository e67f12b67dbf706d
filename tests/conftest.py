import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
from PIL import Image  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data")
REAL_PNG = os.path.join(DATA, "kaggle_png")
REAL_JPG = os.path.join(DATA, "hpav18_jpg")
COLORS = ("red", "green", "blue", "yellow")


def real_pngs():
    return sorted(os.path.join(REAL_PNG, f) for f in os.listdir(REAL_PNG) if f.endswith(".png"))


@pytest.fixture
def kaggle_root(tmp_path):
    """A clean Kaggle-layout folder: 6 samples whose channels are real HPA PNGs."""
    root = tmp_path / "hpa"
    (root / "train").mkdir(parents=True)
    pngs = real_pngs()
    lines = ["Id,Target"]
    targets = ["0", "25 0", "5", "2 21", "7 25 0", "27"]
    for s, target in enumerate(targets):
        sample_id = f"sample{s:02d}"
        for c, color in enumerate(COLORS):
            shutil.copy(pngs[(s + c) % len(pngs)], root / "train" / f"{sample_id}_{color}.png")
        lines.append(f"{sample_id},{target}")
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    return root


def write_png(path, array):
    Image.fromarray(array).save(path)


# The tiny K-fold run shared by the run-folder, report and submission tests.
TINY = dict(
    image_size=48,
    epochs=1,
    batch_size=8,
    folds=3,
    verbose=0,
    model_kwargs={"widths": [8, 16, 16], "dense": [32, 32]},
)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A synthetic folder written by data_prep/make_synthetic.py (so tiny_run trains on
    synthetic data passed with --data, and must say so)."""
    import contextlib
    import io
    import runpy

    out = str(tmp_path_factory.mktemp("syn") / "atlas")
    main = runpy.run_path("data_prep/make_synthetic.py", run_name="make_synthetic")["main"]
    args = ["--out", out, "--n", "30", "--size", "48", "--seed", "1", "--workers", "1"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(args) == 0
    return out


@pytest.fixture(scope="session")
def tiny_run(tiny_data, tmp_path_factory):
    """One finished run folder with its report, shared by every test that only reads a
    run (copy it before changing it)."""
    from gapnet.config import Config
    from gapnet.cv.kfold import run_kfold
    from gapnet.report.run_report import write_report

    out = str(tmp_path_factory.mktemp("run"))
    m = run_kfold(Config(data=tiny_data, **TINY), out, log=lambda *a: None)
    write_report(out, log=lambda *a: None)
    return out, m

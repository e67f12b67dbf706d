import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
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

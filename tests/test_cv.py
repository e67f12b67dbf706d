import numpy as np
import pytest

from gapnet.cv.folds import make_folds
from gapnet.cv.runfolder import read_folds, write_folds
from gapnet.data.labels import DataError
from gapnet.data.synthetic.generate import draw_label_sets


def targets(n=300):
    y = np.zeros((n, 28), int)
    for i, s in enumerate(draw_label_sets(n, seed=0)):
        y[i, list(s)] = 1
    return y


def test_folds_are_seeded_balanced_and_stratified():
    y = targets()
    f = make_folds(y, 3, seed=0)
    np.testing.assert_array_equal(f, make_folds(y, 3, seed=0))
    assert not np.array_equal(f, make_folds(y, 3, seed=1))
    assert np.bincount(f).min() >= 95
    # Each label's positives spread evenly over the folds: a random split leaves about 4
    # between its fullest and emptiest fold on average here, iterative stratification < 1.
    spread = [
        np.ptp(np.bincount(f[y[:, c] == 1], minlength=3)) for c in np.flatnonzero(y.sum(0) >= 9)
    ]
    assert max(spread) <= 3 and np.mean(spread) <= 1


def test_folds_file_round_trip_and_errors(tmp_path):
    ids = [f"s{i}" for i in range(6)]
    write_folds(tmp_path / "folds.csv", ids, [0, 1, 2, 0, 1, 2])
    assert read_folds(tmp_path / "folds.csv", ids[::-1]).tolist() == [2, 1, 0, 2, 1, 0]
    with pytest.raises(DataError, match="no fold for 1 sample"):
        read_folds(tmp_path / "folds.csv", ids + ["new"])
    (tmp_path / "bad.csv").write_text("Id,fold\ns0,zero\n")
    with pytest.raises(DataError, match="bad.csv:2"):
        read_folds(tmp_path / "bad.csv", ["s0"])

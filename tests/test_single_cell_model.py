"""The cell model: folds by image (no cell of a scored image trains its scorer), the
image/cell combinations, and a model that learns from its images' labels."""

import numpy as np
import pytest

from gapnet.single_cell import cell_model as cm


def test_cells_take_their_images_fold_and_an_unknown_image_is_named():
    folds = cm.cell_folds(["a", "b", "c"], [0, 1, 2], ["b", "b", "a", "c"])
    assert folds.tolist() == [1, 1, 0, 2]
    with pytest.raises(KeyError, match="'zz'"):
        cm.cell_folds(["a"], [0], ["a", "zz"])


def test_cross_fit_never_trains_on_a_cell_of_a_scored_image(monkeypatch):
    # 12 images, 3 to 5 cells each; each crop carries its image's index in its pixels
    rng = np.random.default_rng(0)
    image_of = np.concatenate([[i] * rng.integers(3, 6) for i in range(12)])
    crops = np.broadcast_to(image_of[:, None, None, None], (len(image_of), 8, 8, 4)).copy()
    folds = cm.cell_folds(list(range(12)), np.arange(12) % 3, image_of.tolist())
    seen = []

    def fake_train(x, y, cfg, rows):
        seen.append(set(np.unique(x[rows, 0, 0, 0]).tolist()))
        return seen[-1]

    monkeypatch.setattr(cm, "train_cell_model", fake_train)
    monkeypatch.setattr(
        cm,
        "predict_cells",
        lambda trained, x, rows: np.array([[float(i in trained)] for i in x[rows, 0, 0, 0]]),
    )
    targets = np.zeros((len(image_of), 1), np.float32)
    oof = cm.cross_fit(crops, targets, folds, cm.CellModelConfig(), log=lambda *a: None)
    assert len(seen) == 3
    for k, trained_on in enumerate(seen):
        scored = set(np.flatnonzero(np.arange(12) % 3 == k).tolist())
        assert not trained_on & scored and trained_on | scored == set(range(12))
    assert (oof == 0).all()  # every cell scored by a model that never saw its image


def test_combinations():
    a, b = np.array([[0.8, 0.2]]), np.array([[0.5, 0.9]])
    np.testing.assert_allclose(cm.combine(a, b), [[0.4, 0.18]])
    np.testing.assert_allclose(cm.combine(a, b, "mean"), [[0.65, 0.55]])
    with pytest.raises(ValueError, match="how must be one of"):
        cm.combine(a, b, "max")
    with pytest.raises(ValueError, match=r"\(1, 2\), cell probabilities \(2, 2\)"):
        cm.combine(a, np.vstack([b, b]))


@pytest.mark.slow  # trains a network: about 10 s on 2 cores
def test_the_cell_model_learns_a_cell_pattern_from_image_labels():
    # class 0: a bright green ring in the crop; class 1: a green centre; labels per crop
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:32, :32]
    r = np.hypot(yy - 15.5, xx - 15.5)
    n = 400
    y = rng.random((n, 2)) < 0.5
    crops = rng.integers(0, 40, (n, 32, 32, 4)).astype(np.uint8)
    crops[..., 2] += (r < 12).astype(np.uint8) * 60  # a nucleus in every crop
    crops[y[:, 0], ..., 1] += ((r > 9) & (r < 12)).astype(np.uint8) * 150
    crops[y[:, 1], ..., 1] += (r < 4).astype(np.uint8) * 150
    cfg = cm.CellModelConfig(crop_size=32, epochs=6, batch_size=32, augment=False)
    model = cm.train_cell_model(crops[:300], y[:300].astype(np.float32), cfg)
    p = cm.predict_cells(model, crops[300:])
    for k in range(2):
        assert roc_auc_score(y[300:, k], p[:, k]) > 0.9, k

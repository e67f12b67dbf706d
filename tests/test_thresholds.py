import numpy as np
import pytest
from sklearn.metrics import f1_score

from gapnet import thresholds


def test_f1_curve_matches_sklearn():
    rng = np.random.default_rng(1)
    y = rng.random(200) < 0.3
    p = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
    g = thresholds.grid(0.01)
    curve = thresholds.f1_curve(y, p, g)
    for t, f in zip(g[::7], curve[::7], strict=True):
        assert f == pytest.approx(f1_score(y, p > t, zero_division=0))


def test_search_finds_the_separating_threshold():
    y = np.array([[0], [0], [0], [1], [1]])
    p = np.array([[0.1], [0.2], [0.3], [0.6], [0.9]])
    t = thresholds.search_f1(y, p)
    assert 0.3 <= t[0] < 0.6  # any value between the classes separates them
    assert t[0] == pytest.approx(0.45, abs=0.002)  # the middle of the best plateau


def test_class_without_positives_gets_the_fallback_not_zero():
    y = np.zeros((10, 2), int)
    y[:5, 0] = 1
    p = np.random.default_rng(0).random((10, 2))
    t = thresholds.search_f1(y, p, fallback=0.5)
    assert t[1] == 0.5
    assert thresholds.fit("frequency", y, p)[1] == 0.5


def test_frequency_matching_reproduces_the_frequencies():
    rng = np.random.default_rng(2)
    p = rng.random((1000, 3))
    t = thresholds.match_frequency(p, [0.1, 0.5, 0.02])
    np.testing.assert_allclose((p > t).mean(0), [0.1, 0.5, 0.02])


def test_crossfit_never_uses_the_scored_fold():
    y = np.array([[1], [0], [1], [0], [1], [0]])
    folds = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([[0.9], [0.1], [0.8], [0.2], [0.7], [0.6]])
    cross = thresholds.crossfit("f1_search", y, p, folds)
    # fold 2 alone needs a threshold in [0.6, 0.7); folds 0 and 1 put it in [0.2, 0.8)
    assert 0.2 <= cross[4, 0] < 0.8 and cross[4, 0] == cross[5, 0]
    # Changing fold 2's own predictions does not change its thresholds.
    p2 = p.copy()
    p2[4:] = [[0.05], [0.95]]
    np.testing.assert_array_equal(thresholds.crossfit("f1_search", y, p2, folds)[4:], cross[4:])


def test_unknown_strategy():
    with pytest.raises(ValueError, match="f1_search, frequency or fixed"):
        thresholds.fit("magic", np.zeros((2, 1)), np.zeros((2, 1)))


def test_decide_on_ties_and_agrees_with_the_tuner():
    assert not thresholds.decide([[0.3]], [0.3]).any()  # p == t is not called
    assert thresholds.decide([[0.30001]], [0.3]).all()
    rng = np.random.default_rng(3)
    y = rng.random((300, 2)) < 0.4
    # float32 probabilities on the tuning grid, many tied
    p = (np.round(np.clip(y * 0.2 + rng.random((300, 2)) * 0.8, 0, 1), 2)).astype(np.float32)
    t = thresholds.search_f1(y, p)
    g = thresholds.grid()
    for c in range(2):
        reported = thresholds.f1_curve(y[:, c], p[:, c], g).max()
        assert f1_score(y[:, c], thresholds.decide(p, t)[:, c]) == pytest.approx(reported, abs=0)
        called = np.array([k == [c] or c in k for k in decide_sub(p, t)])
        assert f1_score(y[:, c], called) == pytest.approx(reported, abs=0)


def decide_sub(p, t):
    from gapnet.cv.submission import decide

    return decide(p, t, "none")

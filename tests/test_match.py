import itertools
import os

import numpy as np
import pytest

from gapnet.segment.match import match


def test_one_prediction_at_iou_half_with_two_truths_is_one_match():
    truth = np.array([[1, 1, 2, 2]])
    pred = np.array([[1, 1, 1, 1]])  # IoU 0.5 with each truth
    m = match(pred, truth)
    assert (m.tp, m.fp, m.fn) == (1, 0, 1)


def test_perfect_and_shuffled_labels():
    truth = np.zeros((8, 8), int)
    truth[:3, :3], truth[5:, 5:], truth[:2, 6:] = 1, 2, 3
    assert match(truth, truth)[:3] == (3, 0, 0)
    shuffled = np.choose(truth, [0, 7, 4, 9])
    m = match(shuffled, truth)
    assert m[:3] == (3, 0, 0) and sorted(m.pairs) == [(4, 2), (7, 1), (9, 3)]
    assert m.ious == [1.0] * 3


def test_missed_object_and_split_prediction():
    truth = np.zeros((8, 8), int)
    truth[:4, :4], truth[4:, 4:] = 1, 2
    pred = truth * (truth == 1)
    assert match(pred, truth)[:3] == (1, 0, 1)
    split = np.zeros_like(truth)
    split[:4, :2], split[:4, 2:4] = 1, 2  # truth 1 cut in two halves: IoU 0.5 each
    split[4:, 4:] = 3
    assert match(split, truth)[:3] == (2, 1, 0)
    assert match(split, truth, 0.6)[:3] == (1, 2, 1)


@pytest.mark.parametrize("n, matched", [(59, False), (61, True)])
def test_threshold_point_six(n, matched):
    truth = np.zeros(100, int)
    truth[:100] = 1
    pred = np.zeros(100, int)
    pred[:n] = 1  # IoU n/100
    assert match(pred, truth, 0.6).tp == int(matched)


def brute(pred, truth, iou_min):
    p_ids = [i for i in np.unique(pred) if i]
    t_ids = [i for i in np.unique(truth) if i]

    def iou(a, b):
        x, y = pred == a, truth == b
        return (x & y).sum() / (x | y).sum()

    best = 0
    for perm in itertools.permutations(t_ids + [None] * len(p_ids), len(p_ids)):
        n = sum(b is not None and iou(a, b) >= iou_min for a, b in zip(p_ids, perm, strict=True))
        best = max(best, n)
    return best, len(p_ids) - best, len(t_ids) - best


def test_agrees_with_brute_force_on_random_label_images():
    rng = np.random.default_rng(0)
    for _ in range(40):
        pred, truth = rng.integers(0, 4, (2, 5, 5))
        for iou_min in (0.3, 0.5):
            assert match(pred, truth, iou_min)[:3] == brute(pred, truth, iou_min)


def _localization():
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks", "localization.py")
    spec = importlib.util.spec_from_file_location("localization_bench", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_localization_benchmark_refuses_or_labels_a_development_draw(capsys):
    bench = _localization()
    assert {7, 8} <= set(bench.DEVELOPMENT_SEEDS)  # 8: explain's default map chosen on it
    assert bench.draw_label(9) == "held-out draw (nothing tuned on it)"
    with pytest.raises(SystemExit, match="development draw"):
        bench.draw_label(7)
    assert bench.draw_label(7, allow_development=True) == "development draw (tuned on)"
    with pytest.raises(SystemExit):
        bench.main(["--seed", "7"])  # refused before any work


def test_bootstrap_difference_resamples_whole_images():
    bench = _localization()

    def score(rows, pred):
        return float(np.mean(pred[rows]))

    groups = np.repeat(np.arange(20), 3)
    a = np.ones(60)
    same = bench.bootstrap_difference(score, a, a, groups, n_boot=200)
    assert same == (0.0, (0.0, 0.0))
    rng = np.random.default_rng(1)
    b = rng.random(60)
    diff, (lo, hi) = bench.bootstrap_difference(score, a, b, groups, n_boot=400, seed=3)
    assert diff == pytest.approx(1 - b.mean()) and lo < diff < hi and lo > 0
    # Seeded: the same call gives the same interval; groups of one row give another one.
    assert bench.bootstrap_difference(score, a, b, groups, n_boot=400, seed=3) == (diff, (lo, hi))
    # Rows of one image resampled together: with the three rows of each image equal, the
    # interval over 20 images is about sqrt(3) wider than a row-wise one over 60 rows.
    b = np.repeat(rng.random(20), 3)
    _, (glo, ghi) = bench.bootstrap_difference(score, a, b, groups, n_boot=2000, seed=3)
    _, (rlo, rhi) = bench.bootstrap_difference(score, a, b, np.arange(60), n_boot=2000, seed=3)
    assert 1.4 < (ghi - glo) / (rhi - rlo) < 2.2


def test_localization_benchmark_refuses_the_runs_own_training_draw():
    from gapnet.config import Config

    bench = _localization()
    with pytest.raises(SystemExit, match="training draw"):
        bench.check_not_trained_on(Config(synthetic_seed=9), 9)
    bench.check_not_trained_on(Config(synthetic_seed=0), 9)  # another draw: scored
    bench.check_not_trained_on(Config(data="/some/folder", synthetic_seed=9), 9)

import itertools

import numpy as np
import pytest

from gapnet.data.match import match


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

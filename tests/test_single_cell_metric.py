"""The HPA 2021 metric (mAP@0.6, both conventions) on hand-worked cases, and the
submission format's round trip."""

import numpy as np
import pytest

from gapnet.single_cell.metric import average_precision, mean_average_precision
from gapnet.single_cell.submission import (
    decode_mask,
    encode_mask,
    parse_prediction_string,
    prediction_string,
)

C = 19


def field():
    """Three square cells on a 30 x 40 field: cell 1 class 0, cell 2 classes 0 and 5,
    cell 3 Negative (18)."""
    cells = np.zeros((30, 40), np.int32)
    cells[2:12, 2:12], cells[2:12, 20:30], cells[15:25, 5:15] = 1, 2, 3
    labels = np.zeros((3, C), bool)
    labels[0, 0] = labels[1, [0, 5]] = labels[2, 18] = True
    return cells, labels


def scores_of(labels, value=0.9):
    s = np.full(labels.shape, np.nan)
    s[labels] = value
    return s


def test_perfect_predictions_score_one_in_both_conventions():
    cells, labels = field()
    for conv in ("all", "present"):
        r = mean_average_precision([(cells, labels)], [(cells, scores_of(labels))], 0.6, conv)
        assert r["map"] == 1.0 and r["classes_scored"] == [0, 5, 18]
        assert r["n_true"][0] == 2 and np.isnan(r["per_class"][1])


def test_shuffled_labels_lose_and_a_missed_cell_costs_its_share_of_recall():
    cells, labels = field()
    shuffled = labels[[2, 0, 1]]  # every cell gets another cell's labels
    r = mean_average_precision([(cells, labels)], [(cells, scores_of(shuffled))])
    # class 0: cells 2, 3 predicted (3 is wrong): TP on 2 ranks with FP on 3 at one score
    # (stable order: cell 2 first): P = 1 at R = 0.5; class 5 on cell 3: 0; 18 on 1: 0
    assert r["per_class"][0] == pytest.approx(0.5)
    assert r["per_class"][5] == 0.0 and r["per_class"][18] == 0.0
    missed = scores_of(labels)
    missed[0] = np.nan  # cell 1 not predicted at all
    r = mean_average_precision([(cells, labels)], [(cells, missed)])
    assert r["per_class"][0] == pytest.approx(0.5) and r["per_class"][5] == 1.0


def test_a_duplicate_prediction_is_a_false_positive_at_its_rank():
    # two true cells of class 0; predictions: A 0.9, A again 0.8, B 0.7 -> TP, FP, TP:
    # precision 1 at recall 0.5, 2/3 at recall 1: AP = 0.5 + 0.5 * 2/3
    ap = average_precision([0.9, 0.8, 0.7], [True, False, True], 2)
    assert ap == pytest.approx(0.5 + 0.5 * 2 / 3)
    cells, labels = field()
    pred = np.zeros_like(cells)
    pred[cells == 1], pred[cells == 2] = 1, 3
    pred[:1, :1] = 2  # a duplicate of cell 1's class in a second, tiny mask (IoU ~0)
    sc = np.full((3, C), np.nan)
    sc[0, 0], sc[1, 0], sc[2, 0] = 0.9, 0.8, 0.7
    r = mean_average_precision([(cells, labels)], [(pred, sc)])
    assert r["per_class"][0] == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_the_iou_threshold_is_inclusive_at_0_6():
    labels = np.zeros((1, C), bool)
    labels[0, 3] = True
    sc = np.full((1, C), np.nan)
    sc[0, 3] = 0.5
    # IoU 0.59, 0.60 and 0.61 exactly: 59, 60 and 61 of 100 columns (Open Images: >=)
    truth = np.zeros((1, 100), np.int32)
    truth[:, :] = 1
    for width, expected in ((59, 0.0), (60, 1.0), (61, 1.0)):
        pred = np.zeros_like(truth)
        pred[:, :width] = 1
        assert mean_average_precision([(truth, labels)], [(pred, sc)])["map"] == expected


def test_the_conventions_differ_on_predictions_in_images_without_the_class():
    cells, labels = field()
    other = np.zeros((1, C), bool)
    other[0, 2] = True  # a second image whose only cell is class 2
    cells2 = np.zeros((30, 40), np.int32)
    cells2[5:15, 5:15] = 1
    wrong = np.full((1, C), np.nan)
    wrong[0, [0, 2]] = [0.95, 0.9]  # class 0 predicted there, above image 1's predictions
    truth = [(cells, labels), (cells2, other)]
    preds = [(cells, scores_of(labels, 0.8)), (cells2, wrong)]
    a = mean_average_precision(truth, preds, convention="all")
    p = mean_average_precision(truth, preds, convention="present")
    # all: class 0's best-ranked prediction is the false one: P = 1/2, 2/3 at R = 1/2, 1
    assert a["per_class"][0] == pytest.approx(0.5 * 2 / 3 + 0.5 * 2 / 3)
    assert p["per_class"][0] == 1.0  # ignored: image 2 holds no class-0 cell
    assert a["per_class"][2] == p["per_class"][2] == 1.0


def test_bad_inputs_are_named():
    cells, labels = field()
    with pytest.raises(ValueError, match="convention"):
        mean_average_precision([(cells, labels)], [(cells, labels)], convention="kaggle")
    with pytest.raises(ValueError, match="1 truth images but 2"):
        mean_average_precision([(cells, labels)], [(cells, labels)] * 2)
    with pytest.raises(ValueError, match="image 0: predicted cells"):
        mean_average_precision([(cells, labels)], [(cells[:10], scores_of(labels))])
    with pytest.raises(ValueError, match="true cell 3 has no row"):
        mean_average_precision([(cells, labels[:2])], [(cells, scores_of(labels))])


def test_masks_round_trip_through_the_competition_encoding():
    rng = np.random.default_rng(0)
    mask = rng.random((37, 53)) < 0.3
    text = encode_mask(mask)
    np.testing.assert_array_equal(decode_mask(text, 37, 53), mask)
    # the competition's encode_binary_mask, written out: the same bytes
    import base64
    import zlib

    from pycocotools import mask as coco

    m = np.asfortranarray(mask.astype(np.uint8).reshape(37, 53, 1))
    ref = base64.b64encode(zlib.compress(coco.encode(m)[0]["counts"], zlib.Z_BEST_COMPRESSION))
    assert text == ref.decode()
    with pytest.raises(ValueError, match="not an encoded 37x53 mask"):
        decode_mask("not-base64!", 37, 53)


def test_a_prediction_string_decodes_back_to_the_same_cells_labels_and_confidences():
    cells, labels = field()
    scores = np.full((3, C), np.nan)
    scores[0, 0], scores[1, [0, 5]], scores[2, 18] = 0.25, [0.5, 0.125], 0.75
    text = prediction_string(cells, scores)
    assert len(text.split()) == 3 * 4  # cell 2's mask repeated for its two labels
    back, back_scores = parse_prediction_string(text, 30, 40)
    np.testing.assert_array_equal(back, cells)
    np.testing.assert_array_equal(np.isnan(back_scores), np.isnan(scores))
    np.testing.assert_allclose(back_scores[~np.isnan(scores)], scores[~np.isnan(scores)])
    with pytest.raises(ValueError, match="triples"):
        parse_prediction_string("0 0.5", 30, 40)
    with pytest.raises(ValueError, match="label '19' outside 0..18"):
        parse_prediction_string(text.replace("18 ", "19 ", 1), 30, 40)


def test_a_submission_csv_round_trips_and_bad_rows_are_named(tmp_path):
    from gapnet.single_cell.submission import read_submission, write_submission

    cells, labels = field()
    scores = np.full((3, C), np.nan)
    scores[0, 0], scores[1, [0, 5]], scores[2, 18] = 0.25, [0.5, 0.125], 0.75
    path = tmp_path / "submission.csv"
    write_submission(
        str(path), [("img1", 40, 30, prediction_string(cells, scores)), ("img2", 40, 30, "")]
    )
    back = read_submission(str(path))
    np.testing.assert_array_equal(back["img1"][0], cells)
    assert back["img2"][0].max() == 0 and back["img2"][1].shape == (0, C)
    path.write_text(path.read_text().replace("img2,40,30,", "img2,40,30,0 0.5"))
    with pytest.raises(ValueError, match="submission.csv:3: .*triples"):
        read_submission(str(path))

"""The learned nucleus segmenter (gapnet.segment.learned, the default method): its weights
in the package, its post-processing, and its nuclei on real crops it never saw, where the
classical method falls short."""

import json
import os

import numpy as np
import pytest

from benchmarks.segmentation_real import median_diameter, nucleus_references, score
from gapnet.segment import SegmentParams, segment_nuclei
from gapnet.segment.learned import WEIGHTS
from gapnet.segment.nuclei_net import labels_from_maps, targets
from gapnet.segment.nuclei_training import is_validation

REFS = nucleus_references()
CARD = WEIGHTS.replace(".weights.h5", ".json")
LEARNED_DSB_F1 = 0.85


def test_the_learned_method_is_the_default_and_a_wrong_name_is_refused():
    assert SegmentParams().method == "learned"
    assert SegmentParams(50.0).nucleus_diameter == 50.0  # positional use unchanged
    with pytest.raises(ValueError, match="'stardist'"):
        SegmentParams(method="stardist")


def test_the_weights_and_their_card_ship_in_the_package():
    assert os.path.getsize(WEIGHTS) < 4 * 2**20  # a few MB, loaded from the package
    card = json.load(open(CARD))
    assert len(card["data_sha256"]) == 64 and card["steps"] > 0 and card["seed"] == 0
    # the validation split is the fixed hash rule: never trained on
    assert card["validation_ids"] and all(is_validation(i) for i in card["validation_ids"])
    assert "CC0" in card["licence"]


def test_targets_and_post_processing_split_touching_nuclei():
    # two overlapping disks drawn as two labels: the centre map dips on their seam, so the
    # maps made from the labels give the two nuclei back (no network involved)
    yy, xx = np.mgrid[:64, :64]
    truth = np.zeros((64, 64), np.int32)
    truth[np.hypot(yy - 32, xx - 22) < 11] = 1
    truth[np.hypot(yy - 32, xx - 40) < 11] = 2
    maps = targets(truth)
    assert maps[..., 1].max() == 1.0 and maps[32, 31, 1] < 0.3
    found = labels_from_maps(maps[..., 0], maps[..., 1])
    assert found.max() == 2 and score(found, truth)["f1@0.6"] == 1.0


def test_dsb_nuclei_without_a_size_beat_the_classical_method():
    # the Data Science Bowl image of stardist's tests (65 nuclei, ~9 px; identical DSB image
    # removed from the training set), no diameter given
    image, truth = REFS["stardist_dsb2018"]
    learned = score(segment_nuclei(image), truth)
    classical = score(segment_nuclei(image, SegmentParams(method="classical")), truth)
    assert learned["f1@0.5"] >= LEARNED_DSB_F1, learned
    assert classical["f1@0.5"] < LEARNED_DSB_F1, classical


def test_bbbc039_nuclei_given_or_estimated():
    image, truth = REFS["bbbc039"]
    for d in (median_diameter(truth), None):
        s = score(segment_nuclei(image, SegmentParams(nucleus_diameter=d)), truth)
        assert s["f1@0.5"] >= 0.9, (d, s)


def test_a_blank_field_has_no_nuclei():
    assert segment_nuclei(np.zeros((64, 64), np.uint16)).max() == 0

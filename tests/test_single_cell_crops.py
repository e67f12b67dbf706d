"""Masked cell crops: each cell alone, centred, other cells' pixels zeroed."""

import numpy as np
import pytest

from gapnet.single_cell.crops import cell_boxes, cell_crops


def test_each_crop_holds_its_cell_alone_centred_and_masked():
    image = np.zeros((40, 60, 4), np.uint8)
    cells = np.zeros((40, 60), np.int32)
    cells[5:15, 5:25] = 1  # a 10 x 20 cell
    cells[20:36, 30:46] = 3  # label 2 skipped
    cells[14:20, 20:32] = 4  # touches both
    image[..., 0] = 200
    image[..., 1] = np.where(cells == 3, 90, 10)
    crops, labels = cell_crops(image, cells, size=32, margin=0.0)
    assert labels.tolist() == [1, 3, 4] and crops.shape == (3, 32, 32, 4)
    assert crops.dtype == np.uint8
    # cell 3 (16 x 16, square): the crop is the box itself, every pixel its own
    np.testing.assert_array_equal(crops[1, ..., 1], 90)
    # cell 1 (10 x 20): a 20 x 20 square centred on it, the rows above and below zero
    c1 = crops[0, ..., 0]
    assert (c1[:6] == 0).all() and (c1[-6:] == 0).all() and (c1[10:22] == 200).all()
    # cell 4's crop (enlarged, so its edge blends with 0) shows none of cell 3's green 90
    assert crops[2, ..., 1].max() == 10 and (crops[2, ..., 1] > 0).mean() > 0.2
    assert cell_boxes(cells) == {1: (5, 5, 15, 25), 3: (20, 30, 36, 46), 4: (14, 20, 20, 32)}


def test_a_cell_at_the_edge_is_padded_with_zeros_and_16_bit_is_kept():
    image = np.full((20, 20), 60000, np.uint16)
    cells = np.zeros((20, 20), np.int32)
    cells[:6, :6] = 1
    crops, _ = cell_crops(image, cells, size=12, margin=0.5)  # a 12-px square around (3, 3)
    assert crops.dtype == np.uint16 and crops.shape == (1, 12, 12, 1)
    assert crops[0, 0, 0, 0] == 0 and crops[0, 6, 6, 0] == 60000
    with pytest.raises(ValueError, match="image is \\(20, 20\\), its cell mask \\(10, 10\\)"):
        cell_crops(image, cells[:10, :10])

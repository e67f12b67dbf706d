"""Single-cell variability in the synthetic atlas: a subset of cells shows each label, the
image's labels are the union of its cells', the truth says which cell shows what, and the
knob off leaves every byte of the 2018 atlas as it was."""

import collections
import csv
import hashlib
import os

import numpy as np
import pytest

from gapnet.data.labels import read_labels
from gapnet.data.synthetic.generate import render_sample, write_dataset
from gapnet.data.synthetic.render import variable_cells

# sha1 of render_sample(3, 5, labels, size) measured on the code before the knob (commit
# before "Single-cell variability"): the default atlas, and so the default job's figures,
# cannot have moved
GOLDEN = {
    ((0, 25), 64): "89aa82c299760d3c01895275445d7e2debe98781",
    ((16, 17, 22), 96): "182eccecc111dd500f8353dc56c69e99e0b27d64",
    ((8, 20, 26), 128): "c0fe94ea4ba38927df720cf9e3b2969b3ad63e27",
}


@pytest.mark.parametrize("labels,size", list(GOLDEN))
def test_the_knob_off_renders_the_same_bytes_as_before_it(labels, size):
    for kw in ({}, {"variability": 0.0}, {"truth": {}}):
        img = render_sample(3, 5, labels, size, **kw)
        assert hashlib.sha1(img.tobytes()).hexdigest() == GOLDEN[(labels, size)], kw


@pytest.fixture(scope="module")
def atlas(tmp_path_factory):
    root = tmp_path_factory.mktemp("var") / "atlas"
    write_dataset(
        root, 16, 128, seed=4, workers=1, progress=False, variability=1.0, scheme="hpa2021"
    )
    table = read_labels(root / "train.csv")
    cells = collections.defaultdict(dict)
    with open(root / "truth" / "cells.csv", newline="") as f:
        for r in csv.DictReader(f):
            cells[r["Id"]][int(r["cell"])] = {int(k) for k in r["labels"].split()}
    return root, table, cells


def test_images_carry_the_union_of_their_cells_labels_and_some_cells_are_negative(atlas):
    root, table, cells = atlas
    assert table.scheme == "hpa2021" and table.targets.shape == (16, 19)
    partial = 0
    for sid, t in zip(table.ids, table.targets, strict=True):
        image = set(np.flatnonzero(t).tolist())
        per_cell = list(cells[sid].values())
        assert set().union(*per_cell) - {18} == image - {18}, sid
        for k in image - {18}:
            share = np.mean([k in c for c in per_cell])
            partial += 0 < share < 0.9
        assert all(c == {18} or 18 not in c for c in per_cell)  # Negative stands alone
    assert partial >= 8  # at variability 1 most labels show in a subset of the cells
    negative = sum(c == {18} for cs in cells.values() for c in cs.values())
    assert negative > 0.2 * sum(len(cs) for cs in cells.values())


def test_the_pixels_follow_the_truth_cells_that_show_a_label_are_brighter(atlas):
    from gapnet.data.images import read_sample
    from gapnet.segment import read_mask

    root, table, cells = atlas
    ratios = []
    for sid in table.ids:  # cells that show a location against Negative cells
        green = read_sample(str(root / "train"), sid, 128)[..., 1].astype(float)
        mask = read_mask(str(root / "truth" / f"{sid}_cells.png"))
        on = [green[mask == c].mean() for c, ks in cells[sid].items() if ks != {18}]
        off = [green[mask == c].mean() for c, ks in cells[sid].items() if ks == {18}]
        if on and off:
            ratios.append(np.mean(on) / max(np.mean(off), 1e-6))
    assert len(ratios) >= 8 and np.median(ratios) > 2, ratios


def test_variable_cells_keeps_an_expressing_cell_for_every_label():
    rng = np.random.default_rng(0)
    expr = np.array([0, 1.2, 0.8, 0, 1.0, 0], np.float32)  # last: outside the cells
    for _ in range(200):
        shows = variable_cells([3, 7], expr, rng, 1.0)
        for show in shows.values():
            assert show[-1] == 0 and show[[1, 2, 4]].any()
    always = variable_cells([3], expr, rng, 0.0)[3]
    np.testing.assert_array_equal(always, [1, 1, 1, 1, 1, 0])
    with pytest.raises(ValueError, match="variability must be in 0..1"):
        write_dataset(os.devnull + "x", 4, 64, variability=1.5)

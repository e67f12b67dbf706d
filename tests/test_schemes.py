"""Label schemes: the 2021 CSV read and validated like the 2018 one, and the measured
correspondence between the two sets."""

import csv
import os

import numpy as np
import pytest

from gapnet.data.labels import DataError, parse_label_csv, read_labels
from gapnet.schemes import HPA2018_TO_HPA2021, HPA2021_NAMES, SCHEMES, get_scheme, to_hpa2021

RESOURCE = os.path.join(
    os.path.dirname(__file__), "..", "gapnet", "resources", "hpa2018_to_hpa2021.csv"
)


def test_the_two_schemes():
    assert SCHEMES["hpa2018"].n_classes == 28 and SCHEMES["hpa2021"].n_classes == 19
    assert HPA2021_NAMES[SCHEMES["hpa2021"].negative] == "Negative"
    assert SCHEMES["hpa2021"].format([1, 0, 0, 0, 0, 1, 0, 0, 1] + [0] * 10) == "0|5|8"
    with pytest.raises(ValueError, match="unknown label scheme 'hpa2019'.*hpa2018, hpa2021"):
        get_scheme("hpa2019")


def test_a_2021_train_csv_is_read_from_its_header_and_bad_rows_are_named(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(
        "ID,Label\n"
        "a1,8|5|0\n"
        "a2,13|13\n"  # as 146 rows of the official file: counted once, a note
        "a3,19\n"  # outside 0..18
        "a4,\n"
        "a5,18\n"
        "a6,2 | 3\n"
    )
    table, problems = parse_label_csv(path)
    assert table.scheme == "hpa2021" and table.targets.shape == (4, 19)
    assert table.ids == ("a1", "a2", "a5", "a6")
    np.testing.assert_array_equal(np.flatnonzero(table.targets[0]), [0, 5, 8])
    np.testing.assert_array_equal(np.flatnonzero(table.targets[1]), [13])
    np.testing.assert_array_equal(np.flatnonzero(table.targets[3]), [2, 3])
    by_row = {p.row: p for p in problems}
    assert by_row[3].severity == "note" and "repeated" in by_row[3].message
    assert "label 19 outside 0..18 (hpa2021)" in str(by_row[4]) and "a3" in str(by_row[4])
    assert "empty Label" in str(by_row[5])
    with pytest.raises(DataError, match=r"(?s)2 problem\(s\).*train.csv:4 \(Id a3\)"):
        read_labels(path)  # the errors raise; the note does not count


def test_a_2021_negative_with_a_location_is_refused_naming_the_row(tmp_path):
    """In the official 2021 train.csv 18 (Negative) always stands alone (34 rows, none
    mixed): `18|3` is a contradiction, not a label set."""
    path = tmp_path / "train.csv"
    path.write_text("ID,Label\na1,18\na2,18|3\na3,3\na4,18|18\n")
    table, problems = parse_label_csv(path)
    assert table.ids == ("a1", "a3", "a4")
    errors = [p for p in problems if p.severity == "error"]
    assert len(errors) == 1 and errors[0].row == 3 and errors[0].sample_id == "a2"
    assert "'18|3'" in errors[0].message and "Negative" in errors[0].message


def test_a_header_that_does_not_fit_the_scheme_given_is_an_error(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("Id,Target\ns1,0 27\n")
    assert read_labels(path).scheme == "hpa2018"
    with pytest.raises(DataError, match="train.csv:1: header is 'Id,Target'; expected 'ID,Label'"):
        read_labels(path, scheme="hpa2021")
    path.write_text("ID,Label\ns1,0\n")
    with pytest.raises(DataError, match="expected 'Id,Target'"):
        read_labels(path, scheme="hpa2018")


def test_to_hpa2021_merges_and_drops_as_measured():
    t = np.zeros((4, 28), np.uint8)
    t[0, [8, 20]] = 1  # peroxisomes + lipid droplets: both vesicles
    t[1, [12, 13, 0]] = 1  # actin + focal adhesions: actin; nucleoplasm
    t[2, 27] = 1  # rods & rings alone: no 2021 class, so Negative
    t[3, [16, 25]] = 1  # cytokinetic bridge dropped, cytosol kept
    out = to_hpa2021(t)
    assert [np.flatnonzero(r).tolist() for r in out] == [[17], [0, 9], [18], [16]]


def test_the_mapping_agrees_with_the_measured_correspondence():
    # the committed table was measured on the 21,806 Ids the two training CSVs share
    # (data_prep/scheme_correspondence.py); every mapped class must be carried by at least
    # 90 % of its images there, and the dropped ones must have no 2021 class
    with open(RESOURCE, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["hpa2018"]) for r in rows] == list(range(28))
    assert sum(int(r["images"]) for r in rows) > 21806  # multi-label images count per class
    for r in rows:
        mapped = HPA2018_TO_HPA2021[int(r["hpa2018"])]
        assert (r["hpa2021"] == "") == (mapped is None), r
        if mapped is not None:
            assert int(r["hpa2021"]) == mapped and float(r["share"]) >= 0.9, r
            assert r["most_carried"].split()[0].split(":")[0] == str(mapped) or mapped == 0


def test_correspondence_counts_a_hand_made_table():
    from data_prep.scheme_correspondence import correspondence

    t18 = np.zeros((4, 28), np.uint8)
    t18[[0, 1, 2], 8] = 1
    t18[2, 0] = 1
    t18[3, 27] = 1
    t21 = np.zeros((4, 19), np.uint8)
    t21[[0, 1], 17] = 1
    t21[2, [0, 17]] = 1
    t21[3, 18] = 1
    rows, exact = correspondence(t18, t21)
    assert rows[8]["images"] == 3 and rows[8]["share"] == 1.0
    assert rows[8]["single_label_images"] == 2 and rows[8]["single_label_share"] == 1.0
    assert rows[27]["hpa2021"] == "" and rows[27]["most_carried"] == "18:1.00"
    assert exact == 1.0
    t21[1, 17], t21[1, 5] = 0, 1  # one image now disagrees
    rows, exact = correspondence(t18, t21)
    assert rows[8]["share"] == pytest.approx(2 / 3, abs=1e-3) and exact == 0.75


def test_2018_probabilities_become_2021_ones_by_noisy_or_with_negative_as_none():
    from gapnet.schemes import probabilities_to_hpa2021

    p = np.zeros((2, 28))
    p[0, [8, 9]] = [0.5, 0.5]  # peroxisomes and endosomes: vesicles
    p[0, 0] = 0.2
    p[1, 27] = 0.9  # rods & rings: no 2021 class
    out = probabilities_to_hpa2021(p)
    assert out.shape == (2, 19)
    assert out[0, 17] == pytest.approx(0.75) and out[0, 0] == pytest.approx(0.2)
    assert out[0, 18] == pytest.approx(0.25 * 0.8)  # no location: neither vesicles nor 0
    assert out[1, :18].max() == 0 and out[1, 18] == pytest.approx(1.0)


@pytest.mark.slow
def test_a_2021_run_trains_scores_reports_and_exports_19_classes(tmp_path, tiny_run):
    """--scheme hpa2021 end to end: 19 outputs, thresholds and per-class rows named by the
    2021 scheme (Negative last), the card and preset say so, and compare refuses to put a
    19-class run beside a 28-class one."""
    import json
    import os

    from gapnet.config import Config
    from gapnet.cv.kfold import run_kfold
    from gapnet.data.synthetic.generate import write_dataset
    from gapnet.export.preset import export_run
    from gapnet.report.run_report import write_report
    from gapnet.report.tables import comparison_rows
    from tests.conftest import TINY

    data = write_dataset(tmp_path / "a21", 30, 48, 3, workers=1, progress=False, scheme="hpa2021")
    out = str(tmp_path / "run")
    m = run_kfold(Config(data=data, scheme="hpa2021", **TINY), out, log=lambda *a: None)
    assert m["scheme"] == "hpa2021" and m["n_classes"] == 19
    assert len(m["per_class"]["f1"]) == 19
    thr = json.load(open(os.path.join(out, "thresholds.json")))["thresholds"]
    assert len(thr) == 19
    write_report(out, log=lambda *a: None)
    md = open(os.path.join(out, "report", "report.md")).read()
    assert "| 18 | Negative |" in md and "Vesicles and punctate" in md
    exp = export_run(out, str(tmp_path / "preset"), formats=(), log=lambda *a: None)
    preset = json.load(open(os.path.join(exp, "preset.json")))
    assert preset["scheme"] == "hpa2021" and preset["class_names"][-1] == "Negative"
    card = open(os.path.join(exp, "README.md")).read()
    assert "19 sigmoid probabilities" in card and "Negative" in card
    runs = [
        {"name": "r21", "config": {}, "metrics": m},
        {"name": "r18", "config": {}, "metrics": tiny_run[1]},
    ]
    with pytest.raises(ValueError, match="different label schemes"):
        comparison_rows(runs)
    # a 2021 CSV under the 2018 scheme is refused with the header named
    with pytest.raises(DataError, match="ID,Label"):
        run_kfold(Config(data=data, scheme="hpa2018", **TINY), str(tmp_path / "x"), log=print)

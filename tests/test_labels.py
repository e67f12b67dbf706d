import numpy as np
import pytest

from gapnet.data.labels import DataError, check_id, parse_label_csv, parse_target, read_labels
from tests.conftest import REAL_PNG


def parse(tmp_path, text, require_targets=True, raw=None):
    p = tmp_path / "train.csv"
    p.write_bytes(raw if raw is not None else text.encode())
    return parse_label_csv(p, require_targets)


def test_real_rows_become_multi_hot():
    table = read_labels(f"{REAL_PNG}/train_rows.csv")
    assert len(table) == 8 and table.targets.shape == (8, 28) and table.targets.dtype == np.uint8
    i = table.ids.index("fe98a67c-bbc2-11e8-b2bc-ac1f6b6435d0")  # "25 7 0"
    assert np.flatnonzero(table.targets[i]).tolist() == [0, 7, 25]
    assert table.rows[0] == 2  # header is line 1


def test_quirks_bom_crlf_spaces_blank_lines(tmp_path):
    raw = "\ufeffId,Target\r\na, 16  0 \r\n\r\nb,27\r\n\r\n\r\n".encode()
    table, problems = parse(tmp_path, None, raw=raw)
    assert problems == []
    assert table.ids == ("a", "b")
    assert np.flatnonzero(table.targets[0]).tolist() == [0, 16]
    assert table.targets[1, 27] == 1


@pytest.mark.parametrize(
    "row, message",
    [
        ("a,28", "label 28 outside 0..27"),
        ("a,3 x", "label 'x' is not a number"),
        ("a,-1", "label '-1' is not a number"),
        ("a,", "empty Target"),
        ("a,1,2", "expected 2 fields, found 3"),
        ("../etc/passwd,1", "not a plain file-name stem"),
        ("sub/x,1", "not a plain file-name stem"),
        ("a b,1", "characters outside"),
    ],
)
def test_each_row_error_names_line_and_reason(tmp_path, row, message):
    table, problems = parse(tmp_path, f"Id,Target\nok,1\n{row}\n")
    assert table.ids == ("ok",)
    assert len(problems) == 1
    assert problems[0].row == 3 and message in problems[0].message
    assert "train.csv:3" in str(problems[0])


def test_duplicate_id_names_first_line(tmp_path):
    _, problems = parse(tmp_path, "Id,Target\na,1\nb,2\na,3\n")
    assert [(p.row, p.sample_id) for p in problems] == [(4, "a")]
    assert "first on line 2" in problems[0].message


def test_test_csv_ignores_labels(tmp_path):
    table, problems = parse(tmp_path, "Id,Predicted\na,0\nb,\n", require_targets=False)
    assert problems == [] and table.ids == ("a", "b") and table.targets.sum() == 0


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"", "empty CSV"),
        (b"Name,Label\na,1\n", "expected 'Id,Target'"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"Id,Target\na,1\x00\n", "NUL"),
    ],
)
def test_unusable_files_raise_naming_the_file(tmp_path, raw, message):
    with pytest.raises(DataError, match=message) as e:
        parse(tmp_path, None, raw=raw)
    assert "train.csv" in str(e.value)


def test_read_labels_lists_all_problems(tmp_path):
    p = tmp_path / "train.csv"
    p.write_text("Id,Target\na,99\nb,\nc,1\n")
    with pytest.raises(DataError) as e:
        read_labels(p)
    assert "2 problem(s)" in str(e.value) and ":2 (Id a)" in str(e.value)


def test_parse_target_and_check_id():
    assert parse_target(" 1  2 ") == [1, 2]
    assert check_id("10580_1610_C1_1") is None
    assert check_id("..") is not None and check_id("a\\b") is not None

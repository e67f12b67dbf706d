"""Property-based tests: the CSV parser and the image loader on random and malformed bytes.

Whatever the bytes, they return a result or raise the package's own clear error
(DataError / ImageError naming the file): never a hang, never another exception.
"""

import io
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from gapnet.data.images import ImageError, read_channel
from gapnet.data.labels import DataError, parse_label_csv
from tests.conftest import real_pngs

FUZZ = settings(
    max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

CSV_ALPHABET = st.sampled_from(list("Id,Target Predicted0123456789 ,,\n\r\"'\t;-_.a/\\\x00é\ufeff"))


def _check_table(table, problems):
    assert len(table.ids) == len(table.targets) == len(table.rows)
    assert table.targets.shape[1:] == (28,) and set(np.unique(table.targets)) <= {0, 1}
    for p in problems:
        assert p.row is None or p.row >= 1
        assert str(p).startswith(("ERROR", "NOTE"))


@FUZZ
@given(st.binary(max_size=400))
def test_csv_parser_on_random_bytes(data):
    try:
        _check_table(*parse_label_csv("fuzz.csv", data=data))
    except DataError as e:
        assert "fuzz.csv" in str(e)


@FUZZ
@given(st.text(CSV_ALPHABET, max_size=300), st.booleans())
def test_csv_parser_on_csv_like_text(body, require_targets):
    data = ("Id,Target\n" + body).encode("utf-8")
    try:
        table, problems = parse_label_csv("fuzz.csv", require_targets, data=data)
        _check_table(table, problems)
        for sample_id in table.ids:  # an Id that survives is a safe file-name stem
            assert "/" not in sample_id and "\\" not in sample_id and ".." not in sample_id
    except DataError as e:
        assert "fuzz.csv" in str(e)


def _small_png() -> bytes:
    img = Image.open(real_pngs()[0]).crop((100, 100, 164, 164))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


SMALL_PNG = _small_png()


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, len(SMALL_PNG) - 1), st.integers(0, 255)), max_size=8),
    st.integers(1, len(SMALL_PNG)),
)
def test_image_loader_on_mutated_pngs(tmp_path_factory, flips, cut):
    data = bytearray(SMALL_PNG[:cut])
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    path = os.path.join(tmp_path_factory.getbasetemp(), "fuzz_green.png")
    with open(path, "wb") as f:
        f.write(bytes(data))
    try:
        arr = read_channel(path, "green", 32)
        assert arr.shape == (32, 32) and arr.dtype == np.uint8
    except ImageError as e:
        assert "fuzz_green.png" in str(e)


@FUZZ
@given(st.binary(max_size=300))
def test_image_loader_on_random_bytes(tmp_path_factory, data):
    path = os.path.join(tmp_path_factory.getbasetemp(), "rand_red.png")
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + data if data[:1] == b"\x00" else data)
    try:
        read_channel(path, "red", 16)
    except ImageError as e:
        assert "rand_red.png" in str(e)


def test_a_png_header_claiming_a_huge_image_is_refused_before_decoding(tmp_path):
    import struct
    import zlib

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    path = tmp_path / "bomb_blue.png"
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + chunk(b"IEND", b"")
    )
    try:
        read_channel(str(path), "blue", 64)
        raise AssertionError("accepted")
    except ImageError as e:
        assert "bomb_blue.png" in str(e) and "20000x20000" in str(e)

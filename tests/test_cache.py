"""The uint8 cache: same pixels and predictions as the PNGs, staleness, resumable builds."""

import os

import numpy as np
import pytest

from gapnet.config import Config
from gapnet.cv.kfold import run_kfold
from gapnet.cv.runfolder import read_predictions
from gapnet.data import cache, cache_reader
from gapnet.data.images import ImageError
from gapnet.data.labels import DataError
from gapnet.data.pipeline import PngReader, make_dataset
from gapnet.data.source import open_source
from gapnet.data.synthetic.generate import write_dataset

quiet = dict(log=lambda *a: None)


@pytest.fixture()
def data(tmp_path):
    return write_dataset(tmp_path / "syn", 20, 32, seed=5, workers=1, progress=False)


def test_cache_rows_equal_the_decoded_files_and_batches_match(data):
    folder = cache.build(data, 32, progress=False, **quiet)
    src = open_source(data)
    ids = list(src.labels.ids)[::-1]  # any order of Ids
    png, cached = PngReader(src.image_dir, src.ext, ids, 32), cache_reader.CacheReader(folder, ids)
    for i in range(len(ids)):
        np.testing.assert_array_equal(cached(i), png(i))
    a = np.concatenate([x for x, _ in make_dataset(png, src.labels.targets, 6, training=False)])
    b = np.concatenate([x for x, _ in make_dataset(cached, src.labels.targets, 6, training=False)])
    np.testing.assert_array_equal(a, b)  # the batch-gather path is bit-identical


@pytest.mark.slow
def test_training_on_the_cache_gives_the_same_predictions(data, tmp_path):
    # 10 training samples per fold: too few to hold out a selection set, so the last epoch.
    small = dict(
        data=data,
        image_size=32,
        epochs=2,
        batch_size=8,
        folds=2,
        verbose=0,
        deterministic=True,
        model_kwargs={"widths": [8, 8, 8], "dense": [16, 16]},
        selection="last",
        early_stopping_patience=0,
    )
    run_kfold(Config(cache="off", **small), str(tmp_path / "png"), **quiet)
    cache.build(data, 32, progress=False, **quiet)
    logs = []
    run_kfold(Config(cache="require", **small), str(tmp_path / "cached"), log=logs.append)
    assert any("reading images from the uint8 cache" in m for m in logs)
    np.testing.assert_array_equal(
        read_predictions(str(tmp_path / "png/oof_predictions.csv"))[1],
        read_predictions(str(tmp_path / "cached/oof_predictions.csv"))[1],
    )


def test_a_stale_cache_is_noticed(data):
    cache.build(data, 32, progress=False, **quiet)
    src = open_source(data)
    path = src.paths(src.labels.ids[3])[1]
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    logs = []
    assert isinstance(cache.open_reader(src, src.labels.ids, 32, "auto", logs.append), PngReader)
    assert "stale" in logs[0]
    with pytest.raises(DataError, match="stale.*build_cache.py"):
        cache.open_reader(src, src.labels.ids, 32, "require", **quiet)
    assert isinstance(cache.open_reader(src, src.labels.ids, 16, "auto", **quiet), PngReader)


def test_an_interrupted_build_keeps_its_rows_and_continues(data, monkeypatch):
    src = open_source(data)
    bad = src.paths(src.labels.ids[13])[2]
    good = open(bad, "rb").read()
    open(bad, "wb").write(good[:60])  # truncated PNG
    monkeypatch.setattr(cache, "CHUNK", 4)
    with pytest.raises(ImageError, match=os.path.basename(bad)):
        cache.build(data, 32, workers=1, progress=False, **quiet)
    assert (np.load(os.path.join(cache.cache_dir(data, "train", 32), "rows.npy")) > 0).sum() == 12
    open(bad, "wb").write(good)
    logs = []
    folder = cache.build(data, 32, workers=1, progress=False, log=logs.append)
    reader = cache_reader.CacheReader(folder, src.labels.ids)
    png = PngReader(src.image_dir, src.ext, src.labels.ids, 32)
    np.testing.assert_array_equal(reader(13), png(13))
    assert "12 of 20 samples already cached, decoding 8" in logs[0]
    logs.clear()  # an edit later: only that sample is decoded again
    os.utime(bad, ns=(os.stat(bad).st_atime_ns, os.stat(bad).st_mtime_ns + 10**9))
    cache.build(data, 32, workers=1, progress=False, log=logs.append)
    assert "19 of 20 samples already cached, decoding 1" in logs[0]


def test_a_cache_that_would_not_fit_is_refused_before_writing(data, monkeypatch, tmp_path):
    import shutil
    from collections import namedtuple

    from gapnet.io import DiskSpaceError

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))
    n = len(open_source(data).labels.ids)
    with pytest.raises(DiskSpaceError, match=f"{n * 24 * 24 * 4:,} bytes") as e:
        cache.build(data, 24, progress=False, **quiet)
    assert cache.cache_dir(data, "train", 24) in str(e.value)
    assert not os.path.exists(os.path.join(cache.cache_dir(data, "train", 24), "images.u8"))


def test_a_failed_open_is_a_clear_error_and_a_full_disk_names_the_cache(
    data, tmp_path, monkeypatch
):
    import errno
    import gc
    import sys

    from gapnet.io import DiskSpaceError

    ids = list(open_source(data).labels.ids)
    folder = cache.build(data, 24, log=lambda *a: None, progress=False)
    ignored = []
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)
    with pytest.raises(DataError, match="lacks 1"):
        cache_reader.CacheReader(folder, ids + ["nope"])
    gc.collect()  # no "Exception ignored in __del__" from the half-built reader
    assert ignored == []
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    real = os.pwrite
    try:
        calls = []

        def short(f, data, offset):  # pwrite may write less than asked
            calls.append(len(data))
            return real(f, bytes(data)[: max(1, len(data) // 2)], offset)

        os.pwrite = short
        cache._write_row(fd, b"abcdefgh", 0, "X")
        os.pwrite = lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full"))
        with pytest.raises(DiskSpaceError, match="X: the disk filled"):
            cache._write_row(fd, b"abc", 8, "X")
    finally:
        os.pwrite = real
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == b"abcdefgh" and calls[0] == 8 and len(calls) > 1


def test_a_reader_closes_quietly_at_interpreter_exit(data):
    """At exit a module's globals may already be None when the last reference to a reader
    goes (the teardown below does that to `gapnet.data.cache_reader`): no "Exception ignored"
    traceback, and the descriptor is closed, at once or at exit."""
    import subprocess
    import sys

    cache.build(data, 16, progress=False, **quiet)
    script = f"""
import os, sys
from gapnet.data import cache, cache_reader
from gapnet.data.source import open_source
folder = cache.cache_dir({data!r}, "train", 16)
ids = open_source({data!r}).labels.ids
kept = cache_reader.CacheReader(folder, ids)  # alive at exit: closed by the finalizer
kept(0)
gone = cache_reader.CacheReader(folder, ids)
gone(1)
fd, stat = gone._fd, os.fstat
cache_reader.os = None  # what interpreter teardown does to the module's globals
del gone
try:
    stat(fd)
    sys.exit("descriptor left open")
except OSError:
    pass
"""
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Exception ignored" not in proc.stderr, proc.stderr[-2000:]

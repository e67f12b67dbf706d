"""Atomic writes: whole files only, with the mode an ordinary write would give them."""

import os
import stat

import pytest

from gapnet.io import atomic_save_npy, atomic_write_text, current_umask


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_writes_respect_the_umask_not_mkstemps_0600(tmp_path, umask):
    """A collaborator (group, others) reads a run folder or a dataset gapnet wrote."""
    atomic_write_text(tmp_path / "a.txt", "x")
    assert mode(tmp_path / "a.txt") == 0o644
    os.umask(0o007)
    assert current_umask() == 0o007
    atomic_save_npy(tmp_path / "b.npy", [1, 2])
    assert mode(tmp_path / "b.npy") == 0o660
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.npy"]  # no temporary file left


def test_replacing_a_file_keeps_its_mode_as_an_ordinary_write_does(tmp_path, umask):
    """A user's private (0600) file stays private when gapnet writes it again."""
    path = tmp_path / "private.json"
    path.write_text("{}")
    os.chmod(path, 0o600)
    atomic_write_text(path, '{"a": 1}')
    assert mode(path) == 0o600 and path.read_text() == '{"a": 1}'
    os.chmod(path, 0o640)
    atomic_save_npy(path, [1])
    assert mode(path) == 0o640


def test_a_finished_run_leaves_no_lock_and_files_readable_as_the_umask_allows(tiny_run):
    """The README: `.lock` exists only while a run or fold trains."""
    out = tiny_run[0]
    want = 0o666 & ~current_umask()
    locks, private = [], []
    for folder, _, files in os.walk(out):
        for name in files:
            path = os.path.join(folder, name)
            if name == ".lock":
                locks.append(path)
            elif mode(path) != want:
                private.append(f"{path}: {oct(mode(path))}")
    assert locks == []
    assert private == []

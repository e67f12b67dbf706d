import os
import runpy
import shutil

import numpy as np
import pytest
from PIL import Image

from gapnet.data.labels import DataError
from gapnet.data.validate import check_or_raise, validate

SCRIPT = "data_prep/validate.py"


def run_cli(*args):
    import sys

    argv = sys.argv
    sys.argv = [SCRIPT, *map(str, args)]
    try:
        with pytest.raises(SystemExit) as e:
            runpy.run_path(SCRIPT, run_name="__main__")
    finally:
        sys.argv = argv
    return e.value.code


def plant_faults(root):
    train = root / "train"
    good = lambda c: train / f"sample00_{c}.png"  # noqa: E731
    for name in ["trunc", "missing", "garbage", "empty"]:
        for c in ("red", "green", "blue", "yellow"):
            shutil.copy(good(c), train / f"{name}_{c}.png")
    data = good("green").read_bytes()
    (train / "trunc_green.png").write_bytes(data[: len(data) // 3])
    (train / "missing_blue.png").unlink()
    (train / "garbage_red.png").write_bytes(b"\x89PNG but then rubbish" * 10)
    (train / "empty_yellow.png").write_bytes(b"")
    with open(root / "train.csv", "a") as f:
        f.write(
            "trunc,1\nmissing,2\ngarbage,3\nempty,4\n"
            "range,28\nword,nucleus\nblank,\nsample01,5\n../escape,1\n"
        )


def test_planted_faults_are_all_named(kaggle_root, capsys):
    plant_faults(kaggle_root)
    assert run_cli(kaggle_root, "--size", "128") == 1
    out = capsys.readouterr().out
    expected = [
        "trunc_green.png (Id trunc): corrupt or truncated",
        "missing_blue.png (Id missing): missing file",
        "garbage_red.png (Id garbage): not an image file",
        "empty_yellow.png (Id empty): empty file",
        "train.csv:12 (Id range): label 28 outside 0..27",
        "train.csv:13 (Id word): label 'nucleus' is not a number",
        "train.csv:14 (Id blank): empty Target",
        "train.csv:15 (Id sample01): duplicate Id (first on line 3)",
        "train.csv:16: Id '../escape' is not a plain file-name stem",
    ]
    for line in expected:
        assert line in out, f"{line!r} not reported:\n{out}"
    assert out.count("ERROR") == len(expected)
    assert "4 sample(s) with bad image files" in out


def test_clean_folder_exits_0(kaggle_root, capsys):
    assert run_cli(kaggle_root, "--size", "512") == 0
    assert "0 error(s)" in capsys.readouterr().out


def test_unusual_but_valid_files_are_notes_not_errors(kaggle_root, capsys):
    train = kaggle_root / "train"
    a16 = np.asarray(Image.open(train / "sample01_red.png")).astype(np.uint16) * 257
    Image.fromarray(a16).save(train / "sample01_red.png")
    g = np.asarray(Image.open(train / "sample02_green.png"))
    Image.fromarray(np.stack([g * 0, g, g * 0], -1)).save(train / "sample02_green.png")
    Image.open(train / "sample03_blue.png").resize((256, 256)).save(train / "sample03_blue.png")
    assert run_cli(kaggle_root, "--size", "512") == 0
    out = capsys.readouterr().out
    assert "NOTE" in out and "sample01_red.png (Id sample01): mode I;16" in out
    assert "sample02_green.png (Id sample02): RGB file: the green plane is used" in out
    assert "sample03_blue.png (Id sample03): size 256x256: resized to 512x512" in out


def test_missing_csv_and_folder(tmp_path, capsys):
    assert run_cli(tmp_path / "nope") == 1
    assert "dataset folder not found" in capsys.readouterr().out
    assert run_cli(tmp_path) == 1
    assert "train.csv: missing" in capsys.readouterr().out


def test_training_guard_fails_fast_or_skips_bad(kaggle_root):
    plant_faults(kaggle_root)
    report = validate(kaggle_root, size=64, progress=False)
    with pytest.raises(DataError, match="--skip-bad"):
        check_or_raise(report, skip_bad=False)
    logged = []
    ids = check_or_raise(report, skip_bad=True, log=logged.append)
    assert sorted(ids) == [f"sample{i:02d}" for i in range(6)]
    assert any("dropped 4 sample(s)" in m and "trunc" in m for m in logged)


def test_a_folder_mixing_png_and_jpg_samples_reads_each_by_its_own_type(kaggle_root):
    """The README: HPAv18 JPGs are read too, so a Kaggle folder may hold both; the type
    is per sample (it was decided once from the first 20 samples: '..._red.png missing')."""
    from gapnet.data.pipeline import PngReader
    from tests.conftest import REAL_JPG

    for f in sorted(os.listdir(REAL_JPG)):  # one HPAv18 sample, listed after the PNG ones
        shutil.copy(
            os.path.join(REAL_JPG, f), kaggle_root / "train" / f.replace("10814_50_A1_1", "v18")
        )
    with open(kaggle_root / "train.csv", "a") as f:
        f.write("v18,0 4\n")
    report = validate(kaggle_root, size=64, progress=False)
    assert report.errors == [], [str(p) for p in report.errors]
    src = report.source
    assert src.paths("v18")[0].endswith("v18_red.jpg")
    assert src.paths("sample00")[0].endswith("sample00_red.png")
    reader = PngReader(src.image_dir, src.ext, src.labels.ids, 32)
    assert "JPG+PNG" in reader.kind
    assert reader(len(src.labels.ids) - 1).shape == (32, 32, 4)


def test_a_sample_with_no_file_is_named_by_the_folder_type(kaggle_root):
    with open(kaggle_root / "train.csv", "a") as f:
        f.write("ghost,1\n")
    report = validate(kaggle_root, size=64, progress=False)
    assert report.source.ext == "png"
    assert report.bad_ids == ["ghost"]
    assert any("ghost_red.png" in p.path for p in report.errors)


def test_repeated_notes_are_summarised_per_kind_but_every_error_is_named(kaggle_root, capsys):
    """On 2021-size fields every channel file gets a size note (~87,000 lines on the full
    set): one line per kind with its count and first files; errors stay one per file."""
    for c in ("red", "blue"):
        (kaggle_root / "train" / f"sample05_{c}.png").unlink()
    assert run_cli(kaggle_root, "--size", "128") == 1
    out = capsys.readouterr().out.splitlines()
    notes = [line for line in out if line.startswith("NOTE")]
    assert len(notes) == 1, notes
    assert notes[0].startswith("NOTE 22 files: size 512x512: resized to 128x128; e.g. ")
    assert "sample00_red.png (Id sample00)" in notes[0]
    errors = [line for line in out if line.startswith("ERROR")]
    assert len(errors) == 2 and all("missing file" in e for e in errors)
    assert "22 note(s)" in out[-1]
    assert run_cli(kaggle_root, "--size", "128", "--all-notes") == 1
    assert capsys.readouterr().out.count("NOTE ") == 22


def test_a_run_s_notes_beyond_five_lines_say_how_many_and_how_to_see_them(kaggle_root, monkeypatch):
    from gapnet.config import Config
    from gapnet.data import validate as v
    from gapnet.data.prepare import prepare

    kinds = [f"NOTE kind {k}" for k in range(8)]
    monkeypatch.setattr(v, "summarize_notes", lambda notes: kinds)
    said = []
    prepare(Config(data=str(kaggle_root), image_size=32), log=said.append)
    assert said[:5] == kinds[:5] and "NOTE kind 5" not in said
    more = [line for line in said if "more line(s) of notes" in line]
    assert more == [
        f"NOTE ... and 3 more line(s) of notes left out; every note: "
        f"python data_prep/validate.py {kaggle_root} --size 32 --all-notes"
    ]

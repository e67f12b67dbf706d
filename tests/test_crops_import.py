"""data_prep/import_bbbc013.py: a folder of labelled crops becomes a gapnet dataset with
a fixed hashed hold-out set (#39)."""

import numpy as np
from PIL import Image

from gapnet.channels import make_channel_set
from gapnet.data.crops import held_out


def _bbbc013(tmp_path, n=40):
    (tmp_path / "crops").mkdir()
    lines = ["crop,well,well_control,manual_label,ch1_file,ch2_file"]
    for i in range(n):
        well = "A01" if i % 2 else "A12"
        label = "NoGFP" if i == 0 else "Unknown"
        for ch in (1, 2):
            a = np.full((9 + i % 5, 11), 10 * ch, np.uint8)
            Image.fromarray(np.dstack([a, a, a, a * 0 + 255])).save(
                tmp_path / "crops" / f"{well}_Cell{i}_ch{ch}.png"
            )
        lines.append(
            f"{well}_Cell{i},{well},x,{label},crops/{well}_Cell{i}_ch1.png,"
            f"crops/{well}_Cell{i}_ch2.png"
        )
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")


def test_crops_become_a_two_channel_dataset_with_a_fixed_holdout(tmp_path):
    from data_prep import import_bbbc013 as imp
    from gapnet.data.validate import validate

    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    _bbbc013(src)
    assert imp.main([str(src), str(out)]) == 0
    ids = [line.split(",")[0] for line in (out / "train.csv").read_text().splitlines()[1:]]
    hold = [line.split(",")[0] for line in (out / "holdout.csv").read_text().splitlines()[1:]]
    assert (out / "excluded.csv").read_text().splitlines()[1].startswith("A12_Cell0,")  # NoGFP
    assert len(ids) + len(hold) == 39 and not set(ids) & set(hold)
    assert all(held_out(i, 0.2) for i in hold) and not any(held_out(i, 0.2) for i in ids)
    assert (out / "classes.csv").read_text() == "index,name\n0,cytoplasmic\n1,nuclear\n"
    cs = make_channel_set(channel_map={"GFP": "green", "DNA": "blue"})
    report = validate(out, size=16, progress=False, channels=cs)
    assert not report.errors and report.source.labels.targets.shape == (len(ids), 2)
    assert (out / "holdout" / f"{hold[0]}_GFP.png").exists()

"""A folder mixing PNG and JPG samples: each segmentation job carries its own sample's
extension (not every sample's), and the image cache stores the mixture compactly."""

import os
import shutil

import pytest

from gapnet.data import cache, cache_reader
from gapnet.data.source import compact_ext, expand_ext, open_source
from tests.conftest import COLORS, REAL_JPG, real_pngs


@pytest.fixture()
def mixed_root(tmp_path):
    """Three PNG samples and one JPG sample (real HPA channel files)."""
    root = tmp_path / "mixed"
    (root / "train").mkdir(parents=True)
    pngs = real_pngs()
    for s in range(3):
        for c, color in enumerate(COLORS):
            shutil.copy(pngs[(s + c) % len(pngs)], root / "train" / f"p{s}_{color}.png")
    jpg = sorted(os.listdir(REAL_JPG))[0].rsplit("_", 1)[0]
    for color in COLORS:
        shutil.copy(
            os.path.join(REAL_JPG, f"{jpg}_{color}.jpg"), root / "train" / f"j0_{color}.jpg"
        )
    (root / "train.csv").write_text("Id,Target\np0,0\np1,1\nj0,2\np2,0\n")
    return root


def test_each_segmentation_job_carries_only_its_own_sample_s_extension(
    mixed_root, tmp_path, monkeypatch
):
    from gapnet.segment import folder

    assert isinstance(open_source(str(mixed_root)).ext, dict)  # the mixed case
    jobs, real = [], folder._segment_one
    monkeypatch.setattr(folder, "_segment_one", lambda job: jobs.append(job) or real(job))
    rows = folder.segment_folder(
        str(mixed_root), str(tmp_path / "masks"), 64, workers=1, progress=False
    )
    assert [r["image"] for r in rows] == ["p0", "p1", "j0", "p2"]
    assert {job[2]: job[1] for job in jobs} == {"p0": "png", "p1": "png", "j0": "jpg", "p2": "png"}


def test_the_cache_stores_a_mixed_folder_s_extensions_compactly(mixed_root):
    src = open_source(str(mixed_root))
    out = cache.build(str(mixed_root), 16, workers=1, progress=False, log=lambda *a: None)
    stored = cache.read_json(os.path.join(out, "meta.json"))["ext"]
    assert stored == {"most": "png", "others": {"j0": "jpg"}}
    assert cache_reader.CacheReader(out, ["j0", "p1"]).ext == src.ext
    ids = list(src.labels.ids)
    assert expand_ext(compact_ext(src.ext), ids) == src.ext
    assert expand_ext(src.ext, ids) == src.ext  # an older cache's full mapping still reads
    assert compact_ext("png") == "png" == expand_ext("png", ids)

"""explain.py --embeddings writes AnnData files in SubCell's layout (X the embedding,
obsm["probabilities"], obsm["X_umap"], obs ids and metadata, var feature names, uns the
run) that scanpy reads and clusters (neighbors + leiden)."""

import csv
import os
import runpy
import shutil

import numpy as np
import pytest

sc = pytest.importorskip("scanpy")  # the [scanpy] extra (also in dev: CI runs it)
pytest.importorskip("leidenalg")


def test_well_and_plate_come_from_hpa_ids_only():
    from gapnet.explain.embed import well_plate

    assert well_plate("10814_50_A1_1") == ("A1", "10814")
    assert well_plate("1000_A12_2") == ("", "")  # not <plate>_<n>_<well>_<field>
    assert well_plate("000a6c98-bb9b-11e8-b2b9-ac1f6b6435d0") == ("", "")


def test_h5ad_layout_has_subcells_keys_and_the_runs_metadata(tmp_path):
    import anndata

    from gapnet.explain.embed import write_h5ad

    feats = np.arange(24, dtype=np.float32).reshape(4, 6)
    probs = np.full((4, 19), 0.5, np.float32)
    path = str(tmp_path / "e.h5ad")
    write_h5ad(
        path,
        feats,
        {"Id": list("abcd")},
        np.zeros((4, 2)),
        "PCA",
        probs=probs,
        uns={"scheme": "hpa2021"},
        var={"layer": ["gap1"] * 6},
        index=list("abcd"),
    )
    ad = anndata.read_h5ad(path)
    assert list(ad.obs_names) == list("abcd") and ad.var_names[5] == "feat0005"
    np.testing.assert_array_equal(ad.obsm["probabilities"], probs)
    assert "X_umap" not in ad.obsm  # a PCA map is not called UMAP
    assert ad.uns["scheme"] == "hpa2021" and ad.uns["embedding_method"] == "PCA"


@pytest.mark.slow  # ~60 s on 2 shared cores: numba compiles UMAP's and scanpy's kernels
def test_h5ad_layout_reads_in_scanpy_and_clusters(tmp_path):
    from gapnet.explain.embed import two_d, write_h5ad

    rng = np.random.default_rng(0)
    feats = np.concatenate([rng.normal(m, 0.3, (20, 8)) for m in (0, 3)]).astype(np.float32)
    probs = rng.uniform(size=(40, 28)).astype(np.float32)
    xy, method = two_d(feats)
    ids = [f"img{i}" for i in range(40)]
    path = str(tmp_path / "e.h5ad")
    write_h5ad(
        path,
        feats,
        {"Id": ids, "origin": ["synthetic"] * 40},
        xy,
        method,
        probs=probs,
        uns={"scheme": "hpa2018", "class_names": ["Nucleoplasm"] * 28, "run": "RUN"},
        var={"layer": ["gap3"] * 8},
        index=ids,
    )
    ad = sc.read_h5ad(path)
    assert list(ad.obs_names) == ids and list(ad.var_names)[:2] == ["feat0000", "feat0001"]
    np.testing.assert_array_equal(ad.obsm["probabilities"], probs)
    np.testing.assert_array_equal(ad.obsm["X_umap"], xy)  # scanpy's key for the 2-D map
    assert method == "UMAP" and ad.uns["scheme"] == "hpa2018" and ad.var["layer"].iloc[0] == "gap3"
    sc.pp.neighbors(ad, use_rep="X", n_neighbors=10)
    sc.tl.leiden(ad, flavor="igraph", n_iterations=2, random_state=0)
    clusters = ad.obs["leiden"].astype(int).to_numpy()
    assert len(set(clusters[:20]) & set(clusters[20:])) == 0  # the two blobs never mix


@pytest.mark.slow
def test_explain_embeddings_give_image_and_cell_h5ad_that_scanpy_clusters(tiny_run, tmp_path):
    run = str(tmp_path / "run")
    shutil.copytree(tiny_run[0], run)
    main = runpy.run_path("experiments/explain.py", run_name="explain")["main"]
    assert main(["--run", run, "--ids", "all", "--embeddings", "--no-report"]) == 0
    out = os.path.join(run, "explain")
    images = sc.read_h5ad(os.path.join(out, "embeddings.h5ad"))
    cells = sc.read_h5ad(os.path.join(out, "cells.h5ad"))
    assert images.n_obs == 30 and images.obsm["probabilities"].shape == (30, 28)
    assert images.uns["scheme"] == "hpa2018" and len(images.uns["class_names"]) == 28
    assert images.uns["model"] == "gapnet" and images.uns["run"] == os.path.abspath(run)
    assert images.obs["origin"].iloc[0].startswith("synthetic")
    assert set(images.var["layer"]) and images.var_names[0] == "m0_feat0000"
    folds = len(set(images.var["model"]))  # every fold model's features for every row
    assert folds == 3 and set(cells.var["model"]) == set(range(folds))
    assert images.n_vars % folds == 0 and "fold models" in images.uns["embedding_model"]
    with open(os.path.join(out, "cells.csv"), newline="") as f:
        rows = {f"{r['Id']}:{r['cell']}": r for r in csv.DictReader(f)}
    assert cells.n_obs > 10 and set(cells.obs_names) <= set(rows)
    for name, p in zip(cells.obs_names, cells.obsm["probabilities"], strict=True):
        np.testing.assert_allclose(p, [float(rows[name][f"p_{k}"]) for k in range(28)], rtol=1e-4)
    assert (cells.obs["area"] > 0).all() and set(cells.obs["edge"]) <= {0, 1}
    for ad in (images, cells):
        sc.pp.neighbors(ad, use_rep="X", n_neighbors=5)
        sc.tl.leiden(ad, flavor="igraph", n_iterations=2, random_state=0)
        assert ad.obsp["connectivities"].shape == (ad.n_obs, ad.n_obs)
        assert ad.obs["leiden"].notna().all() and ad.obs["leiden"].nunique() < ad.n_obs


class _FoldModel:
    """A stand-in fold model whose features of an image are (mean * (k + 1), k, 1)."""

    tap_names = ["gap1"]

    def __init__(self, k):
        from types import SimpleNamespace

        self.k = k
        self.probe = SimpleNamespace(outputs=[None, SimpleNamespace(shape=(None, 3))])

    def features(self, x):
        m = float(np.mean(x))
        return np.asarray([[m * (self.k + 1), self.k, 1.0]] * len(x), np.float32)


def test_every_image_row_is_embedded_by_the_same_models_whichever_fold_scored_it(tmp_path):
    import anndata

    from gapnet.explain.embed import write_embeddings

    models = [_FoldModel(k) for k in range(3)]
    images = [np.full((4, 4, 4), v, np.float32) for v in (1.0, 2.0, 3.0)]
    ids = ["a", "b", "c"]
    fold_of = {"a": 0, "b": 1, "c": 2}  # each image scored out of fold by another model
    y = np.zeros((3, 19), np.uint8)
    probs = np.full((3, 19), 0.5, np.float32)
    thr = np.full((3, 19), 0.4, np.float32)
    write_embeddings(str(tmp_path), models, images.__getitem__, ids, y, probs, thr, fold_of, [])
    ad = anndata.read_h5ad(str(tmp_path / "embeddings.h5ad"))
    assert ad.X.shape == (3, 9) and list(ad.var["model"]) == [0] * 3 + [1] * 3 + [2] * 3
    assert ad.var_names[3] == "m1_feat0000" and "fold models" in ad.uns["embedding_model"]
    for n, image in enumerate(images):  # each model's slice is that model's own features
        for k, m in enumerate(models):
            np.testing.assert_allclose(ad.X[n, 3 * k : 3 * k + 3], m.features(image[None])[0])

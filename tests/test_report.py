"""The run report: tables, figures, self-contained HTML that a browser renders."""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="module")
def report(tiny_run):
    """The shared run's report (written by the fixture, as run_kfold.py writes it)."""
    return tiny_run[0], os.path.join(tiny_run[0], "report", "report.html")


def test_report_has_the_tables_and_figures(report):
    run, page = report
    md = open(os.path.join(run, "report", "report.md")).read()
    for heading in ["bootstrap 95% intervals", "Tables I-IV", "Table V", "## Config"]:
        assert heading in md
    assert re.search(r"\| out of fold \| 30 \| \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", md)
    for row in ["macro ROC-AUC", "Hamming loss", "micro precision"]:
        assert f"| {row} |" in md
    pngs = [f for f in os.listdir(os.path.join(run, "report")) if f.endswith(".png")]
    assert {
        "per_class_f1_per_fold.png",
        "training_curves.png",
        "roc_pr.png",
        "label_frequencies.png",
        "cooccurrence.png",
        "labels_per_sample.png",
        "f1_vs_threshold.png",
    } <= set(pngs)
    for f in pngs:
        img = np.asarray(Image.open(os.path.join(run, "report", f)).convert("L"))
        assert img.std() > 5, f  # a drawn figure, not a blank canvas
    text = open(page).read()
    assert text.count('src="data:image/png;base64,') == len(pngs)  # self-contained
    assert 'src="http' not in text


def test_the_interval_brackets_the_score_in_metrics_json(report, tiny_run):
    import json

    run, _ = report
    m = json.load(open(os.path.join(run, "metrics.json")))
    md = open(os.path.join(run, "report", "report.md")).read()
    row = next(line for line in md.splitlines() if line.startswith("| out of fold |"))
    # The first figure is the headline: cross-fitted, the interval that of metrics.json.
    score, lo, hi = map(float, re.findall(r"(\d\.\d{3}) \[(\d\.\d{3}), (\d\.\d{3})\]", row)[0])
    assert score == pytest.approx(m["macro_f1"], abs=5e-4) and lo <= score <= hi
    assert [lo, hi] == pytest.approx(m["macro_f1_ci95"], abs=5e-4)
    assert "(epoch chosen on an inner selection set of the training folds)" in md


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_headless_chromium_renders_the_page_with_every_image(report):
    _, page = report
    dom = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
            "file://" + os.path.abspath(page),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    n = open(page).read().count("<img ")
    assert f'data-images="{n}/{n}"' in dom, dom[:300]


@pytest.mark.slow  # suite time; the report's layout tests stay fast
def test_a_run_from_before_bca_keeps_and_names_its_percentile_interval(tiny_run, tmp_path):
    # metrics.json without `macro_f1_ci95_method` (gapnet < 0.4): the refreshed report,
    # the summary table and the comparison table say percentile, and the report's
    # out-of-fold interval is the percentile one, not a recomputation by today's method
    import json

    from gapnet import metrics, thresholds
    from gapnet.cv.runfolder import read_predictions
    from gapnet.cv.runread import load_run
    from gapnet.report.run_report import write_report
    from gapnet.report.tables import comparison_rows, summary_table

    run = tmp_path / "old"
    shutil.copytree(tiny_run[0], run)
    m = json.loads((run / "metrics.json").read_text())
    assert m["macro_f1_ci95_method"].startswith("basic")
    assert "(basic bootstrap, nominal 95 %" in summary_table(m)
    del m["macro_f1_ci95_method"]
    (run / "metrics.json").write_text(json.dumps(m))
    write_report(str(run))
    md = (run / "report" / "report.md").read_text()
    assert "Intervals (percentile)" in md
    assert "(percentile bootstrap, nominal 95 %" in summary_table(m)
    assert comparison_rows([{"name": "old", "config": {}, "metrics": m}])[0]["ci95_method"] == (
        "percentile"
    )
    table = load_run(str(run), log=lambda *a: None)
    ids, oof = read_predictions(str(run / "oof_predictions.csv"))
    assert ids == list(table.ids)
    cross = json.loads((run / "thresholds.json").read_text())["crossfit"]
    thr = np.stack([np.asarray(cross[str(k)]) for k in table.folds])
    lo, hi = metrics.bootstrap_ci(table.targets, thresholds.decide(oof, thr), method="percentile")
    row = next(line for line in md.splitlines() if line.startswith("| out of fold |"))
    _, rlo, rhi = map(float, re.findall(r"(\d\.\d{3}) \[(\d\.\d{3}), (\d\.\d{3})\]", row)[0])
    assert (rlo, rhi) == pytest.approx((lo, hi), abs=5e-4)


def _page(report):
    return open(report[1], encoding="utf-8").read()


def test_the_figures_follow_the_headline_tables_and_the_config_comes_last_folded(report):
    """A reader sees the figures after the headline tables, not after the 85-row
    configuration, which is last and folded."""
    page = _page(report)
    heads = re.findall(r'<(?:h2|details) id="([^"]+)"', page)
    assert heads[:4] == [
        "run",
        heads[1],
        heads[2],
        "figures",
    ], heads
    assert heads[1].startswith("macro-f1-with-bootstrap") and heads[2].startswith("summary")
    assert (
        heads[-1] == "config"
        and heads.index("per-class-cross-fitted-thresholds-seed-000-table-v") > 3
    )
    first_img = page.index("<img ")
    assert page.index('id="summary') < first_img < page.index('id="per-class')
    assert re.search(r'<details id="config"><summary><h2>Config</h2></summary><table>', page)
    md = open(os.path.join(report[0], "report", "report.md")).read()
    assert (
        md.index("## Summary")
        < md.index("## Figures")
        < md.index("## Per class")
        < md.index("## Config")
    )


def test_the_html_sets_code_links_its_sections_and_names_the_run(report, tiny_run):
    import json

    page = _page(report)
    assert "`" not in page  # markdown's backticks are <code>, not literal
    assert "<code>cross-fitted</code>" in page
    ids = re.findall(r'<(?:h2|details) id="([^"]+)"', page)
    links = re.findall(r'<a href="#([^"]+)">', page)
    assert len(ids) >= 6 and links == ids and len(set(ids)) == len(ids)
    title = re.search(r"<title>(.*)</title>", page).group(1)
    cfg = json.load(open(os.path.join(tiny_run[0], "config.json")))
    assert os.path.basename(tiny_run[0]) in title and cfg["model"] in title
    assert os.path.basename(cfg["data"]) in title and "synthetic" in title
    assert title != f"gapnet report: {cfg['model']}"


def test_the_per_class_f1_chart_says_cross_fitted_as_its_caption(tmp_path, monkeypatch):
    from gapnet.report import figures

    kept = []
    monkeypatch.setattr(figures.plt, "close", kept.append)
    figures.per_class_f1_per_fold(np.full((3, 28), 0.5), str(tmp_path / "f.png"))
    (fig,) = kept
    assert fig.axes[0].get_ylabel() == "F1 (cross-fitted thresholds)"
    monkeypatch.undo()
    figures.plt.close(fig)

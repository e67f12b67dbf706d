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

import numpy as np
import pytest
from sklearn import metrics as skm

from gapnet import metrics


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    y = (rng.random((300, 28)) < 0.15).astype(int)
    y[:, 27] = 0  # a class absent from the data
    y[:, 26] = 1  # a class present in every sample
    prob = np.clip(y * 0.4 + rng.random((300, 28)) * 0.6, 0, 1)
    return y, prob, prob > 0.5


def test_classification_metrics_equal_sklearn(arrays):
    y, _, pred = arrays
    m = metrics.classification_metrics(y, pred)
    kw = dict(zero_division=0)
    for avg in ("macro", "micro"):
        assert m[f"{avg}_precision"] == pytest.approx(
            skm.precision_score(y, pred, average=avg, **kw)
        )
        assert m[f"{avg}_recall"] == pytest.approx(skm.recall_score(y, pred, average=avg, **kw))
        assert m[f"{avg}_f1"] == pytest.approx(skm.f1_score(y, pred, average=avg, **kw))
    assert m["samples_f1"] == pytest.approx(skm.f1_score(y, pred, average="samples", **kw))
    assert m["hamming_loss"] == pytest.approx(skm.hamming_loss(y, pred))
    np.testing.assert_allclose(m["per_class"]["f1"], skm.f1_score(y, pred, average=None, **kw))
    np.testing.assert_allclose(
        m["per_class"]["precision"], skm.precision_score(y, pred, average=None, **kw)
    )
    assert m["per_class"]["support"] == y.sum(0).tolist()


def test_ranking_metrics_over_classes_with_both_labels(arrays):
    y, prob, _ = arrays
    m = metrics.ranking_metrics(y, prob)
    valid = [c for c in range(28) if 0 < y[:, c].sum() < len(y)]
    assert m["auc_classes"] == valid and 26 not in valid and 27 not in valid
    assert m["macro_roc_auc"] == pytest.approx(
        np.mean([skm.roc_auc_score(y[:, c], prob[:, c]) for c in valid])
    )
    assert m["micro_roc_auc"] == pytest.approx(
        skm.roc_auc_score(y[:, valid].ravel(), prob[:, valid].ravel())
    )
    assert m["macro_pr_auc"] == pytest.approx(
        np.mean([skm.average_precision_score(y[:, c], prob[:, c]) for c in valid])
    )


def test_streaming_macro_f1_is_epoch_level_not_batch_average(arrays):
    y, prob, pred = arrays
    from gapnet.training.macro_f1 import MacroF1

    metric = MacroF1(28)
    for start in range(0, 300, 7):  # many small batches: rare classes absent from most
        metric.update_state(y[start : start + 7].astype("float32"), prob[start : start + 7])
    assert float(metric.result()) == pytest.approx(
        skm.f1_score(y, pred, average="macro", zero_division=0), abs=1e-6
    )
    batch_avg = np.mean(
        [
            skm.f1_score(y[s : s + 7], pred[s : s + 7], average="macro", zero_division=0)
            for s in range(0, 300, 7)
        ]
    )
    assert abs(batch_avg - float(metric.result())) > 0.05  # why the streaming metric matters
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_bootstrap_ci_matches_a_plain_resampling_loop_and_covers_the_estimate():
    from gapnet.metrics import bootstrap_ci

    rng = np.random.default_rng(4)
    y = rng.random((200, 28)) < 0.15
    p = np.where(rng.random((200, 28)) < 0.8, y, ~y)
    lo, hi = bootstrap_ci(y, p, n_boot=300, seed=1, method="percentile")
    # The same resamples drawn one by one and scored with scikit-learn.
    w = np.random.default_rng(1).multinomial(200, np.full(200, 1 / 200), size=300)
    scores = [
        skm.f1_score(np.repeat(y, r, 0), np.repeat(p, r, 0), average="macro", zero_division=0)
        for r in w
    ]
    np.testing.assert_allclose([lo, hi], np.quantile(scores, [0.025, 0.975]), atol=1e-12)
    assert lo < skm.f1_score(y, p, average="macro", zero_division=0) < hi


def test_bootstrap_ci_bca_matches_scipys_bca_of_the_macro_f1():
    from scipy import stats

    from gapnet.metrics import bootstrap_ci

    rng = np.random.default_rng(6)
    y = rng.random((150, 8)) < np.linspace(0.03, 0.4, 8)
    p = np.where(rng.random((150, 8)) < 0.85, y, ~y)
    ours = bootstrap_ci(y, p, n_boot=4000, seed=1, method="bca")
    ref = stats.bootstrap(
        (np.arange(150),),
        lambda i: metrics.macro_f1(y[i], p[i]),
        n_resamples=4000,
        vectorized=False,
        method="BCa",
        random_state=np.random.default_rng(2),
    ).confidence_interval
    np.testing.assert_allclose(ours, [ref.low, ref.high], atol=0.012)
    pct = bootstrap_ci(y, p, n_boot=4000, seed=1, method="percentile")
    assert abs(ours[0] - pct[0]) > 0.005  # rare classes bias the resamples: BCa moves it


def test_grouped_bootstrap_resamples_groups_so_copies_do_not_narrow_the_interval():
    rng = np.random.default_rng(5)
    values = rng.normal(size=40)
    one_row = metrics.grouped_bootstrap(lambda rows: values[rows].mean(), np.arange(40), 300)
    # every group's row repeated four times: the same groups, the same interval
    copies = np.repeat(values, 4)
    groups = np.repeat(np.arange(40), 4)
    grouped = metrics.grouped_bootstrap(lambda rows: copies[rows].mean(), groups, 300)
    assert grouped[0] == pytest.approx(one_row[0])
    assert grouped[1] == pytest.approx(one_row[1])
    # scored row by row, the copies would look like 160 independent samples: half as wide
    rowwise = metrics.grouped_bootstrap(lambda rows: copies[rows].mean(), np.arange(160), 300)
    width = grouped[1][1] - grouped[1][0]
    assert rowwise[1][1] - rowwise[1][0] < 0.7 * width
    lo, hi = grouped[1]
    assert lo < values.mean() < hi


def test_grouped_bca_matches_scipys_bca_on_a_skewed_statistic():
    from scipy import stats

    rng = np.random.default_rng(11)
    x = rng.exponential(size=60)
    ours = metrics.grouped_bootstrap(
        lambda rows: np.std(x[rows]), np.arange(60), 4000, seed=3, method="bca"
    )
    ref = stats.bootstrap(
        (x,), np.std, n_resamples=4000, method="BCa", random_state=np.random.default_rng(4)
    ).confidence_interval
    # the same formula; only the Monte Carlo draws differ
    np.testing.assert_allclose(ours[1], [ref.low, ref.high], atol=0.03)
    pct = metrics.grouped_bootstrap(
        lambda rows: np.std(x[rows]), np.arange(60), 4000, seed=3, method="percentile"
    )
    # the std is biased low on resamples: BCa moves the interval up from the percentile one
    assert ours[1][0] > pct[1][0] and ours[1][1] > pct[1][1]


def test_grouped_bca_recentres_a_macro_f1_that_resampling_biases_low():
    rng = np.random.default_rng(2)
    y = np.zeros((50, 6), bool)
    y[:, 0] = rng.random(50) < 0.5
    for k in range(1, 6):  # rare classes: three positives each, all found
        y[rng.choice(50, 3, replace=False), k] = True
    p = y.copy()
    p[rng.random((50, 6)) < 0.05] ^= True

    def f1(rows):
        return metrics.macro_f1(y[rows], p[rows])

    point, (lo, hi) = metrics.grouped_bootstrap(f1, np.arange(50), 1000, method="bca")
    _, (plo, phi) = metrics.grouped_bootstrap(f1, np.arange(50), 1000, method="percentile")
    # the percentile interval sits off-centre below the estimate; BCa's is shifted up
    assert (point - plo) > 1.3 * (phi - point)
    assert lo > plo and hi > phi and lo < point < hi
    with pytest.raises(ValueError, match="method"):
        metrics.grouped_bootstrap(f1, np.arange(50), 10, method="studentized")


def test_bca_pieces_equal_their_definitions():
    from scipy.stats import norm

    rng = np.random.default_rng(3)
    y = rng.random((80, 6)) < np.linspace(0.05, 0.4, 6)
    p = np.where(rng.random((80, 6)) < 0.8, y, ~y)
    # the vectorized jackknife equals leaving each sample out by hand
    jack = metrics.jackknife_macro_f1(y, p)
    loop = [metrics.macro_f1(np.delete(y, i, 0), np.delete(p, i, 0)) for i in range(80)]
    np.testing.assert_allclose(jack, loop, atol=1e-12)
    # z0 with ties counted half, a from the jackknife, the mapped levels
    boots = np.array([0.1, 0.2, 0.3, 0.3, 0.5, 0.7, 0.9, 0.95])
    q, z0, a = metrics.bca_quantiles(boots, 0.3, jack, 0.9)
    assert z0 == pytest.approx(norm.ppf((2 + 0.5 * 2) / 8))
    d = jack.mean() - jack
    assert a == pytest.approx((d**3).sum() / (6 * ((d**2).sum()) ** 1.5))
    z = norm.ppf([0.05, 0.95])
    np.testing.assert_allclose(q, norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z))))
    # the headline interval is the quantiles of the resamples at those levels
    lo, hi = metrics.bootstrap_ci(y, p, n_boot=500, seed=2, method="bca")
    w = np.random.default_rng(2).multinomial(80, np.full(80, 1 / 80), size=500)
    scores = [metrics.macro_f1(np.repeat(y, r, 0), np.repeat(p, r, 0)) for r in w]
    point = metrics.macro_f1(y, p)
    levels = metrics.bca_quantiles(scores, point, jack)[0]
    np.testing.assert_allclose([lo, hi], np.quantile(scores, levels), atol=1e-12)


def test_the_default_interval_is_the_basic_one_the_coverage_simulation_chose():
    """The headline's and the single-cell figures' intervals are the percentile bounds
    reflected about the estimate (docs/evaluation.md: nearest 95 % coverage), and a run
    and its report say so."""
    from gapnet.report.run_report import interval_method
    from gapnet.report.tables import interval_kind

    rng = np.random.default_rng(5)
    y = rng.random((120, 10)) < np.linspace(0.02, 0.4, 10)
    p = np.where(rng.random((120, 10)) < 0.85, y, ~y)
    point = metrics.macro_f1(y, p)
    plo, phi = metrics.bootstrap_ci(y, p, 300, seed=1, method="percentile")
    assert metrics.bootstrap_ci(y, p, 300, seed=1) == pytest.approx(
        (2 * point - phi, 2 * point - plo)
    )

    def f1(rows):
        return metrics.macro_f1(y[rows], p[rows])

    _, (glo, ghi) = metrics.grouped_bootstrap(f1, np.arange(120), 200, method="percentile")
    gp, basic = metrics.grouped_bootstrap(f1, np.arange(120), 200)
    assert basic == pytest.approx((2 * gp - ghi, 2 * gp - glo))
    m = {"macro_f1_ci95_method": "basic bootstrap over samples, 1000 resamples"}
    assert interval_method(m) == "basic" and interval_kind(m) == "basic"


def test_bca_degenerate_cases_are_explicit():
    # every resample below the estimate: BCa is undefined; percentile levels, with a warning
    with pytest.warns(RuntimeWarning, match="BCa undefined"):
        q, z0, _ = metrics.bca_quantiles([1.0, 2.0, 3.0], 20.0, [1.0, 2.0])
    np.testing.assert_allclose(q, [0.025, 0.975])
    assert np.isnan(z0)
    # a score that is NaN on every resample: a NaN interval, not a crash
    point, (lo, hi) = metrics.grouped_bootstrap(lambda rows: float("nan"), np.arange(5), 20)
    assert np.isnan(lo) and np.isnan(hi)
    # a constant score: a zero-width interval at the estimate
    point, ci = metrics.grouped_bootstrap(lambda rows: 0.5, np.arange(5), 20)
    assert ci == (0.5, 0.5)


def test_bootstrap_blocks_draw_the_same_resamples_as_one_matrix(monkeypatch):
    import gapnet.metrics as m

    rng = np.random.default_rng(3)
    y, p = rng.random((400, 28)) < 0.1, rng.random((400, 28)) < 0.12
    blocked = m.bootstrap_ci(y, p, n_boot=230)
    monkeypatch.setattr(m, "BOOT_BLOCK", 10**6)  # one (n_boot, n) matrix
    assert m.bootstrap_ci(y, p, n_boot=230) == blocked

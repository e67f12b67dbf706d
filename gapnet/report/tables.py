"""Pure functions turning metrics.json into markdown: the summary table printed after a run,
its caption, the comparison of runs (compare.py) and head fine-tuning's before/after."""

from __future__ import annotations

from gapnet.classes import N_CLASSES
from gapnet.schemes import scheme_of_width


def _f(v) -> str:
    return "-" if v is None else v if isinstance(v, str) else f"{v:.3f}"


def headline(m: dict) -> dict:
    """A metrics.json in today's schema: runs written before the headline became the
    cross-fitted figure (their `macro_f1` was tuned) are renamed, nothing recomputed."""
    if "macro_f1_tuned" in m or "macro_f1_crossfit" not in m:
        return m
    old = dict(m)
    m = {
        **old,
        "macro_f1": old["macro_f1_crossfit"],
        "macro_f1_tuned": old["macro_f1"],
        "micro_f1": None,
        "micro_f1_tuned": old.get("micro_f1"),
        "macro_f1_support_ge10": old.get("macro_f1_crossfit_support_ge10"),
        "macro_f1_support_ge10_tuned": old.get("macro_f1_support_ge10"),
        "per_class": None,
        "per_class_tuned": old.get("per_class"),
        "selection_label": "epoch chosen on the scored fold (optimistic)",
    }
    m["per_fold"] = [{**f, "macro_f1": f["macro_f1_crossfit"]} for f in old["per_fold"]]
    m["fold_spread"] = {**old["fold_spread"], "macro_f1": old["fold_spread"]["macro_f1_crossfit"]}
    return m


SUMMARY = (
    ("macro_f1", "cross-fitted (honest)"),
    ("macro_f1_at_0.5", "@0.5"),
    ("macro_f1_tuned", "tuned (optimistic)"),
)


def summary_table(m: dict) -> str:
    """Per-fold and out-of-fold macro-F1, led by the cross-fitted figure (markdown)."""
    m = headline(m)
    rows = [
        "| | n | " + " | ".join(label for _, label in SUMMARY) + " |",
        "|---|---:|" + "---:|" * len(SUMMARY),
    ]
    for f in m["per_fold"]:
        rows.append(
            f"| fold {f['fold']} | {f['n']} | "
            + " | ".join(_f(f[key]) for key, _ in SUMMARY)
            + " |"
        )
    s = m["fold_spread"]
    rows.append(
        "| folds mean +- std | | "
        + " | ".join(f"{s[k]['mean']:.3f} +- {s[k]['std']:.3f}" for k, _ in SUMMARY)
        + " |"
    )
    ci = m.get("macro_f1_ci95")
    rows.append(
        f"| out-of-fold | {m['n_samples']} | " + " | ".join(_f(m[k]) for k, _ in SUMMARY) + " |"
    )
    if ci:
        rows.append(
            f"| interval ({interval_kind(m)} bootstrap, nominal 95 %; its coverage: gapnet's "
            f"docs/evaluation.md) | | [{ci[0]:.3f}, {ci[1]:.3f}] | | |"
        )
    return "\n".join(rows)


def caption(m: dict) -> str:
    """One line saying what the figures are: data, epoch choice, threshold rules."""
    m = headline(m)
    copies = (
        f" {m['n_copies_trained']} augmented copies trained, none scored."
        if m.get("n_copies_trained")
        else ""
    )
    return (
        f"{m['data']}; {m.get('selection_label', '?')}. Macro-F1: cross-fitted thresholds "
        "(tuned on the other folds' predictions, honest), at 0.5, and tuned on the scored "
        f"predictions themselves (optimistic).{copies}"
    )


def _model_name(run: dict) -> str:
    return run["config"].get("model", "?")


def interval_kind(m: dict) -> str:
    """The interval a metrics.json names: "basic" (since #36), "BCa" (gapnet 0.4), else
    "percentile" (what earlier runs stored, without the key)."""
    named = str(m.get("macro_f1_ci95_method", ""))
    return next((k for k in ("basic", "BCa") if named.startswith(k)), "percentile")


def comparison_rows(runs: list[dict]) -> list[dict]:
    """One row per run (dicts with 'name', 'config', 'metrics'): the headline figures."""
    rows = []
    for r in runs:
        m = headline(r["metrics"])
        ci = m.get("macro_f1_ci95") or [None, None]
        row = {
            "run": r["name"],
            "model": _model_name(r),
            "data": m.get("data", ""),
            "selection": m.get("selection_label", "?"),
            "n": m.get("n_samples"),
            "macro_f1": m.get("macro_f1"),
            "ci95_low": ci[0],
            "ci95_high": ci[1],
            "ci95_method": interval_kind(m),
            "fold_std": m.get("fold_spread", {}).get("macro_f1", {}).get("std"),
            "macro_f1_at_0.5": m.get("macro_f1_at_0.5"),
            "macro_f1_tuned": m.get("macro_f1_tuned"),
            "micro_f1": m.get("micro_f1"),
            "macro_f1_support_ge10": m.get("macro_f1_support_ge10"),
            "train_minutes": (
                m["train_seconds"] / 60 if m.get("train_seconds") is not None else None
            ),
        }
        # Runs written before the cross-fitted headline have no cross-fitted per-class F1
        # (they are all 28-class runs).
        per_class = m["per_class"]["f1"] if m["per_class"] else [None] * N_CLASSES
        row["n_classes"] = len(per_class)
        for k, f1 in enumerate(per_class):
            row[f"f1_{k}"] = f1
        rows.append(row)
    widths = {r["n_classes"] for r in rows}
    if len(widths) > 1:
        names = ", ".join(f"{r['run']} ({r['n_classes']} classes)" for r in rows)
        raise ValueError(f"these runs score different label schemes: {names}")
    return rows


# (key, column title): every column says its threshold rule.
HEADLINE = (
    ("macro_f1", "macro-F1 cross-fitted"),
    ("ci95_low", "95% CI low"),
    ("ci95_high", "95% CI high"),
    ("ci95_method", "CI method"),
    ("fold_std", "fold std (cross-fitted)"),
    ("macro_f1_at_0.5", "macro-F1 @0.5"),
    ("macro_f1_tuned", "macro-F1 tuned (optimistic)"),
    ("micro_f1", "micro-F1 cross-fitted"),
    ("macro_f1_support_ge10", "macro-F1 support>=10 cross-fitted"),
    ("train_minutes", "training minutes"),
)


def comparison_markdown(rows: list[dict]) -> str:
    """The headline table, then per-class F1 (cross-fitted thresholds), one column per run."""
    head = (
        "| run | model | data | model per fold | n | " + " | ".join(t for _, t in HEADLINE) + " |"
    )
    lines = [head, "|" + "---|" * 5 + "---:|" * len(HEADLINE)]
    for r in rows:
        lines.append(
            f"| {r['run']} | {r['model']} | {r['data']} | {r['selection']} | {r['n']} | "
            + " | ".join(_f(r[k]) for k, _ in HEADLINE)
            + " |"
        )
    lines += [
        "",
        "Per-class F1 at cross-fitted thresholds:",
        "",
        "| class | name | " + " | ".join(r["run"] for r in rows) + " |",
        "|---:|---|" + "---:|" * len(rows),
    ]
    for k, name in enumerate(scheme_of_width(rows[0]["n_classes"]).classes):
        lines.append(f"| {k} | {name} | " + " | ".join(_f(r[f"f1_{k}"]) for r in rows) + " |")
    return "\n".join(lines) + "\n"


def before_after(before: dict, after: dict, loss: str) -> str:
    """Head fine-tuning: the run's OOF figures before and after, side by side."""
    keys = (
        ("macro_f1", "macro-F1 cross-fitted"),
        ("macro_f1_at_0.5", "macro-F1 @0.5"),
        ("macro_f1_tuned", "macro-F1 tuned (optimistic)"),
        ("micro_f1", "micro-F1 cross-fitted"),
    )
    lines = [
        f"# Head fine-tuning ({loss})",
        "",
        "| | " + " | ".join(t for _, t in keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for name, m in (("before", headline(before)), ("after", headline(after))):
        lines.append(f"| {name} | " + " | ".join(_f(m.get(k)) for k, _ in keys) + " |")
    return "\n".join(lines) + "\n"

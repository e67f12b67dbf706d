"""Pure functions turning a run's metrics into text: the summary table and report.md."""

from __future__ import annotations

from gapnet.classes import CLASS_NAMES


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def summary_table(m: dict) -> str:
    """Per-fold and out-of-fold macro-F1 at 0.5, tuned and cross-fitted (markdown)."""
    rows = ["| | n | macro-F1 @0.5 | tuned | cross-fitted |", "|---|---:|---:|---:|---:|"]
    for f in m["per_fold"]:
        rows.append(f"| fold {f['fold']} | {f['n']} | {_f(f['macro_f1_at_0.5'])} | "
                    f"{_f(f['macro_f1_tuned'])} | {_f(f['macro_f1_crossfit'])} |")
    s = m["fold_spread"]
    rows.append("| folds mean +- std | | " + " | ".join(
        f"{s[k]['mean']:.3f} +- {s[k]['std']:.3f}"
        for k in ("macro_f1_at_0.5", "macro_f1_tuned", "macro_f1_crossfit")) + " |")
    rows.append(f"| out-of-fold | {m['n_samples']} | {_f(m['macro_f1_at_0.5'])} | "
                f"{_f(m['macro_f1'])} | {_f(m['macro_f1_crossfit'])} |")
    return "\n".join(rows)


def markdown(cfg, m: dict) -> str:
    """A short report: data, model, the summary table, the per-class table."""
    lines = [
        f"# {cfg.model} - {cfg.folds}-fold cross-validation",
        "",
        f"Data: **{m['data']}**, {m['n_samples']} samples at {cfg.image_size}px. "
        f"Thresholds: `{cfg.threshold_strategy}`.",
        "",
        "`tuned` thresholds are chosen on the same out-of-fold predictions they are scored on "
        "(optimistic); `cross-fitted` ones are chosen on the other folds' predictions (honest).",
        "",
        summary_table(m),
        "",
        f"Micro-F1 (tuned): {_f(m['micro_f1'])}. Macro-F1 over classes with >= 10 examples: "
        f"tuned {_f(m['macro_f1_support_ge10'])}, cross-fitted "
        f"{_f(m['macro_f1_crossfit_support_ge10'])}. "
        f"ROC-AUC macro {_f(m['tuned'].get('macro_roc_auc'))}, "
        f"PR-AUC macro {_f(m['tuned'].get('macro_pr_auc'))}.",
        "",
        "| class | name | support | precision | recall | F1 |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    pc = m["per_class"]
    for k, name in enumerate(CLASS_NAMES):
        lines.append(f"| {k} | {name} | {pc['support'][k]} | {pc['precision'][k]:.3f} | "
                     f"{pc['recall'][k]:.3f} | {pc['f1'][k]:.3f} |")
    return "\n".join(lines) + "\n"


def _model_name(run: dict) -> str:
    return run["config"].get("model", "?")


def comparison_rows(runs: list[dict]) -> list[dict]:
    """One row per run (dicts with 'name', 'config', 'metrics'): the headline figures."""
    rows = []
    for r in runs:
        m = r["metrics"]
        row = {"run": r["name"], "model": _model_name(r), "data": m.get("data", ""),
               "n": m.get("n_samples"), "macro_f1_at_0.5": m.get("macro_f1_at_0.5"),
               "macro_f1_tuned": m.get("macro_f1"), "macro_f1_crossfit": m.get("macro_f1_crossfit"),
               "crossfit_fold_std": m.get("fold_spread", {}).get("macro_f1_crossfit", {}).get("std"),
               "micro_f1": m.get("micro_f1"),
               "macro_f1_support_ge10": m.get("macro_f1_support_ge10")}
        for k, f1 in enumerate(m["per_class"]["f1"]):
            row[f"f1_{k}"] = f1
        rows.append(row)
    return rows


HEADLINE = ("macro_f1_at_0.5", "macro_f1_tuned", "macro_f1_crossfit", "crossfit_fold_std",
            "micro_f1", "macro_f1_support_ge10")


def comparison_markdown(rows: list[dict]) -> str:
    """The headline table, then per-class F1 (tuned thresholds) with one column per run."""
    head = "| run | model | data | n | " + " | ".join(HEADLINE) + " |"
    lines = [head, "|" + "---|" * 4 + "---:|" * len(HEADLINE)]
    for r in rows:
        lines.append(f"| {r['run']} | {r['model']} | {r['data']} | {r['n']} | "
                     + " | ".join(_f(r[k]) for k in HEADLINE) + " |")
    lines += ["", "| class | name | " + " | ".join(r["run"] for r in rows) + " |",
              "|---:|---|" + "---:|" * len(rows)]
    for k, name in enumerate(CLASS_NAMES):
        lines.append(f"| {k} | {name} | " + " | ".join(_f(r[f"f1_{k}"]) for r in rows) + " |")
    return "\n".join(lines) + "\n"


def before_after(before: dict, after: dict, loss: str) -> str:
    """Head fine-tuning: the run's OOF figures before and after, side by side."""
    keys = ("macro_f1_at_0.5", "macro_f1", "macro_f1_crossfit", "micro_f1")
    lines = [f"# Head fine-tuning ({loss})", "",
             "| | " + " | ".join(k.replace("macro_f1", "macro-F1 tuned") if k == "macro_f1" else k
                                for k in keys) + " |",
             "|---|" + "---:|" * len(keys)]
    for name, m in (("before", before), ("after", after)):
        lines.append(f"| {name} | " + " | ".join(_f(m.get(k)) for k in keys) + " |")
    return "\n".join(lines) + "\n"

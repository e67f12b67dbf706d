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

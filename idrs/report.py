"""Figures, tables and statistics of one experiment: several methods, several seeds each.

* ``certified_accuracy.{png,pdf}``: certified accuracy against radius (Figure 4 style),
  the mean over seeds with a band of one standard deviation, one line per method.
* ``summary.{csv,md,tex}``: per method, mean ± std over seeds of clean accuracy (Table 2),
  abstention and misclassification (Tables 4, 11), class-wise accuracy std (Table 3) and
  certified accuracy at a few radii.
* ``comparisons.{csv,md,tex}``: each method against its baseline across seeds, per metric:
  difference of means, its 95% confidence interval and the p-value of Welch's t-test.
  The paper only compares mean ± std by eye; with few seeds the interval is wide, which
  is the point of printing it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .aggregate import certified_accuracy, summarise_run

log = logging.getLogger(__name__)

__all__ = ["experiment_report", "welch_comparison"]

METRICS = ["accuracy", "abstention", "misclassification", "classwise_std"]


def welch_comparison(a, b, confidence=0.95) -> dict:
    """Mean of ``a`` minus mean of ``b`` with Welch's t-test and its confidence interval
    (unequal variances). Fewer than two values on a side, or no variance at all, leave
    the interval and p-value NaN."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    row = {"mean": a.mean() - b.mean(), "ci_low": np.nan, "ci_high": np.nan,
           "p_value": np.nan, "n": len(a), "n_baseline": len(b)}
    if len(a) >= 2 and len(b) >= 2 and (a.std() > 0 or b.std() > 0):
        test = stats.ttest_ind(a, b, equal_var=False)
        ci = test.confidence_interval(confidence)
        row.update(ci_low=ci.low, ci_high=ci.high, p_value=test.pvalue)
    elif len(a) >= 2 and len(b) >= 2:  # identical constants: no difference, no doubt
        row.update(ci_low=row["mean"], ci_high=row["mean"], p_value=1.0)
    return row


def _runs(records: pd.DataFrame, table_radii):
    rows = []
    for (method, seed), group in records.groupby(["method", "train_seed"], sort=False):
        rows.append({"method": method, "seed": seed, **summarise_run(group, table_radii)})
    return pd.DataFrame(rows)


def _mean_std_table(runs: pd.DataFrame, metrics) -> pd.DataFrame:
    grouped = runs.groupby("method", sort=False)
    table = pd.DataFrame({"seeds": grouped.size()})
    for metric in metrics:
        table[metric] = grouped[metric].mean()
        table[f"{metric}_std"] = grouped[metric].std(ddof=1)
    return table.reset_index()


def _formatted(table: pd.DataFrame, metrics) -> pd.DataFrame:
    out = pd.DataFrame({"method": table["method"], "seeds": table["seeds"]})
    for metric in metrics:
        std = table[f"{metric}_std"].fillna(0.0)
        out[metric] = [f"{m:.4f} ± {s:.4f}" for m, s in zip(table[metric], std)]
    return out


def _write_tables(df: pd.DataFrame, stem: Path, caption: str):
    df.to_csv(stem.with_suffix(".csv"), index=False)
    stem.with_suffix(".md").write_text(f"{caption}\n\n{df.to_markdown(index=False)}\n")
    latex = df.to_latex(index=False, escape=True, float_format="%.4f", caption=caption)
    stem.with_suffix(".tex").write_text(latex)


def _curves(records, radii):
    out = {}
    for method, group in records.groupby("method", sort=False):
        out[method] = np.array([certified_accuracy(run, radii)
                                for _, run in group.groupby("train_seed")])
    return out


def _plot(curves, radii, title, stem: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for method, values in curves.items():
        mean = values.mean(axis=0)
        line, = ax.plot(radii, mean, label=f"{method} ({len(values)} seed"
                        f"{'s' if len(values) > 1 else ''})")
        if len(values) > 1:
            std = values.std(axis=0, ddof=1)
            ax.fill_between(radii, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set(xlabel="radius (L2, pixel units)", ylabel="certified accuracy", title=title,
           ylim=(0, 1.02), xlim=(0, radii[-1]))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    for suffix in (".png", ".pdf"):
        fig.savefig(stem.with_suffix(suffix), dpi=150)
    plt.close(fig)


def experiment_report(records: pd.DataFrame, outdir, *, title, comparisons=(),
                      table_radii=(0.25, 0.5, 1.0), max_radius=None):
    """Write the figure, tables and comparisons of one experiment to ``outdir``.

    ``records`` holds every run's per-input rows with a ``method`` label and the
    ``train_seed``; ``comparisons`` lists ``(method, baseline)`` pairs.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    table_radii = list(table_radii)
    runs = _runs(records, table_radii)
    metrics = METRICS + [f"certified_{r:g}" for r in table_radii]
    table = _mean_std_table(runs, metrics)
    _write_tables(_formatted(table, metrics), outdir / "summary",
                  f"{title}: mean ± std over seeds (certified_r: certified accuracy at radius r)")
    table.to_csv(outdir / "summary_numbers.csv", index=False)
    rows = []
    for method, baseline in comparisons:
        a, b = runs[runs.method == method], runs[runs.method == baseline]
        if a.empty or b.empty:
            raise ValueError(f"comparison {method!r} vs {baseline!r}: no runs for "
                             f"{method if a.empty else baseline!r}.")
        for metric in metrics:
            rows.append({"method": method, "baseline": baseline, "metric": metric,
                         **welch_comparison(a[metric], b[metric])})
    comparison = pd.DataFrame(rows, columns=["method", "baseline", "metric", "mean", "ci_low",
                                             "ci_high", "p_value", "n", "n_baseline"])
    _write_tables(comparison, outdir / "comparisons",
                  f"{title}: method minus baseline across seeds, 95% CI and Welch's t-test")
    top = max_radius or max(1e-3, float(records["radius"].max()) * 1.05)
    radii = np.linspace(0.0, top, 300)
    _plot(_curves(records, radii), radii, title, outdir / "certified_accuracy")
    log.info("wrote the report of %s to %s", title, outdir)
    return runs

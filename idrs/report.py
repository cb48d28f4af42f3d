"""Figures, tables and statistics of one experiment: several methods, several seeds each.

* figures (:mod:`idrs.figures`), each ``.png`` and ``.pdf``: ``certified_accuracy``
  (mean over seeds, band ±1 SD), ``accuracy`` (clean accuracy per method, the paper's
  value marked), ``classwise`` (per-class accuracy and class-wise std),
  ``radius_distance`` (certified radius against kNN distance per test point);
* ``summary.{csv,md,tex}``: per method, mean ± std over seeds of clean accuracy (Table 2),
  abstention and misclassification (Tables 4, 11), class-wise accuracy std (Table 3), ACR,
  mean and median sigma(x), certified accuracy at a few radii, and the paper's printed
  values where the config gives them;
* ``per_class.csv``: accuracy of every class, per method and seed.
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

from . import figures
from .aggregate import certified_accuracy, per_class_accuracy, summarise_run

log = logging.getLogger(__name__)

__all__ = ["experiment_report", "welch_comparison"]

METRICS = ["accuracy", "abstention", "misclassification", "classwise_std", "acr",
           "mean_sigma", "median_sigma"]


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


def _per_class(records):
    rows = [{"method": method, "seed": seed, "label": label, "accuracy": acc}
            for (method, seed), group in records.groupby(["method", "train_seed"], sort=False)
            for label, acc in per_class_accuracy(group).items()]
    return pd.DataFrame(rows, columns=["method", "seed", "label", "accuracy"])


def experiment_report(records: pd.DataFrame, outdir, *, title, comparisons=(),
                      table_radii=(0.25, 0.5, 1.0), max_radius=None, paper=None):
    """Write the figures, tables and comparisons of one experiment to ``outdir``.

    ``records`` holds every run's per-input rows with a ``method`` label and the
    ``train_seed``; ``comparisons`` lists ``(method, baseline)`` pairs; ``paper`` maps a
    method to {metric: the paper's printed value}.
    """
    paper = paper or {}
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    table_radii = list(table_radii)
    runs = _runs(records, table_radii)
    metrics = METRICS + [f"certified_{r:g}" for r in table_radii]
    table = _mean_std_table(runs, metrics)
    summary = _formatted(table, metrics)
    for metric in sorted({m for values in paper.values() for m in values}):
        summary[f"{metric} (paper)"] = [paper.get(method, {}).get(metric, "")
                                        for method in table["method"]]
    _write_tables(summary, outdir / "summary",
                  f"{title}: mean ± std over seeds (certified_r: certified accuracy at radius "
                  "r; acr: average certified radius; sigma: sigma(x) over the inputs)")
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
    per_class = _per_class(records)
    per_class.to_csv(outdir / "per_class.csv", index=False)
    top = max_radius or max(1e-3, float(records["radius"].max()) * 1.05)
    radii = np.linspace(0.0, top, 300)
    figures.save(figures.certified_accuracy_figure(_curves(records, radii), radii, title),
                 outdir / "certified_accuracy")
    printed = {m: v["accuracy"] for m, v in paper.items() if "accuracy" in v}
    figures.save(figures.accuracy_figure(runs, title, printed), outdir / "accuracy")
    figures.save(figures.classwise_figure(per_class, runs, title), outdir / "classwise")
    figures.save(figures.radius_distance_figure(records, title), outdir / "radius_distance")
    log.info("wrote the report of %s to %s", title, outdir)
    return runs

"""Figures, tables and statistics of one experiment: several methods, several seeds each.

* figures (:mod:`idrs.results.figures`), each ``.png`` and ``.pdf``: ``certified_accuracy``
  (mean over seeds, band ±1 SD), ``accuracy`` (clean accuracy per method, the paper's
  value marked), ``classwise`` (per-class accuracy and class-wise std),
  ``radius_distance`` (certified radius against kNN distance per test point);
* ``summary.{csv,md,tex}``: per method, mean ± std over seeds of clean accuracy (Table 2),
  abstention and misclassification (Tables 4, 11), class-wise accuracy std (Table 3), ACR,
  mean and median sigma(x), certified accuracy at a few radii, and the paper's printed
  values where the config gives them;
* ``per_class.csv``: accuracy of every class, per method and seed; ``runs.csv``: every
  metric per method and seed.
* ``comparisons.{csv,md,tex}``: each method against its baseline, per metric: the mean
  difference, its 95% confidence interval and unadjusted two-sided p-value from
  :func:`idrs.results.comparison.compare_methods` (crossed seeds × images for per-image metrics,
  paired over seeds for run-level ones, one-sample against a published run), the exact
  sign-flip p-value over seeds, and a descriptive McNemar row per image-level outcome,
  conditional on the trained networks. These rows are descriptive: the paper's claims
  are decided, with Holm's adjustment over the claims, by :mod:`idrs.results.paper_check`.
  The paper only compares mean ± std by eye.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from . import figures
from .aggregate import certified_accuracy, image_values, per_class_accuracy, summarise_run
from .comparison import compare_methods, mcnemar_pooled
from .html_tables import html_page

log = logging.getLogger(__name__)

__all__ = ["experiment_report", "comparison_table"]

METRICS = ["accuracy", "abstention", "misclassification", "classwise_std",
           "classwise_std_corrected", "acr", "mean_sigma", "median_sigma"]
#: Metrics that exist only per run (compared over seeds, not over images).
RUN_METRICS = {"classwise_std", "classwise_std_corrected", "median_sigma"}


def _runs(records: pd.DataFrame, table_radii):
    """One row per method and seed; with the ``run`` each method is (model/evaluation,
    :func:`idrs.results.aggregate.merge_shards`) where the records carry it."""
    rows = []
    for (method, seed), group in records.groupby(["method", "train_seed"], sort=False):
        run = {"run": group["run"].iloc[0]} if "run" in group else {}
        rows.append({"method": method, "seed": seed, **run,
                     **summarise_run(group, table_radii)})
    return pd.DataFrame(rows)


def _mean_std_table(runs: pd.DataFrame, metrics) -> pd.DataFrame:
    grouped = runs.groupby("method", sort=False)
    table = pd.DataFrame({"seeds": grouped.size()})
    for metric in metrics:
        table[metric] = grouped[metric].mean()
        table[f"{metric}_std"] = grouped[metric].std(ddof=1)
    return table.reset_index()


def _coverage(records: pd.DataFrame):
    """Images each method certified, and a warning for each method that covers fewer
    than the experiment (a published file with only some of the images, say)."""
    images = records.groupby("method", sort=False)["idx"].agg(lambda s: set(s))
    every = set().union(*images) if len(images) else set()
    notes = [f"Warning: {method} covers {len(seen)} of the {len(every)} images certified in "
             "this experiment; its numbers are over those images only."
             for method, seen in images.items() if len(seen) < len(every)]
    return images.map(len), notes


def _formatted(table: pd.DataFrame, metrics) -> pd.DataFrame:
    out = pd.DataFrame({"method": table["method"], "seeds": table["seeds"],
                        "images": table["images"]})
    for metric in metrics:  # one seed has no standard deviation: "n/a", not 0
        out[metric] = [f"{m:.4f} ± {'n/a' if np.isnan(s) else f'{s:.4f}'}"
                       for m, s in zip(table[metric], table[f"{metric}_std"])]
    for column in ("s_sampling", "s_radius"):
        if column in table:
            out[column] = [f"{v:.3g}" if pd.notna(v) else "" for v in table[column]]
    return out


def _write_tables(df: pd.DataFrame, stem: Path, caption: str):
    """CSV for machines, Markdown, LaTeX, and HTML for the report's inline view."""
    df.to_csv(stem.with_suffix(".csv"), index=False)
    stem.with_suffix(".html").write_text(html_page(df, caption))
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


def comparison_table(records, runs, comparisons, metrics, table_radii) -> pd.DataFrame:
    """Every (method, baseline) pair: one :func:`~idrs.results.comparison.compare_methods` row
    per metric; over the (seed, image) pairs both have, two exact rows (``lost_correct``:
    images the baseline classifies correctly and the method does not, A.5's "without
    losing a single correct classification", a count with no interval or p; and
    :func:`time_ratio`), then a descriptive McNemar row per image-level outcome
    (accuracy, certified accuracy at each table radius). p-values are unadjusted: the
    rows describe, the registered claims decide."""
    rows = []
    for method, baseline in comparisons:
        a, b = runs[runs.method == method], runs[runs.method == baseline]
        if a.empty or b.empty:
            raise ValueError(f"comparison {method!r} vs {baseline!r}: no runs for "
                             f"{method if a.empty else baseline!r}.")
        ours, theirs = records[records.method == method], records[records.method == baseline]
        published = baseline.endswith(" (published)")
        for metric in metrics:
            pair = (a, b) if metric in RUN_METRICS else (ours, theirs)
            rows.append({"method": method, "baseline": baseline, "metric": metric,
                         **compare_methods(*pair, metric=metric, published=published)})
        pairs = ours.merge(theirs, on=["train_seed", "idx"], suffixes=("", "_b"))
        if published or pairs.empty:  # nothing paired per image: no McNemar
            continue
        base = pairs[[c for c in pairs.columns if c.endswith("_b")]]
        base.columns = [c[:-2] for c in base.columns]
        scope = {"n_seeds": pairs.train_seed.nunique(),
                 "scope": "these trained networks and test images"}
        mcnemar = [{"metric": f"{metric} (per image)",
                    **mcnemar_pooled(image_values(pairs, metric), image_values(base, metric)),
                    **scope} for metric in ["accuracy"] + [f"certified_{r:g}" for r in table_radii]]
        # the exact count of lost correct images is the accuracy row's discordant "worse"
        exact = [{"metric": "lost_correct", "test": "exact count over these runs",
                  "mean": float(mcnemar[0]["worse"]), "n_images": len(pairs), **scope},
                 time_ratio(pairs, base)]
        rows += [{"method": method, "baseline": baseline, **row} for row in exact + mcnemar]
    columns = ["method", "baseline", "metric", "test", "mean", "ci_low", "ci_high", "p_value",
               "se", "df", "p_sign_flip", "n_seeds", "n_images", "better", "worse", "scope",
               "seeds_dropped", "reason"]
    return pd.DataFrame(rows).reindex(columns=columns)


def time_ratio(ours: pd.DataFrame, base: pd.DataFrame) -> dict:
    """Seconds per image (Monte Carlo sampling plus the radius search) of the method over
    the baseline's, per seed on aligned rows: the mean ratio and, as its range, the
    smallest and largest seed's (E's "at most 1/3-times longer"). The kNN distances
    are computed once per dataset and are not included. Descriptive: no p."""
    if "time" not in ours or "radius_time" not in ours:  # records of other origins
        return {"metric": "time_ratio", "reason": "the records have no timing columns"}
    seconds = lambda t: t.time + t.radius_time.fillna(0.0)  # noqa: E731
    frame = pd.DataFrame({"seed": ours.train_seed.to_numpy(),
                          "a": seconds(ours).to_numpy(), "b": seconds(base).to_numpy()})
    means = frame.groupby("seed")[["a", "b"]].mean()
    ratio = means.a / means.b
    return {"metric": "time_ratio", "test": "ratio of mean seconds per image, range over seeds",
            "mean": float(ratio.mean()), "ci_low": float(ratio.min()),
            "ci_high": float(ratio.max()), "n_seeds": len(ratio), "n_images": len(ours),
            "scope": "these runs on this machine"}


def _spread_rows(runs: pd.DataFrame, spread: dict, metrics) -> pd.DataFrame:
    """For each {name: [method labels]}: the mean and SD across those methods' runs (the
    spread of repeated certifications of one model, Appendix E.6.1)."""
    rows = []
    for name, labels in spread.items():
        part = runs[runs.method.isin(labels)]
        row = {"method": f"{name} (spread over {len(part)} runs)", "seeds": len(part)}
        for metric in metrics:
            row[metric] = part[metric].mean()
            row[f"{metric}_std"] = part[metric].std(ddof=1)
        rows.append(row)
    return pd.DataFrame(rows)


def _timing(records: pd.DataFrame) -> pd.DataFrame:
    """Median seconds per image of each method: Monte Carlo sampling (``time``, a share
    of its job's sampling) and its share of the radius search (``radius_time``)."""
    grouped = records.groupby("method", sort=False)
    return pd.DataFrame({name: grouped[column].median() if column in records else np.nan
                         for name, column in (("s_sampling", "time"),
                                              ("s_radius", "radius_time"))},
                        index=list(grouped.groups))


def experiment_report(records: pd.DataFrame, outdir, *, title, comparisons=(),
                      table_radii=(0.25, 0.5, 1.0), max_radius=None, paper=None, spread=None):
    """Write the figures, tables and comparisons of one experiment to ``outdir``.

    ``records`` holds every run's per-input rows with a ``method`` label and the
    ``train_seed``; ``comparisons`` lists ``(method, baseline)`` pairs; ``paper`` maps a
    method to {metric: the paper's printed value}; ``spread`` maps a name to method
    labels whose runs are pooled into one more summary row (mean ± SD across them). The
    summary also gives each method's median seconds per image of sampling and of the
    radius search (``s_sampling``, ``s_radius``).
    """
    paper = paper or {}
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    table_radii = list(table_radii)
    runs = _runs(records, table_radii)
    metrics = METRICS + [f"certified_{r:g}" for r in table_radii]
    table = _mean_std_table(runs, metrics)
    images, notes = _coverage(records)
    if spread:
        table = pd.concat([table, _spread_rows(runs, spread, metrics)], ignore_index=True)
    table.insert(2, "images", table["method"].map(images))
    timing = _timing(records)
    for column in timing:
        table[column] = table["method"].map(timing[column])
    for note in notes:
        log.warning("%s: %s", title, note)
    summary = _formatted(table, metrics)
    for metric in sorted({m for values in paper.values() for m in values}):
        summary[f"{metric} (paper)"] = [paper.get(method, {}).get(metric, "")
                                        for method in table["method"]]
    _write_tables(summary, outdir / "summary",
                  f"{title}: mean ± std over seeds (certified_r: certified accuracy at radius "
                  "r; acr: average certified radius; sigma: sigma(x) over the inputs)"
                  + "".join(f" {note}" for note in notes))
    table.to_csv(outdir / "summary_numbers.csv", index=False)
    runs.to_csv(outdir / "runs.csv", index=False)  # per seed: what idrs.results.paper_check reads
    comparison = comparison_table(records, runs, comparisons, metrics, table_radii)
    _write_tables(comparison, outdir / "comparisons",
                  f"{title}: method minus baseline, 95% CI and unadjusted two-sided p "
                  "(descriptive; the paper's claims are decided in paper/claims with Holm "
                  "over the claims). Crossed t over seeds x images for per-image metrics, "
                  "paired t over seeds for run-level ones, exact sign-flip where the "
                  "per-seed differences have no spread; McNemar rows are conditional on "
                  "the trained networks")
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

"""The curse of dimensionality on data (Appendix A.5, Table 5): the gain of sigma(x)
over constant sigma against the input dimension N.

One row per paired comparison (an experiment's method against one of its baselines)
of the experiments whose data have a dimension: ours with its interval across seeds
and test images (the report's ``comparisons.csv``, ``idrs.results.comparison``), and
the paper's gain where both cells are printed (the paper check's ``verdicts.csv``). A
baseline the paper printed is its "constant sigma"; one it did not is our control
(constant sigma = sigma_b, which isolates the input dependence from the lower level).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["dimension_gains", "dimension_table", "write_dimension_gains", "METRICS", "KINDS"]

#: Metrics whose gains are drawn: the paper prints clean accuracy and claims radii.
METRICS = ("accuracy", "acr")
#: What the baseline is: printed by the paper, or our control.
KINDS = ("over the paper's constant sigma", "over the control (constant sigma = sigma_b)")


def _printed(verdicts: pd.DataFrame) -> dict:
    """{(experiment, method, metric): the paper's printed value} of the cell rows."""
    cells = verdicts.dropna(subset=["experiment", "method", "metric", "paper"])
    return {(r.experiment, r.method, r.metric): float(r.paper) for r in cells.itertuples()}


def dimension_gains(comparisons: dict, dims: dict, verdicts: pd.DataFrame) -> pd.DataFrame:
    """One row per (experiment, method, baseline, metric in :data:`METRICS`) of the
    experiments in ``dims`` ({experiment: N}): N, kind (:data:`KINDS`), ours (mean
    difference), its interval (``ci_low``, ``ci_high``) and test, and ``paper``, the
    printed difference where the paper printed both cells (NaN otherwise)."""
    printed = _printed(verdicts)
    # a baseline is the paper's when it printed any cell of it (it prints no radii)
    papers = {(experiment, method) for experiment, method, _ in printed}
    rows = []
    for experiment, dim in dims.items():
        table = comparisons[experiment]
        for r in table[table.metric.isin(METRICS)].itertuples():
            base = printed.get((experiment, r.baseline, r.metric))
            method = printed.get((experiment, r.method, r.metric))
            rows.append({"experiment": experiment, "N": int(dim), "method": r.method,
                         "baseline": r.baseline, "metric": r.metric,
                         "kind": KINDS[(experiment, r.baseline) not in papers],
                         "ours": r.mean, "ci_low": r.ci_low,
                         "ci_high": r.ci_high, "test": r.test,
                         "paper": float("nan") if base is None or method is None
                         else method - base})
    columns = ["experiment", "N", "method", "baseline", "metric", "kind", "ours", "ci_low",
               "ci_high", "test", "paper"]
    return pd.DataFrame(rows, columns=columns).sort_values(["metric", "kind", "N"],
                                                             ignore_index=True)


def _mean_sd(values: pd.Series, digits=3) -> str:
    sd = values.std(ddof=1)
    return f"{values.mean():.{digits}f}" + ("" if pd.isna(sd) else f" ± {sd:.{digits}f}")


def dimension_table(runs: dict, dims: dict, verdicts: pd.DataFrame) -> pd.DataFrame:
    """Table 5 with everything beside it: one row per (N, method) of the experiments in
    ``dims``, the paper's printed accuracy, ours (mean ± SD over seeds), the paper
    check's interval on ours minus the paper and its verdict, the ACR and the certified
    accuracy at each radius the runs were summarised at (``certified_<r>`` columns)."""
    cells = verdicts.dropna(subset=["experiment", "method"])
    cells = cells[cells.metric == "accuracy"].set_index(["experiment", "method"])
    rows = []
    for experiment, dim in sorted(dims.items(), key=lambda item: item[1]):
        table = runs[experiment]
        radii = [c for c in table.columns
                 if c.startswith("certified_") and not c.endswith("_se_images")]
        for method, group in table.groupby("method", sort=False):
            cell = cells.loc[(experiment, method)] if (experiment, method) in cells.index \
                else None
            row = {"N": int(dim), "method": method,
                   "paper": "" if cell is None else cell.printed,
                   "ours (mean ± SD)": _mean_sd(group.accuracy),
                   "ours − paper, interval": "" if cell is None or pd.isna(cell.ci_low)
                   else f"[{cell.ci_low:+.3f}, {cell.ci_high:+.3f}]",
                   "verdict": "" if cell is None else cell.verdict,
                   "seeds": len(group), "ACR": _mean_sd(group.acr)}
            row.update({f"cert. acc. r = {c.removeprefix('certified_')}": _mean_sd(group[c])
                        for c in radii})
            rows.append(row)
    return pd.DataFrame(rows)


def write_dimension_gains(comparison_files: dict, runs_files: dict, dims: dict,
                          verdicts_file, stem) -> Path:
    """Read each experiment's ``comparisons.csv`` and ``runs.csv`` and the paper check's
    verdicts; write ``stem.csv`` (the gains), the figure (``stem.png``, ``stem.pdf``) and
    Table 5 beside ours (``stem_table.csv``, ``stem_table.md``); return the CSV's path."""
    from .figures import dimension_gain_figure, save
    verdicts = pd.read_csv(verdicts_file, dtype={"printed": str})
    gains = dimension_gains({e: pd.read_csv(f) for e, f in comparison_files.items()}, dims,
                            verdicts)
    stem = Path(stem)
    gains.to_csv(stem.with_suffix(".csv"), index=False)
    save(dimension_gain_figure(gains), stem)
    table = dimension_table({e: pd.read_csv(f) for e, f in runs_files.items()}, dims, verdicts)
    table.to_csv(f"{stem}_table.csv", index=False)
    # disable_numparse: the printed digits stay as printed (0.940, not 0.94)
    markdown = table.to_markdown(index=False, disable_numparse=True)
    Path(f"{stem}_table.md").write_text(
        "Table 5 across dimensions: the paper's clean accuracy beside ours, the paper "
        f"check's verdict, and our certified radii\n\n{markdown}\n")
    return stem.with_suffix(".csv")

"""Does the paper hold? Every printed number beside ours, with a verdict.

Two registries ship with the package:

* ``paper_values.csv``: the printed cells of Tables 2-20 that a configuration
  reproduces (table, row, column, the number as printed, its value in our units, and
  the config, experiment, method and metric that reproduce it);
* ``paper_claims.csv``: qualitative claims of the paper's text, each decided by a
  comparison of one method with its baseline (``comparisons.csv`` of the experiment).

A cell **agrees** when the printed value lies in our 95% confidence interval over seeds
(t-interval of the mean; chi-square interval for a standard deviation across runs)
widened by half a unit of the printed last digit; it **differs** otherwise; with one
seed there is no interval and only the rounding counts. A claim is **supported** when
the comparison's Holm-adjusted p-value is below 0.05 in the claimed direction,
**contradicted** when it is below 0.05 in the other, and **not decided** otherwise; a
claim of "no improvement" is **consistent** unless the method is significantly better.
Table 1 (theory) comes from ``theory/table1.csv``, which carries the printed values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["load_registry", "load_claims", "cell_verdicts", "claim_verdicts", "check",
           "paper_tables", "write_paper_check", "read_results", "ALPHA"]

REGISTRY = Path(__file__).with_name("paper_values.csv")
CLAIMS = Path(__file__).with_name("paper_claims.csv")
#: Significance level of the claim verdicts (Holm-adjusted within an experiment).
ALPHA = 0.05


def load_registry(path=REGISTRY) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"printed": str})


def load_claims(path=CLAIMS) -> pd.DataFrame:
    return pd.read_csv(path)


def _half_unit(printed: str, value: float) -> float:
    """Half a unit of the printed number's last digit, in the value's units."""
    text = printed.strip().rstrip("%")
    decimals = len(text.split(".")[1]) if "." in text else 0
    scale = abs(value) / abs(float(text)) if float(text) else 1.0  # % or x100 printing
    return 0.5 * 10.0 ** -decimals * scale


def _interval(values: np.ndarray, spread: bool, confidence=0.95):
    """(estimate, low, high): of the mean, or of the SD across runs (``spread``)."""
    n = len(values)
    if spread:
        sd = float(np.std(values, ddof=1)) if n > 1 else np.nan
        if n < 2:
            return sd, np.nan, np.nan
        q = stats.chi2.ppf([(1 + confidence) / 2, (1 - confidence) / 2], n - 1)
        return sd, sd * np.sqrt((n - 1) / q[0]), sd * np.sqrt((n - 1) / q[1])
    mean = float(np.mean(values))
    if n < 2:
        return mean, np.nan, np.nan
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * np.std(values, ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half


def cell_verdicts(registry: pd.DataFrame, runs: dict, config: str) -> pd.DataFrame:
    """One row per registered cell of ``config``; ``runs`` maps an experiment to its
    per-seed table (``runs.csv`` of the report: method, seed, metrics)."""
    rows = []
    for cell in registry[registry.config == config].itertuples(index=False):
        table = runs.get(cell.experiment)
        spread = cell.metric.startswith("sd:")
        metric = cell.metric[3:] if spread else cell.metric
        values = (None if table is None or metric not in table.columns
                  else table.loc[table.method == cell.method, metric].dropna().to_numpy(float))
        row = {"table": cell.table, "row": cell.row, "column": cell.column,
               "paper": cell.value, "printed": cell.printed, "experiment": cell.experiment,
               "method": cell.method, "metric": cell.metric}
        if values is None or len(values) == 0:
            rows.append({**row, "verdict": "not run"})
            continue
        ours, low, high = _interval(values, spread)
        tolerance = _half_unit(cell.printed, cell.value)
        if np.isnan(low):
            verdict = "agrees" if abs(ours - cell.value) <= tolerance else "differs (1 seed)"
        else:
            verdict = ("agrees" if low - tolerance <= cell.value <= high + tolerance
                       else "differs")
        rows.append({**row, "ours": ours, "ci_low": low, "ci_high": high,
                     "seeds": len(values), "difference": ours - cell.value,
                     "verdict": verdict})
    columns = ["table", "row", "column", "paper", "printed", "ours", "ci_low", "ci_high",
               "seeds", "difference", "verdict", "experiment", "method", "metric"]
    return pd.DataFrame(rows).reindex(columns=columns)


def theory_verdicts(table1: pd.DataFrame) -> pd.DataFrame:
    """Table 1's cells from ``theory/table1.csv`` (exact values, no seeds)."""
    return pd.DataFrame({
        "table": 1, "row": table1["dataset"], "column": "p_A = " + table1["p_a"].astype(str),
        "paper": table1["paper"], "printed": table1["paper"].map(lambda v: f"{v:.3f}"),
        "ours": table1["threshold"], "seeds": 0, "difference": table1["threshold"] - table1["paper"],
        "verdict": np.where(table1["matches_paper"], "agrees", "differs"),
        "experiment": "theory", "method": "Theorem 2.4", "metric": "threshold"})


def claim_verdicts(claims: pd.DataFrame, comparisons: dict, config: str) -> pd.DataFrame:
    """One row per claim of ``config``; ``comparisons`` maps an experiment to its
    ``comparisons.csv`` table."""
    rows = []
    for claim in claims[claims.config == config].itertuples(index=False):
        table = comparisons.get(claim.experiment)
        match = (None if table is None else table[
            (table.method == claim.method) & (table.baseline == claim.baseline)
            & (table.metric == claim.metric)])
        row = {"claim": claim.claim, "source": claim.source, "experiment": claim.experiment,
               "method": claim.method, "baseline": claim.baseline, "metric": claim.metric,
               "expected": claim.expected}
        if match is None or match.empty:
            rows.append({**row, "verdict": "not run"})
            continue
        found = match.iloc[0]
        significant = bool(found.p_holm < ALPHA)
        sign = np.sign(found["mean"]) * (1 if claim.expected in ("greater", "not greater")
                                         else -1)
        if claim.expected in ("greater", "less"):
            verdict = ("supported" if significant and sign > 0 else
                       "contradicted" if significant and sign < 0 else "not decided")
        else:  # "not greater" / "not less": only a significant improvement contradicts
            verdict = "contradicted" if significant and sign > 0 else "consistent"
        rows.append({**row, "difference": found["mean"], "test": found.test,
                     "p_holm": found.p_holm, "verdict": verdict})
    columns = ["claim", "source", "expected", "verdict", "difference", "test", "p_holm",
               "experiment", "method", "baseline", "metric"]
    return pd.DataFrame(rows).reindex(columns=columns)


def _cell_text(row) -> str:
    paper = f"(paper {row.printed})"
    if row.verdict == "not run":
        return f"not run {paper}"
    if row.table == 1:
        return f"{row.ours:.4f} {paper}"
    spread = np.isnan(row.ci_low) if isinstance(row.ci_low, float) else True
    ci = "" if spread else f" [{row.ci_low:.4f}, {row.ci_high:.4f}]"
    return f"{row.ours:.4f}{ci} {paper}"


def paper_tables(verdicts: pd.DataFrame) -> dict:
    """{table number: DataFrame in the paper's layout, cells "ours [95% CI] (paper)"}."""
    out = {}
    for number, cells in verdicts.groupby("table", sort=True):
        text = cells.assign(cell=[_cell_text(r) for r in cells.itertuples(index=False)])
        wide = text.pivot_table(index="row", columns="column", values="cell",
                                aggfunc="first", sort=False)
        out[int(number)] = wide.reset_index()
    return out


def read_results(results_dir, experiments=None):
    """The report's ``runs.csv`` and ``comparisons.csv`` of every experiment under
    ``results_dir/report`` (or of ``experiments``), and ``theory/table1.csv``."""
    results_dir = Path(results_dir)
    folders = sorted(p for p in (results_dir / "report").glob("*") if p.is_dir())
    if experiments is not None:
        folders = [results_dir / "report" / e for e in experiments]
    runs = {f.name: pd.read_csv(f / "runs.csv") for f in folders if (f / "runs.csv").exists()}
    comparisons = {f.name: pd.read_csv(f / "comparisons.csv") for f in folders
                   if (f / "comparisons.csv").exists()}
    table1 = results_dir / "theory" / "table1.csv"
    return runs, comparisons, (pd.read_csv(table1) if table1.exists() else None)


def check(results_dir, config: str) -> tuple:
    """(cell verdicts, claim verdicts) of the results under ``results_dir``."""
    runs, comparisons, table1 = read_results(results_dir)
    verdicts = cell_verdicts(load_registry(), runs, config)
    if table1 is not None:
        verdicts = pd.concat([theory_verdicts(table1), verdicts], ignore_index=True)
    return verdicts, claim_verdicts(load_claims(), comparisons, config)


def verdicts_markdown(verdicts: pd.DataFrame, config: str) -> str:
    counts = verdicts["verdict"].value_counts().to_dict()
    summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    return (f"# Does the paper hold? Config `{config}`: {len(verdicts)} printed cells: "
            f"{summary}\n\nAgrees: the printed value lies in our 95% CI over seeds widened by "
            "half a unit of its last digit.\n\n"
            + verdicts.to_markdown(index=False, floatfmt=".4f") + "\n")


def claims_markdown(claims: pd.DataFrame, config: str) -> str:
    return (f"# The paper's claims, config `{config}`\n\nSupported / contradicted: "
            f"Holm-adjusted p < {ALPHA} in / against the claimed direction (paired tests).\n\n"
            + claims.to_markdown(index=False, floatfmt=".4g") + "\n")


def write_paper_check(results_dir, config: str, outdir=None) -> tuple:
    """Write ``paper/verdicts.{csv,md}``, ``paper/claims.{csv,md}`` and
    ``paper/tables/table{N}.{csv,md,tex}``; return (verdicts, claims)."""
    verdicts, claims = check(results_dir, config)
    outdir = Path(outdir or Path(results_dir) / "paper")
    (outdir / "tables").mkdir(parents=True, exist_ok=True)
    verdicts.to_csv(outdir / "verdicts.csv", index=False)
    (outdir / "verdicts.md").write_text(verdicts_markdown(verdicts, config))
    claims.to_csv(outdir / "claims.csv", index=False)
    (outdir / "claims.md").write_text(claims_markdown(claims, config))
    for number, table in paper_tables(verdicts).items():
        stem = outdir / "tables" / f"table{number}"
        table.to_csv(stem.with_suffix(".csv"), index=False)
        stem.with_suffix(".md").write_text(
            f"Table {number}: ours, 95% CI over seeds (paper)\n\n"
            + table.to_markdown(index=False) + "\n")
        stem.with_suffix(".tex").write_text(table.to_latex(index=False, escape=True))
    return verdicts, claims

"""Does the paper hold? Every printed number beside ours, with a verdict.

Two registries ship with the package:

* ``paper_values.csv``: the printed cells of Tables 2-20 that a configuration
  reproduces (table, row, column, the number as printed, its value in our units, the
  config, experiment, method and metric that reproduce it), and what the paper's number
  is made of: ``runs`` (the number of training runs it averages, 1 for a single run;
  ``our_seed`` names the run of ours that such a cell is also set against),
  ``paper_sd`` (the paper's own seed SD where it prints one beside the cell),
  ``test_images`` (images behind it) and ``test_set`` (``fixed``: a subset of a real
  test set that we certify too when we certify as many images; ``drawn``: generated
  data, never the same images);
* ``paper_claims.csv``: qualitative claims of the paper's text (and our controls), each
  decided by one comparison of a method with its baseline (``comparisons.csv`` of the
  experiment), with the claimed direction and, for claims of no difference, a margin.

**Cell verdicts** come from an interval on the difference ours - paper whose variance
adds: our seed variance over our S seeds; the paper's side, its printed SD over its
``runs`` where printed, else our seed SD (an assumption: the paper's runs vary as ours
do), and a whole run's variance (a prediction term) where the paper's value is one run;
the test-set term (per-image variance over images, on both sides) where our images are
not the paper's; and half a unit of the printed last digit. Welch-Satterthwaite degrees
of freedom (:func:`idrs.results.comparison.satterthwaite_df`), 95%. A cell **differs**
when the printed value lies outside; it **agrees** when it lies inside and the half-width
is within the cell's resolution (:func:`resolution`); otherwise it is **too uncertain to
judge**. A spread cell (the SD across runs, ``sd:`` metrics) compares our SD with the
printed one through the 95% F interval of their ratio: differs when it excludes 1,
agrees when it lies within [0.4, 2.5], too uncertain otherwise. A seed SD of exactly 0
on a proportion is floored at one image (1/images), so identical seeds never "differ" by
zero width.

**Claim verdicts**: each claim is a region for the difference Delta (method minus
baseline): ``greater`` Delta > 0, ``less`` Delta < 0, ``not greater`` Delta < margin,
``not less`` Delta > -margin, ``similar`` |Delta| < margin (two one-sided tests). Its
p-value for "supported" tests the complement of the region, its p-value for
"contradicted" tests the region (one-sided, from the comparison's t or exact sign-flip
test); both lists together are Holm-adjusted over the config's claims that ran, so the
chance of any wrong verdict is at most 0.05. **supported** / **contradicted**: adjusted
p < 0.05; **inconclusive** otherwise, with the reason.
Table 1 (theory) comes from ``theory/table1.csv``, which carries the printed values.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import stats

from .comparison import holm, interval, one_sided_p, satterthwaite_df
from .html_tables import html_page
from .theory_report import PAPER_TABLE1

__all__ = ["load_registry", "load_claims", "cell_verdicts", "claim_verdicts", "check",
           "claim_summary", "measurement_verdicts",
           "paper_tables", "write_paper_check", "read_results", "resolution", "ALPHA",
           "CONFIDENCE"]

REGISTRY = Path(__file__).with_name("paper_values.csv")
CLAIMS = Path(__file__).with_name("paper_claims.csv")
#: Family-wise error rate of the claim verdicts (Holm over the config's claims).
ALPHA = 0.05
#: Level of the cell intervals.
CONFIDENCE = 0.95
#: Metrics that are proportions of test images (binomial-type test-set term, floor).
PROPORTIONS = ("accuracy", "abstention", "misclassification", "certified_")
#: A spread cell agrees when its SD-ratio interval lies within this range.
SD_RATIO_RESOLUTION = (0.4, 2.5)
EXPECTED = ("greater", "less", "not greater", "not less", "similar", "zero", "at most")
#: Claims decided exactly on our runs, without a test: an exact count ("zero") and a
#: range over seeds against a bound ("at most"); they take no part in Holm.
EXACT = ("zero", "at most")


#: The verdict of a cell that a data generator was calibrated on: not evidence either way.
FITTED = "fitted (not evidence)"


def load_registry(path=REGISTRY) -> pd.DataFrame:
    registry = pd.read_csv(path, dtype={"printed": str, "fitted": str})
    registry["fitted"] = registry["fitted"].fillna("")
    bad = registry[registry.paper_sd.notna() & (registry.runs < 2)]
    if len(bad):
        raise ValueError(f"{path}: a printed seed SD needs runs >= 2 (rows {list(bad.index)}).")
    return registry


def load_claims(path=CLAIMS) -> pd.DataFrame:
    claims = pd.read_csv(path)
    unknown = set(claims.expected) - set(EXPECTED)
    if unknown:
        raise ValueError(f"{path}: expected must be one of {EXPECTED}, found {unknown}")
    missing_columns = {"claim", "source", "quote", "owner", "config", "experiment", "method",
                       "baseline", "metric", "expected", "margin"} - set(claims.columns)
    if missing_columns:
        raise ValueError(f"{path}: missing columns {sorted(missing_columns)}")
    spread = claims.metric.str.startswith("sd:")
    bad = claims[spread & ~claims.expected.isin(["greater", "less"])]
    if len(bad):
        raise ValueError(f"{path}: claims on a spread (sd:) are 'greater' or 'less': "
                         f"{list(bad.claim)}")
    no_difference = claims.expected.isin(["not greater", "not less", "similar", "at most"])
    missing = claims[no_difference & ~(claims.margin > 0)]
    if len(missing):
        raise ValueError(f"{path}: claims of no difference need a positive margin (the "
                         f"largest difference that counts as none): {list(missing.claim)}")
    key = ["config", "experiment", "method", "baseline", "metric", "expected", "margin"]
    twice = claims[claims.duplicated(key, keep=False)]
    if len(twice):  # one test counted twice, in the summary and in Holm's family
        raise ValueError(f"{path}: claims that make the same test: {list(twice.claim)}; "
                         "merge them into one row")
    return claims


def _half_unit(printed: str, value: float) -> float:
    """Half a unit of the printed number's last digit, in the value's units."""
    text = printed.strip().rstrip("%")
    decimals = len(text.split(".")[1]) if "." in text else 0
    scale = abs(value) / abs(float(text)) if float(text) else 1.0  # % or x100 printing
    return 0.5 * 10.0 ** -decimals * scale


def _is_proportion(metric: str) -> bool:
    return metric.startswith(PROPORTIONS)


def resolution(metric: str, value: float) -> float:
    """Largest half-width at which a cell may "agree": 0.02 for a proportion, but at
    most a quarter of its distance to 0 or 1 (0.0025 at accuracy 0.99); a quarter of the
    printed value for anything else (class-wise std, radii, sigma)."""
    if _is_proportion(metric):
        return min(0.02, 0.25 * min(value, 1 - value))
    return 0.25 * abs(value)


def _spread_verdict(values, cell, half) -> dict:
    """Our SD across runs against the printed one: F interval of their ratio."""
    S, k = len(values), int(cell.runs)
    if S < 2 or k < 2:
        return {"verdict": "too uncertain to judge",
                "reason": "an SD across runs needs at least 2 runs on each side"}
    ours = float(np.std(values, ddof=1))
    if ours == 0 and _is_proportion(cell.metric[3:]):
        ours = 1.0 / float(cell.our_images)  # below one image's resolution
    f_low, f_high = stats.f.ppf([(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2], S - 1, k - 1)
    paper_high = cell.value + half
    paper_low = max(cell.value - half, 1e-300)
    low = ours / paper_high / np.sqrt(f_high)
    high = ours / paper_low / np.sqrt(f_low)
    if not low <= 1 <= high:
        verdict, reason = "differs", ""
    elif SD_RATIO_RESOLUTION[0] <= low and high <= SD_RATIO_RESOLUTION[1]:
        verdict, reason = "agrees", ""
    else:
        verdict, reason = "too uncertain to judge", (
            f"SD ratio interval [{low:.2f}, {high:.2f}] wider than "
            f"[{SD_RATIO_RESOLUTION[0]}, {SD_RATIO_RESOLUTION[1]}]")
    return {"ours": ours, "compared": "ours / paper (SD ratio)", "ci_low": low,
            "ci_high": high, "difference": ours - cell.value, "verdict": verdict,
            "reason": reason}


def _value_verdict(values, cell, half, se_images, published, spread=None) -> dict:
    """Our mean of ``values`` against the printed value: interval on ours - paper. The
    run-to-run SD comes from ``spread`` (all our seeds; default ``values``), so one seed
    of ours can be set against a single printed run."""
    spread = values if spread is None else spread
    S, ours = len(values), float(np.mean(values))
    difference = ours - cell.value
    out = {"ours": ours, "compared": "ours - paper", "difference": difference}
    if published:  # the paper's own run, read from its published file: rounding only
        verdict = "agrees" if abs(difference) <= half else "differs"
        return {**out, "ci_low": -half, "ci_high": half, "verdict": verdict,
                "reason": "the paper's own run (published file): rounding only"}
    sd_run, df_run = ((float(np.std(spread, ddof=1)), len(spread) - 1) if len(spread) > 1
                      else (np.nan, 0))
    if sd_run == 0 and _is_proportion(cell.metric):
        sd_run = 1.0 / float(cell.our_images)  # identical seeds: floor at one image
    paper_sd = float(cell.paper_sd) if pd.notna(cell.paper_sd) else np.nan
    if np.isnan(sd_run) and np.isnan(paper_sd):
        return {**out, "ci_low": np.nan, "ci_high": np.nan, "verdict": "too uncertain to judge",
                "reason": "one seed and no printed SD: no estimate of the run-to-run variance"}
    runs = int(cell.runs)
    if np.isnan(paper_sd):
        # one estimate, ours, serves both sides (the assumption: the paper's runs vary as
        # ours), so it is one component with our df; 1/runs is a whole run's variance
        # (the prediction term) where the paper printed a single run
        parts = [(sd_run ** 2 * (1 / S + 1 / runs), df_run)]
    elif not np.isnan(sd_run):
        parts = [(sd_run ** 2 / S, df_run), (paper_sd ** 2 / runs, runs - 1)]
    else:  # our one run is assumed to vary as the paper's runs do
        parts = [(paper_sd ** 2 * (1 / S + 1 / runs), runs - 1)]
    same_images = cell.test_set == "fixed" and int(cell.our_images) == int(cell.test_images)
    if not same_images and not np.isnan(se_images):
        parts.append((se_images ** 2 * (1 + float(cell.our_images) / float(cell.test_images)),
                      np.inf))
    var = sum(v for v, _ in parts)
    df = float(satterthwaite_df(parts))
    width = stats.t.ppf((1 + CONFIDENCE) / 2, df) * np.sqrt(var) + half
    if abs(difference) > width:
        verdict, reason = "differs", ""
    elif width <= resolution(cell.metric, cell.value):
        verdict, reason = "agrees", ""
    else:
        verdict, reason = "too uncertain to judge", (
            f"half-width {width:.4g} above the resolution "
            f"{resolution(cell.metric, cell.value):.4g}")
    return {**out, "ci_low": difference - width, "ci_high": difference + width,
            "verdict": verdict, "reason": reason}


def cell_verdicts(registry: pd.DataFrame, runs: dict, config: str) -> pd.DataFrame:
    """One row per registered cell of ``config``; ``runs`` maps an experiment to its
    per-seed table (``runs.csv`` of the report: method, seed, metrics, their test-set
    standard errors ``<metric>_se_images`` and the number of ``inputs``)."""
    rows = []
    for cell in registry[registry.config == config].itertuples(index=False):
        table = runs.get(cell.experiment)
        spread = cell.metric.startswith("sd:")
        metric = cell.metric[3:] if spread else cell.metric
        found = (None if table is None or metric not in table.columns
                 else table[(table.method == cell.method) & table[metric].notna()])
        row = {"table": cell.table, "row": cell.row, "column": cell.column,
               "paper": cell.value, "printed": cell.printed, "experiment": cell.experiment,
               "method": cell.method, "metric": cell.metric, "paper_runs": cell.runs}
        if found is None or found.empty:
            rows.append({**row, "verdict": "not run"})
            continue
        if "inputs" not in found:
            raise KeyError(f"{cell.experiment}: the runs table has no 'inputs' column (images "
                           "per run); rerun the report rule to regenerate runs.csv.")
        values = found[metric].to_numpy(float)
        if "run" in found and found["run"].notna().all() and found["run"].nunique() == 1:
            row["run"] = found["run"].iloc[0]  # model/evaluation: the same in every table
        images = float(found["inputs"].mean())
        info = SimpleNamespace(**cell._asdict(), our_images=images)
        se_column = f"{metric}_se_images"
        se = float(found[se_column].mean()) if se_column in found else np.nan
        if np.isnan(se) and _is_proportion(metric):  # a table without the column: binomial
            p = float(values.mean())
            se = float(np.sqrt(p * (1 - p) / images))
        half = _half_unit(cell.printed, cell.value)
        result = (_spread_verdict(values, info, half) if spread else
                  _value_verdict(values, info, half, se, cell.method.endswith("(published)")))
        our_seed = getattr(cell, "our_seed", np.nan)
        if not spread and pd.notna(our_seed) and (found.seed == our_seed).any():
            # a single printed run also set against one named run of ours
            one = _value_verdict(found.loc[found.seed == our_seed, metric].to_numpy(float),
                                 info, half, se, False, spread=values)
            result.update(seed=int(our_seed), seed_ours=one["ours"],
                          seed_verdict=one["verdict"])
        fitted = getattr(cell, "fitted", "")
        if isinstance(fitted, str) and fitted:  # agreement by construction: counted apart
            result.update(verdict=FITTED, reason=f"{fitted}; as a test it would read: "
                          f"{result['verdict']}")
        rows.append({**row, **result, "seeds": len(values), "rounding": half})
    # rounding: half a unit of the printed last digit (0.005 for Table 5's 0.96), in the
    # interval whatever the number of decimals printed
    columns = ["table", "row", "column", "paper", "printed", "rounding", "ours", "difference",
               "compared", "ci_low", "ci_high", "seeds", "paper_runs", "verdict", "reason",
               "seed", "seed_ours", "seed_verdict", "paper_also_prints", "experiment",
               "method", "metric", "run", "measurement"]
    table = pd.DataFrame(rows).reindex(columns=columns)
    # one measurement (a run, a metric, and how many of the paper's runs the print
    # averages) printed in several tables: each print keeps its verdict, and the row names
    # the others (Table 2 vs 15: 0.9912 and 0.9913). A run is its model and evaluation
    # where runs.csv names them, so two experiments' labels for one run (Table 13's
    # "IDRS r=0.01", Table 17's "increased") are one measurement; a print of one of the
    # paper's runs (Table 8's r = 0) is another quantity than its 8-run mean (Table 2).
    label = table.experiment + " | " + table.method
    table["measurement"] = (table["run"].where(table["run"].notna(), label) + " | "
                            + table.metric + " | runs "
                            + table.paper_runs.map(lambda r: f"{r:.0f}"))
    prints = {m: list(zip(g.table, g.printed)) for m, g in table.groupby("measurement")}
    table["paper_also_prints"] = [
        "; ".join(f"Table {t}: {p}" for t, p in prints[m] if t != own)
        for own, m in zip(table.table, table.measurement)]
    return table


def theory_verdicts(table1: pd.DataFrame) -> pd.DataFrame:
    """Table 1's cells from ``theory/table1.csv`` (exact values, no seeds)."""
    return pd.DataFrame({
        "table": 1, "row": table1["dataset"], "column": "p_A = " + table1["p_a"].astype(str),
        "paper": table1["paper"], "printed": table1["paper"].map(lambda v: f"{v:.3f}"),
        "ours": table1["threshold"], "seeds": 0,
        "difference": table1["threshold"] - table1["paper"],
        "verdict": np.where(table1["matches_paper"], "agrees", "differs"),
        "experiment": "theory", "method": "Theorem 2.4", "metric": "threshold",
        "measurement": "theory | " + table1["dataset"] + " | " + table1["p_a"].astype(str)})


def _claim_p_values(result, expected: str, margin: float) -> tuple:
    """(p for "supported", p for "contradicted") of one claim: one-sided tests of the
    complement of the claim's region for the difference, and of the region itself."""
    def p(threshold, side):
        return one_sided_p(result, threshold, side)
    if expected == "greater":
        return p(0.0, "greater"), p(0.0, "less")
    if expected == "less":
        return p(0.0, "less"), p(0.0, "greater")
    if expected == "not greater":
        return p(margin, "less"), p(margin, "greater")
    if expected == "not less":
        return p(-margin, "greater"), p(-margin, "less")
    # similar: two one-sided tests for support; outside on either side contradicts
    return (max(p(-margin, "greater"), p(margin, "less")),
            min(1.0, 2 * min(p(margin, "greater"), p(-margin, "less"))))


def _region(expected: str, margin: float, metric: str = "") -> str:
    if metric.startswith("sd:"):
        return {"greater": "SD ratio > 1", "less": "SD ratio < 1"}[expected]
    return {"greater": "> 0", "less": "< 0", "not greater": f"< {margin:g}",
            "not less": f"> {-margin:g}", "similar": f"within ±{margin:g}", "zero": "= 0",
            "at most": f"<= {margin:g} everywhere"}[expected]


def _exact_verdict(row) -> tuple:
    """A count that must be zero, or a per-seed range that must stay at most a bound."""
    if row.expected == "zero":
        if row.difference == 0:
            return "supported", "exactly 0 in these runs"
        return "contradicted", f"{row.difference:.0f} in these runs, not 0"
    bound = row.margin
    if row.ci90_high <= bound:
        return "supported", f"every value <= {bound:g} (largest {row.ci90_high:.4g})"
    if row.ci90_low > bound:
        return "contradicted", f"every value > {bound:g} (smallest {row.ci90_low:.4g})"
    return "inconclusive", (f"values range over [{row.ci90_low:.4g}, {row.ci90_high:.4g}], "
                            f"on both sides of {bound:g}")


def spread_result(a, b) -> dict:
    """The SD of a metric across the runs of group ``a`` against group ``b``'s: their
    ratio, its 90% interval and the one-sided p-values of the F test (exact for normal
    run-to-run variation), for "a's SD is greater" and "less"."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return {"why_not": f"an SD needs at least 2 runs per group ({len(a)} and {len(b)})"}
    va, vb = np.var(a, ddof=1), np.var(b, ddof=1)
    if vb == 0:
        return {"why_not": "the baseline group's runs have no spread"}
    d1, d2 = len(a) - 1, len(b) - 1
    f = va / vb
    q_low, q_high = stats.f.ppf([1 - ALPHA, ALPHA], d1, d2)  # F quantiles, 90% interval
    return {"difference": np.sqrt(f), "ci90_low": np.sqrt(f / q_low),
            "ci90_high": np.sqrt(f / q_high), "test": f"F test of variances ({d1}, {d2} df)",
            "n_seeds": len(a) + len(b), "p_greater": float(stats.f.sf(f, d1, d2)),
            "p_less": float(stats.f.cdf(f, d1, d2))}


def group_address(experiment: str, group: str) -> tuple:
    """(experiment, label pattern) of a spread claim's group: a method label of
    ``experiment``, a glob over its labels (``noise seed *``), or ``other/label``."""
    return tuple(group.split("/", 1)) if "/" in group else (experiment, group)


def in_group(label, pattern: str) -> bool:
    return fnmatchcase(str(label), pattern)


def _group(runs: dict, experiment: str, group: str) -> pd.DataFrame:
    experiment, pattern = group_address(experiment, group)
    table = runs.get(experiment)
    if table is None:
        return pd.DataFrame()
    return table[table.method.map(lambda m: in_group(m, pattern))]


def _spread_claim(claim, runs: dict) -> dict:
    metric = claim.metric[3:]
    a, b = (_group(runs, claim.experiment, g) for g in (claim.method, claim.baseline))
    if a.empty or b.empty:
        return {"verdict": "not run"}
    result = spread_result(a[metric].dropna(), b[metric].dropna())
    if "why_not" in result:
        return {**result, "p_support": np.nan, "p_contradict": np.nan}
    p_for, p_against = ("p_greater", "p_less")[::1 if claim.expected == "greater" else -1]
    return {**result, "p_support": result[p_for], "p_contradict": result[p_against],
            "why_not": ""}


def claim_verdicts(claims: pd.DataFrame, comparisons: dict, config: str,
                   runs: dict | None = None) -> pd.DataFrame:
    """One row per claim of ``config``; ``comparisons`` maps an experiment to its
    ``comparisons.csv`` table and ``runs`` to its ``runs.csv``. A claim is decided by the
    row of its metric, never by a descriptive McNemar row; claims on a spread
    (``sd:<metric>``: one group's SD across runs against another's, F test) by the runs.
    Holm runs over the tested claims of ``config`` that ran; exact claims (counts, time
    ranges: :data:`EXACT`) are read off the runs."""
    rows = []
    for claim in claims[claims.config == config].itertuples(index=False):
        margin = 0.0 if pd.isna(claim.margin) else float(claim.margin)
        row = {"claim": claim.claim, "source": claim.source, "quote": claim.quote,
               "owner": claim.owner, "experiment": claim.experiment,
               "method": claim.method, "baseline": claim.baseline, "metric": claim.metric,
               "expected": claim.expected, "margin": margin,
               "region": _region(claim.expected, margin, claim.metric)}
        if claim.metric.startswith("sd:"):
            rows.append({**row, **_spread_claim(claim, runs or {})})
            continue
        table = comparisons.get(claim.experiment)
        match = (None if table is None else table[
            (table.method == claim.method) & (table.baseline == claim.baseline)
            & (table.metric == claim.metric)])
        if match is None or match.empty:
            rows.append({**row, "verdict": "not run"})
            continue
        found = match.iloc[0]
        if str(found.test).startswith("McNemar"):
            raise ValueError(f"claim {claim.claim!r} points at a McNemar row ({claim.metric}"
                             "): McNemar is conditional on the trained networks and decides "
                             "no claim; register the metric's own row (e.g. accuracy).")
        if claim.expected in EXACT:
            rows.append({**row, "difference": found["mean"], "ci90_low": found["ci_low"],
                         "ci90_high": found["ci_high"], "test": found.test,
                         "n_seeds": found.n_seeds})
            continue
        p_support, p_contradict = _claim_p_values(found, claim.expected, margin)
        low, high = interval(found, 1 - 2 * ALPHA)
        why_not = found.get("reason", "")
        rows.append({**row, "difference": found["mean"], "ci90_low": low, "ci90_high": high,
                     "test": found.test, "n_seeds": found.n_seeds, "p_support": p_support,
                     "p_contradict": p_contradict,
                     "why_not": why_not if isinstance(why_not, str) else ""})
    columns = ["owner", "source", "claim", "expected", "region", "verdict", "difference",
               "ci90_low", "ci90_high", "p_support_holm", "p_contradict_holm", "reason", "test",
               "n_seeds", "experiment", "method", "baseline", "metric", "quote"]
    table = pd.DataFrame(rows).reindex(
        columns=columns + ["p_support", "p_contradict", "why_not", "margin"])
    exact = table.expected.isin(EXACT) & table.verdict.ne("not run")
    ran = table.verdict.ne("not run") & ~exact
    # one family: every claim's "supported" and "contradicted" p-values together, so the
    # chance of any wrong verdict (either kind) is at most ALPHA
    adjusted = holm(np.concatenate([table.p_support.where(ran), table.p_contradict.where(ran)]))
    table["p_support_holm"], table["p_contradict_holm"] = np.split(adjusted, 2)
    table[["verdict", "reason"]] = table[["verdict", "reason"]].astype(object)
    for i in table.index[ran]:
        table.loc[i, ["verdict", "reason"]] = _claim_verdict(table.loc[i])
    for i in table.index[exact]:
        table.loc[i, ["verdict", "reason"]] = _exact_verdict(table.loc[i])
    # the paper's claims first, then our controls; by source section within each
    order = table.owner.ne("paper").astype(int)
    return table.assign(_order=order).sort_values(["_order", "source"], kind="stable")[
        columns].reset_index(drop=True)


def _claim_verdict(row) -> tuple:
    if row.p_support_holm < ALPHA:
        return "supported", (f"Holm-adjusted p = {row.p_support_holm:.3g} for difference "
                             f"{row.region}")
    if row.p_contradict_holm < ALPHA:
        return "contradicted", (f"Holm-adjusted p = {row.p_contradict_holm:.3g} against "
                                f"difference {row.region}")
    if row.why_not:
        return "inconclusive", row.why_not
    return "inconclusive", (f"90% interval [{row.ci90_low:.4g}, {row.ci90_high:.4g}] does not "
                            f"settle difference {row.region} at the Holm-adjusted level "
                            f"({row.n_seeds:.0f} seeds)")


def _cell_text(row) -> str:
    paper = f"(paper {row.printed})"
    if row.verdict == "not run":
        return f"not run {paper}"
    return f"{row.ours:.4f} {paper}: {row.verdict}"


def paper_tables(verdicts: pd.DataFrame) -> dict:
    """{table number: DataFrame in the paper's layout, cells "ours (paper): verdict"}."""
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
    table1, curves = (results_dir / "theory" / f"{name}.csv" for name in ("table1", "figure3"))
    if curves.exists():
        comparisons["theory"] = theory_rows(pd.read_csv(curves))
    return runs, comparisons, (pd.read_csv(table1) if table1.exists() else None)


#: Theorem 2.4's tightness is judged from MNIST's input dimension up (Figure 3, Table 1).
TIGHTNESS_FROM_DIM = PAPER_TABLE1["MNIST"][0]


def theory_rows(curves: pd.DataFrame) -> pd.DataFrame:
    """The theory job's Figure 3 curves as a comparison row a claim can name: how far
    the practical threshold lies above Theorem 2.4's, over every p_A drawn and every
    N >= :data:`TIGHTNESS_FROM_DIM` (an exact computation: range, no p)."""
    gap = curves.gap[curves.dim >= TIGHTNESS_FROM_DIM]
    return pd.DataFrame([{
        "method": "Theorem 2.4", "baseline": "practical threshold", "metric": "threshold_gap",
        "test": f"exact computation, N >= {TIGHTNESS_FROM_DIM}, p_A in "
                f"{sorted(curves.p_a.unique())}", "mean": gap.mean(), "ci_low": gap.min(),
        "ci_high": gap.max(), "n_seeds": 0, "n_images": 0}])


def check(results_dir, config: str, experiments=None) -> tuple:
    """(cell verdicts, claim verdicts) of the results under ``results_dir`` (of the named
    ``experiments`` only, or of every folder under ``report/``)."""
    runs, comparisons, table1 = read_results(results_dir, experiments)
    verdicts = cell_verdicts(load_registry(), runs, config)
    if table1 is not None:
        verdicts = pd.concat([theory_verdicts(table1), verdicts], ignore_index=True)
    return verdicts, claim_verdicts(load_claims(), comparisons, config, runs)


#: Verdicts in the order their counts are given.
VERDICTS = ("agrees", "differs", "too uncertain to judge", FITTED, "not run")


def verdict_summary(verdicts: pd.DataFrame) -> str:
    """One line: measurements and printed cells, counted by verdict."""
    counts = measurement_verdicts(verdicts).value_counts()
    order = [v for v in VERDICTS if v in counts] + sorted(set(counts.index) - set(VERDICTS))
    return (f"{counts.sum()} measurements ({len(verdicts)} printed cells; one printed in "
            f"several tables counts once): " + ", ".join(f"{counts[v]} {v}" for v in order))


def measurement_verdicts(verdicts: pd.DataFrame) -> pd.Series:
    """One verdict per measurement, however many tables print it: the shared verdict, or
    "split" where the paper's two prints get different verdicts."""
    return verdicts.groupby("measurement", sort=False).verdict.agg(
        lambda v: v.iloc[0] if v.nunique() == 1 else "split (the paper prints it twice, "
        "differently)")


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """A table as published in Markdown: empty cells for NaN, without the columns that
    are empty in every row or repeat an earlier column (the CSV keeps them all)."""
    shown = table.astype(object).where(table.notna(), "")
    text = shown.astype(str)
    keep = [c for i, c in enumerate(shown.columns) if text[c].ne("").any()
            and not any(text[c].equals(text[o]) for o in shown.columns[:i])]
    return shown[keep]


def _named(config: str, name=None) -> str:
    return f"`{name}` (registered as `{config}`)" if name else f"config `{config}`"


def verdicts_markdown(verdicts: pd.DataFrame, config: str, name=None) -> str:
    return (f"# Does the paper hold? {_named(config, name)}: {verdict_summary(verdicts)}\n\n"
            "Interval: ours - paper, 95%, from our seed variance, the paper's (its printed "
            "SD and number of runs, or ours; a whole run's where it printed one run), the "
            "test-set term where the images differ, and half a printed digit. Agrees: the "
            "printed value is inside and the half-width within the cell's resolution; "
            "differs: outside; too uncertain to judge: inside but wider than the "
            "resolution. Spread cells (sd:) use the F interval of the SD ratio.\n\n"
            + readable(verdicts).to_markdown(index=False, floatfmt=".4f") + "\n")


def claim_summary(claims: pd.DataFrame) -> str:
    """One line: the paper's claims and our controls, counted apart, by verdict."""
    def count(part):
        n = part.verdict.value_counts()
        return ", ".join(f"{n.get(v, 0)} {v}" for v in
                         ("supported", "contradicted", "inconclusive", "not run"))
    paper = claims[claims.owner == "paper"]
    controls = claims[claims.owner != "paper"]
    return (f"the paper's claims: {len(paper)} ({count(paper)}); our controls: "
            f"{len(controls)} ({count(controls)})")


def claims_markdown(claims: pd.DataFrame, config: str, name=None) -> str:
    sections = []
    for (owner, source), group in claims.groupby(["owner", "source"], sort=False):
        quotes = "".join(f"> {q}\n>\n" for q in dict.fromkeys(group.quote.dropna()))
        table = readable(group.drop(columns=["owner", "source", "quote"]))
        sections.append(f"## {source} ({owner})\n\n{quotes}\n"
                        + table.to_markdown(index=False, floatfmt=".4g") + "\n")
    return (f"# The paper's claims, {_named(config, name)}\n\n{claim_summary(claims)}.\n\n"
            f"Supported / contradicted: Holm-adjusted (one family: every claim's two "
            f"p-values) one-sided p < {ALPHA} for / against the claim's region of the "
            "difference (method minus baseline), from the comparison's crossed seeds x "
            "images t-test (exact sign-flip where the per-seed differences have no "
            "spread); inconclusive otherwise, with the reason; not run: this config has "
            "no such experiment. Claims of no difference use the registered margin (two "
            "one-sided tests for 'similar'). Controls are ours, not the paper's.\n\n"
            + "\n".join(sections))


def _interval(low, high):
    return "" if pd.isna(low) or pd.isna(high) else f"[{low:.4g}, {high:.4g}]"


def verdicts_table(verdicts: pd.DataFrame) -> pd.DataFrame:
    """The printed cells beside ours, for reading: cell, printed, ours, interval, verdict."""
    return pd.DataFrame({
        "table": verdicts["table"], "row": verdicts["row"], "column": verdicts["column"],
        "printed": verdicts["printed"], "ours": verdicts["ours"],
        "95% interval of ours - paper": [_interval(lo, hi) for lo, hi in
                                         zip(verdicts["ci_low"], verdicts["ci_high"])],
        "verdict": verdicts["verdict"], "why": verdicts["reason"]})


def claims_table(claims: pd.DataFrame) -> pd.DataFrame:
    """The claims with their verdicts, for reading: claim, region, difference, verdict."""
    return pd.DataFrame({
        "source": claims["source"], "claim": claims["claim"], "region": claims["region"],
        "difference": claims["difference"],
        "90% interval": [_interval(lo, hi) for lo, hi in
                         zip(claims["ci90_low"], claims["ci90_high"])],
        "verdict": claims["verdict"], "why": claims["reason"]})


def write_paper_check(results_dir, config: str, outdir=None, experiments=None,
                      name=None) -> tuple:
    """Write ``paper/verdicts.{csv,md}``, ``paper/claims.{csv,md}`` and
    ``paper/tables/table{N}.{csv,md,tex}``; return (verdicts, claims)."""
    verdicts, claims = check(results_dir, config, experiments)
    outdir = Path(outdir or Path(results_dir) / "paper")
    (outdir / "tables").mkdir(parents=True, exist_ok=True)
    verdicts.to_csv(outdir / "verdicts.csv", index=False)
    (outdir / "verdicts.md").write_text(verdicts_markdown(verdicts, config, name))
    claims.to_csv(outdir / "claims.csv", index=False)
    (outdir / "claims.md").write_text(claims_markdown(claims, config, name))
    for stem, table, caption in (
            ("verdicts", verdicts_table(verdicts), f"Does the paper hold? {_named(config, name)}"
             f": {verdict_summary(verdicts)}"),
            ("claims", claims_table(claims), f"The paper's claims: {claim_summary(claims)}")):
        (outdir / f"{stem}.html").write_text(html_page(table, caption))
    for number, table in paper_tables(verdicts).items():
        stem = outdir / "tables" / f"table{number}"
        table.to_csv(stem.with_suffix(".csv"), index=False)
        stem.with_suffix(".md").write_text(
            f"Table {number}: ours (paper): verdict\n\n"
            + table.to_markdown(index=False) + "\n")
        stem.with_suffix(".tex").write_text(table.to_latex(index=False, escape=True))
    return verdicts, claims

"""Comparing two methods of one experiment: paired wherever their runs share a seed.

Runs with the same training seed share the initialisation, data order and training
noise, and certification noise is seeded by (seed, image): the design is paired, so a
method is compared with its baseline through the per-seed differences (paired t-test,
with a Wilcoxon signed-rank check), and per image through an exact McNemar test pooled
over seeds. Welch's unpaired test is used only where no seed is shared (a published
baseline). All inference is conditional on the fixed test subset: it is about the
training and certification randomness, not about drawing other test images.

Degenerate cases follow the data, not the floating-point noise: per-seed differences
that are all equal (to a relative 1e-9) have no spread, so a zero difference gives CI
[0, 0] and p = 1 and a nonzero one gives no t-test (p NaN; the per-image McNemar test,
which works from integer counts, decides); one seed gives no interval and no test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["compare_runs", "mcnemar_pooled", "holm"]

#: Differences within this relative range of each other count as one constant.
CONSTANT_RTOL = 1e-9


def _constant(values) -> bool:
    values = np.asarray(values, dtype=float)
    return bool(np.ptp(values) <= CONSTANT_RTOL * max(1.0, float(np.max(np.abs(values)))))


def compare_runs(a: pd.Series, b: pd.Series, confidence=0.95) -> dict:
    """Method minus baseline for one metric; ``a`` and ``b`` are indexed by seed.

    Paired t-test (and Wilcoxon signed-rank p-value) on the seeds both have; Welch's
    t-test when they share none. Returns the test's name, the mean difference, its
    ``confidence`` interval, p-values and the numbers of runs.
    """
    a, b = a.astype(float), b.astype(float)
    shared = a.index.intersection(b.index)
    row = {"test": "paired t", "mean": np.nan, "ci_low": np.nan, "ci_high": np.nan,
           "p_value": np.nan, "p_wilcoxon": np.nan, "n": len(a), "n_baseline": len(b)}
    if len(shared):
        diff = (a.loc[shared] - b.loc[shared]).to_numpy()
        row.update(mean=float(diff.mean()), n=len(diff), n_baseline=len(diff))
        if len(diff) < 2:
            return row
        if _constant(diff):
            if row["mean"] == 0 or _constant(np.append(diff, 0.0)):
                row.update(mean=0.0, ci_low=0.0, ci_high=0.0, p_value=1.0, p_wilcoxon=1.0)
            return row
        test = stats.ttest_rel(a.loc[shared], b.loc[shared])
        ci = test.confidence_interval(confidence)
        nonzero = diff[diff != 0]
        wilcoxon = stats.wilcoxon(nonzero).pvalue if len(nonzero) else 1.0
        row.update(ci_low=ci.low, ci_high=ci.high, p_value=test.pvalue,
                   p_wilcoxon=float(wilcoxon))
        return row
    row.update(test="Welch", mean=float(a.mean() - b.mean()))
    if len(a) < 2 or len(b) < 2:
        return row
    if _constant(a) and _constant(b):
        if _constant(np.concatenate([a, b])):
            row.update(mean=0.0, ci_low=0.0, ci_high=0.0, p_value=1.0)
        return row
    test = stats.ttest_ind(a, b, equal_var=False)
    ci = test.confidence_interval(confidence)
    row.update(ci_low=ci.low, ci_high=ci.high, p_value=test.pvalue)
    return row


def mcnemar_pooled(a_success, b_success) -> dict:
    """Exact McNemar test on paired per-image outcomes (booleans, one pair per seed and
    image): under "no difference" each discordant pair is equally likely to favour
    either method, so the count favouring the method is Binomial(discordant, 1/2)."""
    a_success = np.asarray(a_success, dtype=bool)
    b_success = np.asarray(b_success, dtype=bool)
    better = int((a_success & ~b_success).sum())
    worse = int((~a_success & b_success).sum())
    discordant = better + worse
    p = stats.binomtest(better, discordant, 0.5).pvalue if discordant else 1.0
    return {"test": "McNemar exact", "mean": (better - worse) / max(len(a_success), 1),
            "p_value": float(p), "better": better, "worse": worse, "n": len(a_success)}


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment; NaN p-values are left out and stay NaN."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out

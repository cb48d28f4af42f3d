"""Comparing two methods over the crossed design of training seeds × test images.

The unit of replication of a claim about *methods* is the training run: each trained
network has its own overall quality, so (seed, image) pairs of one network are not
independent. Runs of two methods with the same training seed share the initialisation,
data order and certification noise seeds, so the design is paired by seed; where both
methods certified the same images it is also paired by image.

:func:`compare_methods` (the deciding test) works on the per-seed, per-image matrix of
differences D[s, i] (method minus baseline). Its variance has two parts, estimated by
two-way ANOVA mean squares (MS_seed, MS_image, MS_resid):

* training runs: Var(mean over images of D[s]) / S = MS_seed / (S I), the paired t over
  seeds;
* test images (``over="seeds and images"``, the default): the method × image interaction,
  max(0, MS_image - MS_resid) / (S I), which a claim about the data distribution rather
  than this test subset must add. The image main effect cancels in a paired difference.

Degrees of freedom follow Welch-Satterthwaite with each estimated component at its
upper confidence bound (:func:`satterthwaite_df`), which keeps the level with 2-3 seeds.
Degenerate cases are decided by exact tests: per-seed differences that are all equal
(zero spread) get the exact sign-flip p-value 2 / 2^S (1 when they are all 0) and the
interval that inverts it (the constant itself from 6 seeds on, unbounded below); one
shared seed gives "cannot decide"; seeds present for one method only are dropped and
named. A published baseline is one run of another training: our seeds are compared
with it as a one-sample problem whose variance adds one whole run's spread (a
prediction term) and the test-set term.

:func:`mcnemar_pooled` pools (seed, image) pairs as independent coins; it is valid only
conditional on the trained networks and decides no claim (its false-positive rate grows
with the test set when networks differ in quality, see ``benchmarks/stats_calibration.py``).

References
----------
.. [1] A. B. Owen, "The pigeonhole bootstrap", Annals of Applied Statistics 1(2), 2007
   (crossed random effects; the two-way variance decomposition).
.. [2] D. J. Schuirmann, "A comparison of the two one-sided tests procedure and the power
   approach for assessing the equivalence of average bioavailability", J.
   Pharmacokinet. Biopharm. 15 (1987) (TOST).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .aggregate import IMAGE_METRICS, image_values

__all__ = ["compare_methods", "one_sided_p", "interval", "satterthwaite_df", "image_values",
           "mcnemar_pooled", "holm", "IMAGE_METRICS"]

#: Differences within this relative range of each other count as one constant.
CONSTANT_RTOL = 1e-9

def _seed_column(table: pd.DataFrame) -> str:
    for column in ("train_seed", "seed"):
        if column in table.columns:
            return column
    raise KeyError(f"no seed column (train_seed or seed) among {list(table.columns)}")


def _matrix(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Seeds × images (or seeds × one column for a per-seed table) of ``metric``."""
    seed = _seed_column(table)
    per_image = "idx" in table.columns
    frame = pd.DataFrame({"seed": table[seed].to_numpy(),
                          "idx": table["idx"].to_numpy() if per_image else 0,
                          "value": image_values(table, metric) if per_image
                          else table[metric].to_numpy(float)})
    if not per_image:  # a run-level metric undefined in one seed drops that seed only
        frame = frame.dropna(subset=["value"])
    if frame.duplicated(["seed", "idx"]).any():
        what = "(seed, image)" if per_image else "seed"
        raise ValueError(f"{metric}: a {what} appears twice in one method's table; pass "
                         "one row per seed and image (one method's records).")
    return frame.pivot(index="seed", columns="idx", values="value")


def _constant(values) -> bool:
    values = np.asarray(values, dtype=float)
    return bool(np.ptp(values) <= CONSTANT_RTOL * max(1.0, float(np.max(np.abs(values)))))


#: Upper confidence level at which each estimated variance enters the degrees of freedom.
DF_UPPER_LEVEL = 0.8


def satterthwaite_df(parts):
    """Degrees of freedom of a sum of variance components ``[(variance, df), ...]``.

    Welch-Satterthwaite, with each positive component taken at its
    :data:`DF_UPPER_LEVEL` upper confidence bound, variance * df / chi2_{0.2}(df). Plain
    Satterthwaite overstates the df when a well-known component (hundreds of images) is
    added to one estimated from 2-3 seeds whose sample variance happens to be small,
    exactly when the statistic is large: its rejection rate at nominal 0.05 reaches
    0.128 at 2 seeds and 0.078 at 3 (normal theory, the known part a tenth of the seed
    part); with the bound it stays at or below 0.05, and it tends to plain Satterthwaite
    as the components' df grow (``tests/results/test_comparison.py``). Works elementwise on
    arrays; infinite df (a known component) is allowed.
    """
    bounds = [(_upper(v, df), df) for v, df in parts]
    upper = sum(b for b, _ in bounds)
    denominator = sum(b * b / df for b, df in bounds if np.isfinite(df) and df > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, upper * upper / denominator, np.inf)


def _upper(variance, df):
    """A positive variance estimate with ``df`` at its upper confidence bound (a negative
    correction term, or a known component, unchanged)."""
    variance = np.asarray(variance, dtype=float)
    if not np.isfinite(df) or df <= 0:
        return variance
    factor = df / stats.chi2.ppf(1 - DF_UPPER_LEVEL, df)
    return np.where(variance > 0, variance * factor, variance)


def _crossed(diff: np.ndarray, images: bool):
    """(variance of the mean, df) of a seeds × images matrix of paired differences."""
    S, I = diff.shape
    grand = diff.mean()
    rows, cols = diff.mean(axis=1), diff.mean(axis=0)
    ms_seed = I * np.sum((rows - grand) ** 2) / (S - 1)
    parts = [(ms_seed / (S * I), S - 1)]
    if images and I > 1:
        ms_image = S * np.sum((cols - grand) ** 2) / (I - 1)
        resid = diff - rows[:, None] - cols[None, :] + grand
        ms_resid = np.sum(resid ** 2) / ((S - 1) * (I - 1))
        if ms_seed == 0:  # seeds that agree exactly still leave the residual's share
            parts = [(ms_resid / (S * I), S - 1)]
        if ms_image > ms_resid:
            parts += [(ms_image / (S * I), I - 1), (-ms_resid / (S * I), (S - 1) * (I - 1))]
    return sum(v for v, _ in parts), float(satterthwaite_df(parts))


def _sign_flip_p(diff) -> float:
    """Exact two-sided sign-flip p-value of per-seed differences (all 2^S flips)."""
    diff = np.asarray(diff, dtype=float)
    if len(diff) < 2 or not np.any(diff):
        return 1.0 if len(diff) else np.nan
    resamples = np.inf if len(diff) <= 16 else 100_000
    test = stats.permutation_test((diff,), lambda x, axis: np.mean(x, axis=axis),
                                  permutation_type="samples", n_resamples=resamples,
                                  random_state=0)
    return float(test.pvalue)


def interval(result, level: float) -> tuple:
    """Two-sided ``level`` interval of a :func:`compare_methods` result (a dict or table
    row): the t interval, or where there is no spread (``se == 0``) the inversion of the
    exact sign-flip test, under which every shift but the constant itself gets
    p = 2 / 2^S: that point where 2 / 2^S <= 1 - level, else unbounded."""
    mean, se, df = float(result["mean"]), float(result["se"]), float(result["df"])
    if np.isnan(se):
        return np.nan, np.nan
    if se == 0:
        if 2.0 ** (1 - int(result["n_seeds"])) <= 1 - level:
            return mean, mean
        return -np.inf, np.inf
    q = stats.t.ppf((1 + level) / 2, df)
    return mean - q * se, mean + q * se


def _result(test, mean, var, df, n_seeds, n_images, confidence, *, flips=None,
            scope="", dropped=(), reason=""):
    row = {"test": test, "mean": float(mean), "ci_low": np.nan, "ci_high": np.nan,
           "p_value": np.nan, "se": np.nan, "df": np.nan, "n_seeds": int(n_seeds),
           "n_images": int(n_images), "p_sign_flip": np.nan, "scope": scope,
           "seeds_dropped": " ".join(str(s) for s in dropped), "reason": reason}
    if reason:
        return row
    if flips is not None:
        row["p_sign_flip"] = _sign_flip_p(flips)
    se = float(np.sqrt(max(var, 0.0)))
    if se <= CONSTANT_RTOL * max(1.0, abs(mean)):  # no spread: exact, not NaN
        if flips is None or len(flips) < 2:
            row["reason"] = "no spread and no seeds to flip: cannot decide"
            return row
        zero = mean == 0 or _constant(np.append(flips, 0.0))
        row.update(test="sign-flip exact (no spread)", se=0.0, df=np.inf,
                   mean=0.0 if zero else float(mean),
                   p_value=1.0 if zero else row["p_sign_flip"])
    else:
        row.update(se=se, df=float(df), p_value=float(2 * stats.t.sf(abs(mean) / se, df)))
    row["ci_low"], row["ci_high"] = interval(row, confidence)
    return row


def compare_methods(a: pd.DataFrame, b: pd.DataFrame, *, metric: str = "correct",
                    confidence: float = 0.95, over: str = "seeds and images",
                    published: bool = False) -> dict:
    """Method ``a`` minus baseline ``b`` on one metric, valid over training runs.

    Parameters
    ----------
    a, b : DataFrame
        Per-image records (columns ``train_seed``, ``idx`` and the metric's columns, one
        row per seed and image, as in ``tables/records.parquet``), or per-seed tables
        (``train_seed`` or ``seed`` and the metric column, no ``idx``) for run-level
        metrics such as class-wise std.
    metric : str
        A column (boolean ``correct``, numeric ``radius``) or a derived metric
        (:data:`IMAGE_METRICS`, ``certified_<r>``).
    confidence : float
        Level of the two-sided interval.
    over : {"seeds and images", "seeds"}
        What the inference generalises over: training runs and test images (adds the
        method × image interaction) or training runs on this test subset.
    published : bool
        ``b`` is one published run of another training (any seed label): a one-sample
        comparison with a prediction term, never paired with one of our seeds.

    Returns
    -------
    dict
        ``test``, ``mean`` (a minus b), ``ci_low``, ``ci_high``, ``p_value``
        (two-sided), ``se``, ``df``, ``n_seeds``, ``n_images``, ``p_sign_flip`` (exact,
        over per-seed differences), ``scope``, ``seeds_dropped``, and ``reason`` (why
        nothing was decided; empty when a test ran). A result that cannot decide has
        NaN p-value and interval and says why.

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"seed": [0, 1, 2], "acr": [0.52, 0.55, 0.50]})
    >>> b = pd.DataFrame({"seed": [0, 1, 2], "acr": [0.50, 0.52, 0.49]})
    >>> r = compare_methods(a, b, metric="acr")
    >>> r["test"], round(r["mean"], 4), round(r["p_value"], 3)
    ('paired t (seeds)', 0.02, 0.074)
    """
    if over not in ("seeds and images", "seeds"):
        raise ValueError(f"over={over!r}: use 'seeds and images' or 'seeds'.")
    per_image = "idx" in a.columns
    if per_image != ("idx" in b.columns):
        raise ValueError("one table is per image (has idx) and the other per seed: pass two "
                         "record tables or two per-seed tables.")
    A, B = _matrix(a, metric), _matrix(b, metric)
    images = per_image and over == "seeds and images"
    scope = "training runs and test images" if images else (
        "training runs, this test subset" if per_image else "training runs")
    if published:
        return _one_published_run(A, B, per_image, images, confidence, scope)
    shared = A.index.intersection(B.index)
    dropped = sorted(set(A.index).symmetric_difference(B.index))
    if len(shared) == 0:
        return _unpaired(A, B, confidence, "training runs")
    columns = A.columns.intersection(B.columns)
    D = (A.loc[shared, columns] - B.loc[shared, columns]).dropna(axis=1)
    S, I = D.shape
    if I == 0:
        return _result("none", np.nan, np.nan, np.nan, S, 0, confidence, scope=scope,
                       dropped=dropped, reason="no image certified by both methods in "
                       "the shared seeds")
    diff = D.to_numpy()
    flips = diff.mean(axis=1)
    if S < 2:
        return _result("none", flips.mean(), np.nan, np.nan, S, I, confidence, scope=scope,
                       dropped=dropped, reason="one shared seed: no estimate of the "
                       "run-to-run variance, cannot decide")
    var, df = _crossed(diff, images)
    test = "crossed t (seeds × images)" if images else "paired t (seeds)"
    return _result(test, diff.mean(), var, df, S, I if per_image else 0, confidence,
                   flips=flips, scope=scope, dropped=dropped)


def _unpaired(A, B, confidence, scope):
    """Welch's t over per-seed means: two methods trained on disjoint seeds."""
    a, b = A.mean(axis=1).to_numpy(), B.mean(axis=1).to_numpy()
    mean = a.mean() - b.mean()
    if len(a) < 2 or len(b) < 2:
        return _result("none", mean, np.nan, np.nan, min(len(a), len(b)), 0, confidence,
                       scope=scope, reason="no shared seed and fewer than 2 runs on one "
                       "side: cannot decide")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = float(satterthwaite_df([(va, len(a) - 1), (vb, len(b) - 1)]))
    return _result("Welch t (seeds, unpaired)", mean, va + vb, df, min(len(a), len(b)),
                   0, confidence, scope=scope)


def _one_published_run(A, B, per_image, images, confidence, scope):
    """Our seeds against one published run: our mean's variance plus one whole run's
    (the published run is a single draw of another training), plus the test-set term."""
    if len(B) != 1:
        raise ValueError(f"published=True needs one published run, got {len(B)} seeds.")
    shared = A.columns.intersection(B.columns) if per_image else A.columns
    ours = A[shared] if len(shared) else A
    theirs = B[shared] if len(shared) else B
    y = ours.mean(axis=1).to_numpy()
    mean = y.mean() - float(theirs.to_numpy().mean())
    S = len(y)
    if S < 2:
        return _result("none", mean, np.nan, np.nan, S, ours.shape[1], confidence,
                       scope=scope, reason="one seed of ours against one published run: "
                       "no estimate of the run-to-run variance, cannot decide")
    parts = [(y.var(ddof=1) * (1 / S + 1), S - 1)]
    if images:
        if len(shared):  # same images: the method × image interaction
            d = (ours.mean(axis=0) - theirs.iloc[0]).to_numpy()
            parts.append((d.var(ddof=1) / len(d), len(d) - 1))
        else:  # different images: each side's test-set sampling
            for side in (ours.mean(axis=0).to_numpy(), theirs.iloc[0].dropna().to_numpy()):
                parts.append((side.var(ddof=1) / len(side), len(side) - 1))
    return _result("one-sample t vs one published run", mean, sum(v for v, _ in parts),
                   float(satterthwaite_df(parts)), S, ours.shape[1] if per_image else 0, confidence,
                   scope=scope)


def one_sided_p(result, threshold: float = 0.0, side: str = "greater") -> float:
    """P-value of H0: difference <= ``threshold`` (``side="greater"``) or >= it
    (``"less"``), from a :func:`compare_methods` result (a dict or a table row).

    A t-based result uses its ``se`` and ``df``; a result without spread (``se == 0``)
    uses the exact sign-flip test of the shifted per-seed differences, which are then
    all equal: 2^-S when they lie on the alternative's side, else 1. NaN when the result
    could not decide.
    """
    if side not in ("greater", "less"):
        raise ValueError(f"side={side!r}: use 'greater' or 'less'.")
    mean, se = float(result["mean"]), float(result["se"])
    if np.isnan(mean) or np.isnan(se):
        return np.nan
    shift = (mean - threshold) if side == "greater" else (threshold - mean)
    if se == 0:
        return float(2.0 ** -int(result["n_seeds"])) if shift > 0 else 1.0
    return float(stats.t.sf(shift / se, float(result["df"])))


def mcnemar_pooled(a_success, b_success) -> dict:
    """Exact McNemar test on paired per-image outcomes (booleans, one pair per seed and
    image): under "no difference" each discordant pair is equally likely to favour
    either method, so the count favouring the method is Binomial(discordant, 1/2).

    Valid only conditional on the trained networks: with run-level variance its
    false-positive rate exceeds its level. Descriptive; it decides no claim."""
    a_success = np.asarray(a_success, dtype=bool)
    b_success = np.asarray(b_success, dtype=bool)
    better = int((a_success & ~b_success).sum())
    worse = int((~a_success & b_success).sum())
    discordant = better + worse
    p = stats.binomtest(better, discordant, 0.5).pvalue if discordant else 1.0
    return {"test": "McNemar exact, conditional on the trained networks (descriptive)",
            "mean": (better - worse) / max(len(a_success), 1),
            "p_value": float(p), "better": better, "worse": worse,
            "n_images": len(a_success)}


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment; NaN p-values are left out and stay NaN.

    Hand-written (checked against statsmodels' ``multipletests`` in the tests) because
    that function runs a full garbage collection on every call (about 80 ms)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[i]))
        out[i] = running
    return out

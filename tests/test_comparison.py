"""Paired statistics on synthetic runs whose truth is known."""

import numpy as np
import pandas as pd
import pytest
from scipy import special

from idrs.comparison import compare_runs, holm, mcnemar_pooled


def seeds(values, start=0):
    return pd.Series(values, index=range(start, start + len(values)), dtype=float)


def test_a_constant_per_seed_shift_is_seen_by_the_paired_test_and_missed_by_welch(rng):
    # 8 seeds, training SD 0.006, effect -0.004 +- 0.0005 on the same seeds (the review)
    base = 0.85 + 0.006 * rng.standard_normal(8)
    method = base - 0.004 + 0.0005 * rng.standard_normal(8)
    paired = compare_runs(seeds(method), seeds(base))
    welch = compare_runs(seeds(method), seeds(base, start=100))  # no shared seed
    assert paired["test"] == "paired t" and welch["test"] == "Welch"
    assert paired["p_value"] < 1e-4 and paired["p_wilcoxon"] < 0.01
    assert welch["p_value"] > 0.05
    assert paired["ci_low"] < -0.004 < paired["ci_high"] < 0


def test_equal_constants_differ_by_zero_with_certainty():
    for value in (0.5, 0.4, 0.1 + 0.2):  # 0.4 and 0.3... are not exact in binary
        row = compare_runs(seeds([value] * 3), seeds([value] * 3))
        assert (row["mean"], row["ci_low"], row["ci_high"], row["p_value"]) == (0, 0, 0, 1)
    row = compare_runs(seeds([0.4] * 3), seeds([0.4] * 3, start=10))  # Welch branch
    assert (row["mean"], row["ci_low"], row["ci_high"], row["p_value"]) == (0, 0, 0, 1)


def test_different_constants_never_give_p_1():
    for a, b in ((0.5, 0.25), (0.4, 0.3)):
        for start in (0, 10):  # paired and Welch
            row = compare_runs(seeds([a] * 3), seeds([b] * 3, start=start))
            assert row["mean"] == pytest.approx(a - b) and row["p_value"] != 1.0


def test_one_seed_has_no_interval_and_no_test():
    row = compare_runs(seeds([0.9]), seeds([0.8]))
    assert row["mean"] == pytest.approx(0.1) and np.isnan(row["p_value"])
    assert np.isnan(row["ci_low"]) and row["n"] == 1


def test_holm_matches_a_hand_computation():
    # sorted 0.01, 0.03, 0.04, 0.5 of m = 4: 4*0.01, 3*0.03, max(0.09, 2*0.04), 0.5
    got = holm([0.01, 0.04, 0.03, np.nan, 0.5])
    np.testing.assert_allclose(got, [0.04, 0.09, 0.09, np.nan, 0.5])


def test_mcnemar_counts_only_discordant_pairs():
    a = np.array([True] * 10 + [False] * 2 + [True] * 50 + [False] * 5)
    b = np.array([False] * 10 + [True] * 2 + [True] * 50 + [False] * 5)
    row = mcnemar_pooled(a, b)
    assert (row["better"], row["worse"]) == (10, 2)
    # two-sided exact: 2 * P(X <= 2), X ~ Binomial(12, 1/2)
    expected = 2 * sum(special.comb(12, k) for k in range(3)) / 2 ** 12
    assert row["p_value"] == pytest.approx(expected)
    assert row["mean"] == pytest.approx(8 / 67)
    assert mcnemar_pooled(a, a)["p_value"] == 1.0


def test_comparison_table_pairs_every_baseline_and_adjusts_within_the_experiment(rng):
    from idrs.report import _runs, comparison_table
    frames = []
    for method, p in (("idrs", 0.9), ("classical", 0.8), ("increased", 0.85)):
        for seed in (0, 1, 2):
            correct = rng.random(50) < p
            frames.append(pd.DataFrame({"method": method, "train_seed": seed,
                                        "idx": np.arange(50), "label": np.arange(50) % 2,
                                        "predict": 0, "correct": correct,
                                        "radius": rng.random(50), "sigma": 0.5}))
    records = pd.concat(frames, ignore_index=True)
    runs = _runs(records, [0.5])
    table = comparison_table(records, runs, [("idrs", "classical"), ("idrs", "increased")],
                             ["accuracy", "certified_0.5"], [0.5])
    assert table.baseline.tolist().count("classical") == 2 + 2  # 2 metrics + 2 McNemar
    mcnemar = table[table.test == "McNemar exact"]
    assert mcnemar.metric.tolist() == ["accuracy (per image)", "certified_0.5 (per image)"] * 2
    assert (mcnemar.n == 150).all()  # 3 seeds x 50 images, paired
    np.testing.assert_allclose(table.p_holm, holm(table.p_value))
    assert (table.p_holm >= table.p_value).all()

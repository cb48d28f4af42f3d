"""compare_methods on designs whose answer is known: SciPy's and statsmodels' tests as
references, hand-computed ANOVA, and the degenerate cases that used to give NaN."""

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import ttost_paired

from idrs.results.comparison import (
    compare_methods,
    holm,
    mcnemar_pooled,
    one_sided_p,
    satterthwaite_df,
)
from idrs.results.design_simulation import per_seed, simulate_pair


def seeds(values, start=0, metric="acc"):
    return pd.DataFrame({"seed": range(start, start + len(values)), metric: values})


def test_per_seed_tables_give_scipys_paired_t(rng):
    a, b = 0.85 + 0.01 * rng.standard_normal(5), 0.84 + 0.01 * rng.standard_normal(5)
    got = compare_methods(seeds(a), seeds(b), metric="acc")
    ref = stats.ttest_rel(a, b)
    ci = ref.confidence_interval(0.95)
    assert got["test"] == "paired t (seeds)" and got["n_seeds"] == 5
    assert got["p_value"] == pytest.approx(ref.pvalue)
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((ci.low, ci.high))
    # the confidence level is honoured, not fixed at 95%
    narrow = compare_methods(seeds(a), seeds(b), metric="acc", confidence=0.8)
    ci80 = ref.confidence_interval(0.8)
    assert (narrow["ci_low"], narrow["ci_high"]) == pytest.approx((ci80.low, ci80.high))


def test_per_image_records_over_seeds_only_equal_the_paired_t_of_seed_means(rng):
    a, b = simulate_pair(rng, seeds=4, images=60, tau=0.3, effect=0.2)
    got = compare_methods(a, b, over="seeds")
    ref = stats.ttest_rel(per_seed(a).correct, per_seed(b).correct)
    assert got["test"] == "paired t (seeds)" and got["n_images"] == 60
    assert got["p_value"] == pytest.approx(ref.pvalue)


def test_crossed_variance_matches_a_hand_computed_two_way_anova():
    # D = method minus baseline, 2 seeds x 3 images
    a = pd.DataFrame({"train_seed": [0, 0, 0, 1, 1, 1], "idx": [0, 1, 2] * 2,
                      "radius": [1.0, 2.0, 6.0, 2.0, 2.0, 9.0]})
    b = a.assign(radius=0.0)
    D = np.array([[1.0, 2.0, 6.0], [2.0, 2.0, 9.0]])
    g, rows, cols = D.mean(), D.mean(1), D.mean(0)
    ms_seed = 3 * np.sum((rows - g) ** 2) / 1
    ms_image = 2 * np.sum((cols - g) ** 2) / 2
    ms_resid = np.sum((D - rows[:, None] - cols[None, :] + g) ** 2) / 2
    var = (ms_seed + ms_image - ms_resid) / 6
    # df: Satterthwaite with the positive mean squares at their 80% upper bounds
    def up(v, d):
        return v * d / stats.chi2.ppf(0.2, d)

    parts = [(up(ms_seed / 6, 1), 1), (up(ms_image / 6, 2), 2), (-ms_resid / 6, 2)]
    df = sum(v for v, _ in parts) ** 2 / sum(v * v / d for v, d in parts)
    got = compare_methods(a, b, metric="radius")
    assert got["test"] == "crossed t (seeds × images)"
    assert got["se"] == pytest.approx(np.sqrt(var)) and got["df"] == pytest.approx(df)
    assert got["p_value"] == pytest.approx(2 * stats.t.sf(g / np.sqrt(var), df))


def test_the_image_term_is_added_only_when_methods_interact_with_images(rng):
    a, b = simulate_pair(rng, seeds=8, images=2000, tau=0.2)
    quiet = compare_methods(a, b)
    assert quiet["se"] == pytest.approx(compare_methods(a, b, over="seeds")["se"], rel=0.05)
    a, b = simulate_pair(rng, seeds=8, images=2000, tau=0.05, interaction=2.0)
    loud = compare_methods(a, b)
    assert loud["se"] > 1.5 * compare_methods(a, b, over="seeds")["se"]


@pytest.mark.parametrize("seeds", [2, 3, 8])
@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.3, 3.0])
def test_the_degrees_of_freedom_keep_the_level_with_a_known_component(seeds, ratio):
    """Normal theory: a mean whose variance is a seed part estimated with seeds - 1 df plus
    a known part (``ratio`` of it). Plain Satterthwaite rejects 0.128 at 2 seeds and 0.078
    at 3 with ratio 0.1; satterthwaite_df keeps 0.05 (200,000 draws: SE 0.0005)."""
    rng = np.random.default_rng(seeds)
    draws = 200_000
    z = rng.standard_normal(draws) * np.sqrt(1 + ratio)
    seed_part = rng.chisquare(seeds - 1, draws) / (seeds - 1)
    df = satterthwaite_df([(seed_part, seeds - 1), (np.full(draws, ratio), np.inf)])
    p = 2 * stats.t.sf(np.abs(z) / np.sqrt(seed_part + ratio), df)
    assert np.mean(p < 0.05) <= 0.052
    if seeds == 8:  # and it is not needlessly conservative with 8 seeds
        assert np.mean(p < 0.05) >= 0.04


@pytest.mark.parametrize("n, p", [(8, 2 / 2 ** 8), (3, 0.25)])
def test_a_constant_shift_gets_the_exact_sign_flip_p_value(n, p):
    # +5 images of 500 in every seed: no spread, so no t-test; never NaN, never 0
    got = compare_methods(seeds([0.85] * n), seeds([0.84] * n), metric="acc")
    assert got["test"] == "sign-flip exact (no spread)"
    assert got["p_value"] == pytest.approx(p) and got["mean"] == pytest.approx(0.01)
    assert one_sided_p(got, 0.0, "greater") == pytest.approx(p / 2)
    assert one_sided_p(got, 0.0, "less") == 1.0
    bounded = p <= 0.05  # the interval inverts the exact test
    assert np.isfinite(got["ci_low"]) == bounded


@pytest.mark.parametrize("n, bound", [(8, 0.0), (3, np.inf)])
def test_equal_constants_differ_by_zero_and_their_interval_inverts_the_exact_test(n, bound):
    for value in (0.5, 0.4, 0.1 + 0.2):  # and values that are not exact in binary
        got = compare_methods(seeds([value] * n), seeds([value] * n), metric="acc")
        assert (got["mean"], got["p_value"]) == (0, 1)
        assert (got["ci_low"], got["ci_high"]) == (-bound, bound)


def test_one_seed_cannot_decide_and_says_why():
    got = compare_methods(seeds([0.9]), seeds([0.8]), metric="acc")
    assert got["mean"] == pytest.approx(0.1) and np.isnan(got["p_value"])
    assert "one shared seed" in got["reason"] and np.isnan(one_sided_p(got))


def test_partial_seed_overlap_is_paired_on_the_shared_seeds(rng):
    a, b = rng.random(3), rng.random(3)
    one = compare_methods(seeds(a), seeds(b, start=2), metric="acc")  # shares seed 2 only
    assert np.isnan(one["p_value"]) and one["seeds_dropped"] == "0 1 3 4"
    a5, b5 = rng.random(5), rng.random(5)
    two = compare_methods(seeds(a5), seeds(b5, start=2), metric="acc")  # shares 2, 3, 4
    ref = stats.ttest_rel(a5[2:], b5[:3])
    assert two["n_seeds"] == 3 and two["seeds_dropped"] == "0 1 5 6"
    assert two["p_value"] == pytest.approx(ref.pvalue)


def test_disjoint_seeds_use_welch_not_student(rng):
    a, b = 0.8 + 0.001 * rng.standard_normal(4), 0.79 + 0.03 * rng.standard_normal(9)
    got = compare_methods(seeds(a), seeds(b, start=10), metric="acc")
    welch, student = stats.ttest_ind(a, b, equal_var=False), stats.ttest_ind(a, b)
    va, vb = a.var(ddof=1) / 4, b.var(ddof=1) / 9
    t = (a.mean() - b.mean()) / np.sqrt(va + vb)
    assert got["test"].startswith("Welch") and got["scope"] == "training runs"
    assert got["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), got["df"]))
    # Welch's statistic; Satterthwaite df (at the upper bounds) between the smaller
    # sample's 3 and the sum 11, near Welch's own
    assert 3 <= got["df"] <= 11 and got["df"] == pytest.approx(welch.df, rel=0.25)
    assert got["p_value"] != pytest.approx(student.pvalue, rel=0.05)


def test_a_published_run_is_one_run_of_another_training_not_our_seed_0(rng):
    ours = 0.8 + 0.01 * rng.standard_normal(5)
    theirs = pd.DataFrame({"seed": [0], "acc": [0.78]})
    got = compare_methods(seeds(ours), theirs, metric="acc", published=True)
    relabelled = compare_methods(seeds(ours), theirs.assign(seed=7), metric="acc",
                                 published=True)
    s2 = ours.var(ddof=1)
    se = np.sqrt(s2 * (1 / 5 + 1))  # our mean plus one whole run of theirs
    assert got["test"].startswith("one-sample") and got["n_seeds"] == 5
    assert got["se"] == pytest.approx(se) and got["df"] == pytest.approx(4)
    assert got["p_value"] == pytest.approx(2 * stats.t.sf((ours.mean() - 0.78) / se, 4))
    assert relabelled["p_value"] == got["p_value"]
    with pytest.raises(ValueError, match="one published run"):
        compare_methods(seeds(ours), seeds([0.7, 0.71]), metric="acc", published=True)


def test_a_published_run_on_other_images_adds_both_test_set_terms(rng):
    a, b = simulate_pair(rng, seeds=4, images=300, tau=0.1)
    theirs = b[b.train_seed == 0].assign(idx=lambda d: d.idx + 1000)  # other images
    got = compare_methods(a, theirs, published=True)
    seeds_only = compare_methods(a, theirs, published=True, over="seeds")
    mine, their = per_seed(a).correct.to_numpy(), theirs.correct.to_numpy(float)
    var_images = (a.groupby("idx").correct.mean().var(ddof=1) / 300
                  + their.var(ddof=1) / 300)
    assert got["se"] ** 2 == pytest.approx(seeds_only["se"] ** 2 + var_images)
    assert seeds_only["se"] ** 2 == pytest.approx(mine.var(ddof=1) * (1 / 4 + 1))


def test_tost_from_the_comparison_matches_statsmodels(rng):
    from idrs.results.paper_check import _claim_p_values
    a, b = 0.80 + 0.01 * rng.standard_normal(6), 0.80 + 0.01 * rng.standard_normal(6)
    got = compare_methods(seeds(a), seeds(b), metric="acc")
    p_support, _ = _claim_p_values(got, "similar", 0.02)
    reference = ttost_paired(a, b, -0.02, 0.02)[0]
    assert p_support == pytest.approx(reference)


def test_derived_metrics_and_clear_errors():
    records = pd.DataFrame({"train_seed": [0, 0, 1, 1], "idx": [0, 1, 0, 1],
                            "correct": [True, False, True, True], "predict": [1, -1, 1, 1],
                            "radius": [0.6, 0.0, 0.3, 0.8], "sigma": 0.5})
    other = records.assign(correct=False, radius=0.0)
    got = compare_methods(records, other, metric="certified_0.5", over="seeds")
    assert got["mean"] == pytest.approx(0.5)  # seed 0: 1/2, seed 1: 1/2
    with pytest.raises(KeyError, match="certified_<radius>"):
        compare_methods(records, other, metric="nonsense")
    with pytest.raises(ValueError, match="appears twice"):
        compare_methods(pd.concat([records, records]), other)
    with pytest.raises(ValueError, match="over="):
        compare_methods(records, other, over="images")
    with pytest.raises(ValueError, match="per image"):  # records against a per-seed table
        compare_methods(records, per_seed(other), metric="correct")


def test_a_run_level_metric_undefined_in_one_seed_drops_that_seed_only():
    a, b = seeds([0.05, np.nan, 0.07, 0.06]), seeds([0.04, 0.05, 0.05, 0.05])
    got = compare_methods(a, b, metric="acc")
    assert got["n_seeds"] == 3 and got["seeds_dropped"] == "1"
    assert got["mean"] == pytest.approx(np.mean([0.01, 0.02, 0.01]))


def test_holm_matches_a_hand_computation_and_statsmodels(rng):
    # sorted 0.01, 0.03, 0.04, 0.5 of m = 4: 4*0.01, 3*0.03, max(0.09, 2*0.04), 0.5
    got = holm([0.01, 0.04, 0.03, np.nan, 0.5])
    np.testing.assert_allclose(got, [0.04, 0.09, 0.09, np.nan, 0.5])
    p = rng.random(20) ** 3
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1])


def test_mcnemar_counts_only_discordant_pairs():
    a = np.array([True] * 10 + [False] * 2 + [True] * 50 + [False] * 5)
    b = np.array([False] * 10 + [True] * 2 + [True] * 50 + [False] * 5)
    row = mcnemar_pooled(a, b)
    assert (row["better"], row["worse"]) == (10, 2)
    expected = 2 * sum(special.comb(12, k) for k in range(3)) / 2 ** 12
    assert row["p_value"] == pytest.approx(expected)
    assert row["mean"] == pytest.approx(8 / 67) and "conditional" in row["test"]
    assert mcnemar_pooled(a, a)["p_value"] == 1.0


def test_comparison_table_rows_are_descriptive_and_mcnemar_is_labelled(rng):
    from idrs.results.report import _runs, comparison_table
    frames = []
    for method, p in (("idrs", 0.9), ("classical", 0.8), ("increased", 0.85)):
        for seed in (0, 1, 2):
            correct = rng.random(50) < p
            frames.append(pd.DataFrame({"method": method, "train_seed": seed,
                                        "idx": np.arange(50), "label": np.arange(50) % 2,
                                        "predict": 0, "correct": correct,
                                        "radius": rng.random(50), "sigma": 0.5,
                                        "time": 0.1 * (seed + 1),
                                        "radius_time": 0.05 if method == "idrs" else np.nan}))
    records = pd.concat(frames, ignore_index=True)
    runs = _runs(records, [0.5])
    table = comparison_table(records, runs, [("idrs", "classical"), ("idrs", "increased")],
                             ["accuracy", "classwise_std_corrected", "certified_0.5"], [0.5])
    assert "p_holm" not in table
    # 3 metrics, the exact count of lost correct images, the time ratio, 2 McNemar
    assert table.baseline.tolist().count("classical") == 3 + 2 + 2
    exact = table[table.baseline.eq("classical")].set_index("metric")
    a, b = (records[records.method == m].sort_values(["train_seed", "idx"]) for m in
            ("idrs", "classical"))
    assert exact.loc["lost_correct", "mean"] == (b.correct.to_numpy() & ~a.correct.to_numpy()).sum()
    # seed s: (0.1 (s + 1) + 0.05) / (0.1 (s + 1)), from 1.5 (seed 0) to 1.1667 (seed 2)
    assert exact.loc["time_ratio", ["ci_low", "ci_high"]].tolist() == pytest.approx([7 / 6, 1.5])
    mcnemar = table[table.test.str.startswith("McNemar")]
    assert mcnemar.metric.tolist() == ["accuracy (per image)", "certified_0.5 (per image)"] * 2
    assert (mcnemar.n_images == 150).all() and mcnemar.test.str.contains("descriptive").all()
    deciding = table[~table.test.str.startswith("McNemar")].set_index(["baseline", "metric"])
    assert deciding.loc[("classical", "accuracy"), "test"] == "crossed t (seeds × images)"
    assert deciding.loc[("classical", "classwise_std_corrected"), "test"] == "paired t (seeds)"

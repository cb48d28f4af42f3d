"""The paper registry, the verdicts on synthetic runs whose truth is known, and the
claims decided by paired comparisons."""

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from idrs.results.paper_check import (
    cell_verdicts,
    claim_verdicts,
    load_claims,
    load_registry,
    measurement_verdicts,
    resolution,
)

REPO = Path(__file__).resolve().parents[2]
# the paper's cells: config/paper.yaml, and its override with Cohen et al.'s models
# and published files (Table 4, E.2 on their models)
CONFIGS = {"default": [REPO / "config.yaml"],
           "paper": [REPO / "config" / "paper.yaml", REPO / "config" / "paper_cohen_models.yaml"],
           "toys": [REPO / "config" / "toys.yaml"]}


@cache  # the registry asks once per row; paper.yaml takes a second to parse
def labels(config):
    experiments = {}
    for path in CONFIGS[config]:
        experiments.update(yaml.safe_load(path.read_text())["experiments"])
    return {name: {m["label"] for m in exp["methods"]}
            | {f"{b} (published)" for b in exp.get("baselines", [])}
            for name, exp in experiments.items()}


@pytest.mark.parametrize("registry", [load_registry(), load_claims()], ids=["cells", "claims"])
def test_every_registered_entry_maps_to_a_configured_method(registry):
    from idrs.results.paper_check import group_address, in_group
    missing = []
    for row in registry.itertuples(index=False):
        known = dict(labels(row.config))
        methods = [row.method] + ([row.baseline] if hasattr(row, "baseline") else [])
        known["theory"] = {"Theorem 2.4", "practical threshold"}  # the theory job
        for method in methods:  # a label, a glob over labels, or experiment/label
            experiment, label = group_address(row.experiment, method)
            if not any(in_group(k, label) for k in known.get(experiment, ())):
                missing.append((row.config, experiment, label))
    assert not missing, missing


def test_the_registry_holds_the_papers_tables():
    registry = load_registry()
    assert set(registry.table) >= {2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18}
    table5 = registry[(registry.table == 5) & (registry.config == "toys")]
    assert len(table5) == 14 and table5.value.max() == 0.963
    # the printed number and the value in our units agree (percent, x100 tables)
    assert np.allclose(registry.value[registry.printed.str.endswith("%")] * 100,
                       registry.printed[registry.printed.str.endswith("%")]
                       .str.rstrip("%").astype(float))


def cells(rows):
    """A registry of synthetic cells: (printed, metric, runs, paper_sd, test_images, test_set)."""
    frame = pd.DataFrame(rows, columns=["printed", "metric", "runs", "paper_sd", "test_images",
                                        "test_set"])
    frame["value"] = frame.printed.str.rstrip("%").astype(float) / np.where(
        frame.printed.str.endswith("%"), 100, 1)
    return frame.assign(table=5, row=[f"r{i}" for i in range(len(frame))], column="c",
                        config="default", experiment="e", method="m")


def ours(values, metric="accuracy", images=500):
    values = np.asarray(values, dtype=float)
    p = values.clip(1e-9, 1 - 1e-9)
    return {"e": pd.DataFrame({"method": "m", "seed": range(len(values)), metric: values,
                               "inputs": images,
                               f"{metric}_se_images": np.sqrt(p * (1 - p) / images)})}


def verdict(registry, runs):
    return cell_verdicts(registry, runs, "default").iloc[0]


def test_two_seeds_never_agree_by_width_alone():
    # seeds 0.83 and 0.87 used to "agree" with 0.852 through [0.596, 1.104]
    got = verdict(cells([("0.852", "accuracy", 1, np.nan, 1000, "drawn")]), ours([0.83, 0.87]))
    assert got.verdict == "too uncertain to judge" and "resolution" in got.reason


def test_identical_seeds_never_differ_by_zero_width():
    # 0.854 three times on 500 drawn images: the test-set term alone is about 0.016
    got = verdict(cells([("0.852", "accuracy", 1, np.nan, 1000, "drawn")]), ours([0.854] * 3))
    assert got.verdict != "differs" and got.ci_high - got.ci_low > 0.02


def test_a_tight_set_of_seeds_on_the_papers_images_agrees_or_differs():
    tight = 0.852 + 0.002 * np.array([-1.5, -1, -0.5, 0, 0, 0.5, 1, 1.5])
    same = cells([("0.852", "accuracy", 8, 0.002, 10000, "fixed")])
    assert verdict(same, ours(tight, images=10000)).verdict == "agrees"
    assert verdict(same, ours(tight + 0.02, images=10000)).verdict == "differs"
    # the same seeds on 500 other images carry the test-set term: no longer "agrees"
    assert verdict(same, ours(tight, images=500)).verdict == "too uncertain to judge"


def test_the_paper_sd_and_the_single_run_prediction_term_widen_the_interval():
    tight = 0.852 + 0.002 * np.array([-1, 0, 1, 0, 0.5, -0.5, 0.2, -0.2])
    mean8 = verdict(cells([("0.852", "accuracy", 8, 0.002, 10000, "fixed")]), ours(tight, images=10000))
    noisy = verdict(cells([("0.852", "accuracy", 8, 0.02, 10000, "fixed")]), ours(tight, images=10000))
    single = verdict(cells([("0.852", "accuracy", 1, np.nan, 10000, "fixed")]), ours(tight, images=10000))
    def width(v):
        return v.ci_high - v.ci_low

    assert width(noisy) > 3 * width(mean8) and width(single) > width(mean8)


def test_a_single_printed_run_is_also_set_against_one_named_run_of_ours():
    values = [0.84, 0.86, 0.85]
    registry = cells([("0.852", "accuracy", 1, np.nan, 1000, "drawn")]).assign(our_seed=1)
    got = verdict(registry, ours(values))
    assert got.seed == 1 and got.seed_ours == 0.86
    # one run against one run: wider than the mean's interval, never "agrees" by width
    mean_only = verdict(cells([("0.852", "accuracy", 1, np.nan, 1000, "drawn")]),
                        ours(values))
    assert np.isnan(mean_only.seed) and got.seed_verdict in ("agrees", "differs",
                                                              "too uncertain to judge")


def test_one_seed_without_a_printed_sd_is_too_uncertain():
    got = verdict(cells([("0.852", "accuracy", 1, np.nan, 1000, "drawn")]), ours([0.85]))
    assert got.verdict == "too uncertain to judge" and "one seed" in got.reason


def test_spread_cells_use_the_f_interval_of_the_sd_ratio():
    # an SD of 0.0026 over 3 seeds does not "agree" with 0.61%: 3 seeds cannot tell
    sd3 = verdict(cells([("0.61%", "sd:accuracy", 9, np.nan, 10000, "fixed")]),
                  ours([0.940, 0.945, 0.944]))
    assert sd3.ours == pytest.approx(np.std([0.940, 0.945, 0.944], ddof=1))
    assert sd3.verdict == "too uncertain to judge"
    assert sd3.ci_low < 1 < sd3.ci_high and sd3.compared.startswith("ours / paper")
    many = np.random.default_rng(0).normal(0.9, 0.006, 40)
    assert verdict(cells([("0.61%", "sd:accuracy", 40, np.nan, 10000, "fixed")]),
                   ours(many)).verdict == "agrees"
    assert verdict(cells([("0.05%", "sd:accuracy", 40, np.nan, 10000, "fixed")]),
                   ours(many)).verdict == "differs"
    # identical seeds: floored at one image, never a zero ratio that "differs"
    assert verdict(cells([("0.2%", "sd:accuracy", 8, np.nan, 10000, "fixed")]),
                   ours([0.9] * 3)).verdict != "differs"


def test_the_papers_own_published_run_is_checked_to_the_rounding():
    registry = cells([("0.814", "accuracy", 1, np.nan, 500, "fixed")]).assign(
        method="cohen (published)")
    runs = {"e": ours([0.814])["e"].assign(method="cohen (published)")}
    assert verdict(registry, runs).verdict == "agrees"
    runs["e"]["accuracy"] = 0.816
    assert verdict(registry, runs).verdict == "differs"


def test_fewer_printed_decimals_keep_their_own_rounding():
    # Table 5 prints 0.96: half a unit is 0.005, not 0.0005
    got = verdict(cells([("0.96", "accuracy", 1, np.nan, 1000, "drawn")]), ours([0.963] * 3))
    assert got.rounding == pytest.approx(0.005)
    assert verdict(cells([("0.61%", "accuracy", 8, np.nan, 10000, "fixed")]),
                   ours([0.006] * 3)).rounding == pytest.approx(0.00005)


def test_one_measurement_printed_twice_gets_a_verdict_against_each_and_counts_once():
    # Table 2 prints MNIST IDRS accuracy at sigma 0.25 as 0.9910, Table 15 as 0.9905
    registry = load_registry()
    twice = registry[(registry.experiment == "mnist_sigma0.25")
                     & (registry.method == "IDRS r=0.01") & (registry.metric == "accuracy")]
    assert sorted(twice.printed) == ["0.9905", "0.9910"]
    values = 0.9910 + 0.0002 * np.array([-1.5, -1, -0.5, 0, 0, 0.5, 1, 1.5])
    runs = {"mnist_sigma0.25": pd.DataFrame({"method": "IDRS r=0.01", "seed": range(8),
                                             "accuracy": values, "inputs": 10000})}
    got = cell_verdicts(twice, runs, "paper").set_index("table")
    assert (got.loc[2, "verdict"], got.loc[15, "verdict"]) == ("agrees", "differs")
    assert got.loc[2, "paper_also_prints"] == "Table 15: 0.9905"
    once = measurement_verdicts(got.reset_index())
    assert len(once) == 1 and once.iloc[0].startswith("split")


def test_one_run_under_two_experiments_labels_is_one_measurement():
    """Tables 2 and 13's "IDRS r=0.01" (Section 4) and Table 17's "increased
    sigma_tr=0.126" (E.6.4) are one run: model at sigma_tr 0.126, sigma_b 0.12, r 0.01. runs.csv names
    the run, so the printed cells count as one measurement and name each other."""
    registry = load_registry()
    pair = registry[((registry.experiment == "cifar10_sigma0.12")
                     & (registry.method == "IDRS r=0.01")
                     | (registry.experiment == "cifar10_train_rates_sigma0.12")
                     & (registry.method == "increased sigma_tr=0.126"))
                    & (registry.metric == "accuracy")]
    assert sorted(pair.table) == [2, 13, 17]
    run = "cifar10-cifar-st0.126-x/s0.12-r0.01-m5-k20"
    values = 0.852 + 0.004 * np.linspace(-1, 1, 8)
    runs = {experiment: pd.DataFrame({"method": method, "seed": range(8), "run": run,
                                      "accuracy": values, "inputs": 500})
            for experiment, method in (("cifar10_sigma0.12", "IDRS r=0.01"),
                                       ("cifar10_train_rates_sigma0.12",
                                        "increased sigma_tr=0.126"))}
    got = cell_verdicts(pair, runs, "paper")
    assert set(got.measurement) == {f"{run} | accuracy | runs 8"}
    assert len(measurement_verdicts(got)) == 1
    assert got.set_index("table").paper_also_prints[17] == "Table 2: 0.852; Table 13: 0.852"
    without = {e: t.drop(columns="run") for e, t in runs.items()}  # an older runs.csv
    assert len(measurement_verdicts(cell_verdicts(pair, without, "paper"))) == 2
    # a print of one of the paper's runs is another quantity than its 8-run mean
    single = pair.assign(runs=np.where(pair.table == 17, 1, pair.runs))
    assert len(measurement_verdicts(cell_verdicts(single, runs, "paper"))) == 2


def test_resolution_shrinks_near_the_bounds():
    assert resolution("accuracy", 0.85) == 0.02
    assert resolution("accuracy", 0.99) == pytest.approx(0.0025)
    assert resolution("classwise_std", 0.08) == pytest.approx(0.02)


def comparison(mean, se, n_seeds=8, df=7, test="crossed t (seeds × images)", reason=""):
    return {"method": "m", "baseline": "b", "test": test, "mean": mean, "se": se, "df": df,
            "n_seeds": n_seeds, "reason": reason}


def test_claims_are_three_way_with_holm_over_the_claims():
    claims = pd.DataFrame({
        "claim": list("abcdefg"), "source": "T", "quote": "q", "owner": "paper",
        "config": "default", "experiment": "e",
        "method": "m", "baseline": "b", "metric": list("abcdefg"),
        "expected": ["greater", "greater", "less", "not greater", "similar", "similar",
                     "greater"],
        "margin": [np.nan, np.nan, np.nan, 0.01, 0.01, 0.01, np.nan]})
    rows = [comparison(0.02, 0.002), comparison(0.01, 0.01), comparison(0.01, 0.001),
            comparison(-0.001, 0.001), comparison(0.0005, 0.001), comparison(0.0, 0.02),
            comparison(0.01, np.nan, n_seeds=1, reason="one shared seed: cannot decide")]
    table = pd.DataFrame([{**r, "metric": m} for r, m in zip(rows, "abcdefg")])
    got = claim_verdicts(claims, {"e": table}, "default").set_index("claim")
    assert got.verdict.to_dict() == {
        "a": "supported", "b": "inconclusive", "c": "contradicted", "d": "supported",
        "e": "supported", "f": "inconclusive", "g": "inconclusive"}
    assert "one shared seed" in got.loc["g", "reason"]
    assert (got.p_support_holm.dropna() >= 0).all() and "consistent" not in set(got.verdict)
    # Holm over one family, the 6 claims' 12 p-values: a's is the second smallest (d's t
    # is 11, a's 10, tied with c's "contradicted" p, which comes later)
    raw = stats.t.sf(0.02 / 0.002, 7)
    assert got.loc["a", "p_support_holm"] == pytest.approx(11 * raw)


def claim_rows(**columns):
    base = {"claim": "a", "source": "T", "quote": "q", "owner": "paper", "config": "default",
            "experiment": "e", "method": "m", "baseline": "b", "margin": np.nan}
    return pd.DataFrame({**base, **columns})


def test_exact_claims_are_read_off_the_runs_outside_holm():
    claims = claim_rows(claim=list("abcde"), method=list("abcde"),
                        metric=["lost_correct"] * 2 + ["time_ratio"] * 3,
                        expected=["zero"] * 2 + ["at most"] * 3,
                        margin=[np.nan, np.nan, 1.3333, 1.3333, 1.3333])
    rows = [{"metric": "lost_correct", "mean": 0.0}, {"metric": "lost_correct", "mean": 2.0},
            {"metric": "time_ratio", "mean": 1.1, "ci_low": 1.05, "ci_high": 1.2},
            {"metric": "time_ratio", "mean": 1.5, "ci_low": 1.4, "ci_high": 1.6},
            {"metric": "time_ratio", "mean": 1.3, "ci_low": 1.2, "ci_high": 1.4}]
    table = pd.DataFrame([{"method": m, "baseline": "b", "test": "exact", "n_seeds": 8, **r}
                          for m, r in zip("abcde", rows)])
    got = claim_verdicts(claims, {"e": table}, "default").set_index("claim")
    assert got.verdict.to_dict() == {"a": "supported", "b": "contradicted", "c": "supported",
                                     "d": "contradicted", "e": "inconclusive"}
    assert got.p_support_holm.isna().all() and "2 in these runs" in got.loc["b", "reason"]


def test_theorem_2_4_tightness_is_read_off_the_theory_curves():
    from idrs.results.paper_check import theory_rows
    from idrs.results.theory_report import figure3_table
    row = theory_rows(figure3_table()).iloc[0]
    # the practical threshold sits 0.001-0.022 above Theorem 2.4's from N = 784 up
    assert 0.0005 < row.ci_low < row.ci_high < 0.025


def test_spread_claims_compare_groups_of_runs_with_an_f_test():
    """A glob over one experiment's labels against another experiment's method."""
    rng = np.random.default_rng(1)
    eval_runs = pd.DataFrame({"method": [f"noise seed {i}" for i in range(7)] + ["other"],
                              "seed": 0, "accuracy": np.r_[0.8 + rng.normal(0, 1e-3, 7), 0]})
    train_runs = pd.DataFrame({"method": "s=0.5", "seed": range(9),
                               "accuracy": 0.8 + rng.normal(0, 0.02, 9)})
    runs = {"e": eval_runs, "t": train_runs}
    claims = claim_rows(claim=["less", "greater"], method="noise seed *",
                        baseline="t/s=0.5", metric="sd:accuracy", expected=["less", "greater"])
    got = claim_verdicts(claims, {}, "default", runs).set_index("claim")
    assert got.verdict.to_dict() == {"less": "supported", "greater": "contradicted"}
    assert got.loc["less", "difference"] < 0.2 and got.loc["less", "test"].startswith("F test")
    missing = claim_verdicts(claims.assign(baseline="t/nothing"), {}, "default", runs)
    assert set(missing.verdict) == {"not run"}


def test_the_spread_f_test_holds_its_level():
    """Equal run-to-run SDs (7 and 9 normal runs): "less" is supported at most 5% of the
    time, as the exact F test promises."""
    from idrs.results.paper_check import spread_result
    rng = np.random.default_rng(2)
    p = np.array([spread_result(rng.normal(size=7), rng.normal(size=9))["p_less"]
                  for _ in range(4000)])
    assert 0.035 <= (p < 0.05).mean() <= 0.065


def test_a_claim_cannot_be_decided_by_mcnemar():
    claims = pd.DataFrame({"claim": ["a"], "source": "T", "quote": "q", "owner": "paper",
                           "config": "default",
                           "experiment": "e", "method": "m", "baseline": "b",
                           "metric": ["accuracy (per image)"], "expected": ["greater"],
                           "margin": [np.nan]})
    table = pd.DataFrame([{**comparison(0.1, 0.01, test="McNemar exact, conditional"),
                           "metric": "accuracy (per image)"}])
    with pytest.raises(ValueError, match="decides no claim"):
        claim_verdicts(claims, {"e": table}, "default")


def test_a_claim_of_no_difference_without_a_margin_is_refused(tmp_path):
    path = tmp_path / "claims.csv"
    load_claims().assign(margin=np.nan).to_csv(path, index=False)
    with pytest.raises(ValueError, match="positive margin"):
        load_claims(path)


def test_two_claims_that_make_the_same_test_are_refused(tmp_path):
    path, claims = tmp_path / "claims.csv", load_claims()
    again = claims.iloc[[0]].assign(claim="the same test under another name")
    pd.concat([claims, again]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="claims that make the same test"):
        load_claims(path)


def test_registered_claims_name_deciding_rows_and_margins_where_needed():
    claims = load_claims()
    assert not claims.metric.str.contains("per image").any()
    no_difference = claims.expected.isin(["not greater", "not less", "similar", "at most"])
    assert claims.margin[no_difference].gt(0).all()
    assert claims.margin[~no_difference].isna().all()


def test_cohen_format_records_yield_table_4_exactly(tmp_path):
    """Table 4 is computed from Cohen et al.'s published CIFAR10 files (500 images each):
    files in their format with those counts give all twelve printed cells, as
    experiment_report and the registry see them."""
    from idrs.results.baselines import read_cohen_tsv
    from idrs.results.report import experiment_report
    counts = {"0.12": (407, 19, 74), "0.25": (374, 43, 83), "0.50": (326, 83, 91),
              "1.00": (236, 145, 119)}  # correct, abstain, wrong of 500
    experiments = {"0.12": "cohen_cifar10_rates_sigma0.12", "0.25": "cohen_cifar10_rates_sigma0.25",
                   "0.50": "cohen_cifar10_rates_sigma0.5", "1.00": "cohen_cifar10_rates_sigma1.0"}
    runs = {}
    for sigma, (right, abstain, _wrong) in counts.items():
        lines = ["idx\tlabel\tpredict\tradius\tcorrect\ttime"]
        for i in range(500):
            label = i % 10
            predict = label if i < right else -1 if i < right + abstain else (label + 1) % 10
            radius = 0.0 if predict == -1 else 0.5
            lines.append(f"{20 * i}\t{label}\t{predict}\t{radius}\t{int(predict == label)}"
                         "\t0:00:15.2")
        path = tmp_path / f"sigma_{sigma}"
        path.write_text("\n".join(lines) + "\n")
        name = f"cohen_certify_{sigma}"
        records = read_cohen_tsv(path, dataset="cifar10", arch="cifar_resnet110",
                                 sigma=float(sigma), model=name)
        runs[experiments[sigma]] = experiment_report(
            records.assign(method=f"{name} (published)"), tmp_path / sigma, title=sigma,
            table_radii=[0.5])
    table4 = load_registry().query("table == 4")
    got = cell_verdicts(table4, runs, "paper")
    assert len(got) == 12 and set(got.verdict) == {"agrees"}
    assert np.array_equal(got.ours.to_numpy(float), got.paper.to_numpy(float))


def test_a_cell_a_generator_was_calibrated_on_is_counted_apart():
    from idrs.results.paper_check import FITTED
    tight = 0.852 + 0.002 * np.array([-1, 0, 1, 0, 0.5, -0.5, 0.2, -0.2])
    registry = cells([("0.852", "accuracy", 8, 0.002, 10000, "fixed")] * 2)
    registry["method"] = ["m", "n"]
    registry["fitted"] = ["scale calibrated here", ""]
    runs = ours(tight, images=10000)
    runs["e"] = pd.concat([runs["e"], runs["e"].assign(method="n")])
    got = cell_verdicts(registry, runs, "default")
    assert list(got.verdict) == [FITTED, "agrees"]
    assert got.reason[0].startswith("scale calibrated here") and "agrees" in got.reason[0]
    assert measurement_verdicts(got).value_counts().to_dict() == {FITTED: 1, "agrees": 1}
    # the shipped registry marks Table 5's six constant-sigma rows the cone was fitted on
    # (toys; the default runs three of them), and nothing else
    shipped = load_registry()
    fitted = shipped[shipped.fitted != ""]
    assert set(fitted.table) == {5} and fitted.row.str.contains(r", sigma = ").all()
    assert fitted.groupby("config").size().to_dict() == {"default": 3, "toys": 6}


def test_published_markdown_tables_drop_empty_and_repeated_columns():
    from idrs.results.paper_check import readable
    table = pd.DataFrame({"paper": [0.946, 0.9], "printed": ["0.946", "0.9"],
                          "seeds": [0, 3], "seed": [np.nan, np.nan], "ci_low": [np.nan, 0.1]})
    shown = readable(table)
    assert list(shown.columns) == ["paper", "seeds", "ci_low"] and shown.ci_low[0] == ""

"""Every deciding test keeps its stated error rate on the design it is used on (training
seeds × test images, with run-level variance), proven by simulation.

The simulations are independent of the tests they check: truth is set in
:mod:`idrs.results.design_simulation` (logit model) or drawn here from normal laws, and the
verdicts come from the same functions the workflow calls. ``benchmarks/
stats_calibration.py`` prints the full table (more settings, more replicates)."""

import numpy as np
import pandas as pd
import pytest

from idrs.results.comparison import compare_methods, mcnemar_pooled
from idrs.results.design_simulation import simulate_pair
from idrs.results.paper_check import cell_verdicts, claim_verdicts

REPLICATES = 400
#: The stated level is 0.05; with 400 replicates the rate's SE is 0.011, so 0.08 is a
#: bound a calibrated test passes and an anti-conservative one (0.18-0.27 for pooled
#: McNemar here) fails.
BOUND = 0.08


def rates(rng, replicates=REPLICATES, **design):
    """(rejection rate of compare_methods, of pooled McNemar, and the sign of hits)."""
    ours = mcnemar = positive = 0
    for _ in range(replicates):
        a, b = simulate_pair(rng, **design)
        result = compare_methods(a, b)
        hit = result["p_value"] < 0.05
        ours += hit
        positive += hit and result["mean"] > 0
        mcnemar += mcnemar_pooled(a.correct, b.correct)["p_value"] < 0.05
    return ours / replicates, mcnemar / replicates, positive / replicates


def test_the_deciding_test_holds_its_level_under_run_level_variance():
    # tau = 0.2 on the logit scale, shared image difficulty, 3 seeds x 500 images
    ours, mcnemar, _ = rates(np.random.default_rng(2026), seeds=3, images=500, tau=0.2)
    assert ours <= BOUND
    assert mcnemar > 0.15  # the simulation has the variance that breaks pooled McNemar


def test_the_deciding_test_holds_its_level_when_methods_interact_with_images():
    ours, _, _ = rates(np.random.default_rng(7), replicates=200, seeds=8, images=500,
                       tau=0.1, interaction=0.5)
    assert ours <= BOUND + 0.02  # 200 replicates: SE 0.015


def test_the_deciding_test_has_the_stated_power():
    # a real effect of +1 on the logit (about +0.07 accuracy), 3 seeds: power 0.72
    # measured on 200 replicates; stated: at least 0.6
    _, _, power = rates(np.random.default_rng(11), seeds=3, images=500, tau=0.2, effect=1.0)
    assert power >= 0.6


def _seed_table(values, seeds):
    return pd.DataFrame({"seed": seeds, "acc": values})


def test_claims_are_falsely_supported_at_most_at_the_stated_rate():
    """A 'greater' claim under no difference, and a 'similar' claim whose true
    difference sits on the margin: either verdict 'supported' is a false positive."""
    rng = np.random.default_rng(3)
    claims = pd.DataFrame({"claim": ["greater", "similar"], "source": "T", "quote": "q",
                           "owner": "paper", "config": "c",
                           "experiment": ["g", "s"], "method": "m", "baseline": "b",
                           "metric": "acc", "expected": ["greater", "similar"],
                           "margin": [np.nan, 0.01]})
    false = {"greater": 0, "similar": 0}
    replicates = 250  # SE 0.014 at 0.05
    for _ in range(replicates):
        tables = {}
        for name, truth in (("g", 0.0), ("s", 0.01)):
            base = 0.8 + 0.01 * rng.standard_normal(5)  # run-to-run SD 0.01
            method = base + truth + 0.006 * rng.standard_normal(5)
            row = compare_methods(_seed_table(method, range(5)), _seed_table(base, range(5)),
                                  metric="acc")
            tables[name] = pd.DataFrame([{**row, "method": "m", "baseline": "b",
                                          "metric": "acc"}])
        got = claim_verdicts(claims, tables, "c").set_index("claim").verdict
        for name in false:
            false[name] += got[name] == "supported"
    assert false["greater"] / replicates <= 0.05
    assert false["similar"] / replicates <= BOUND


CELL_CASES = [  # (our seeds, the paper's runs, printed SD, test set)
    (2, 1, False, "drawn"), (3, 1, False, "drawn"), (3, 8, True, "drawn"),
    (8, 8, False, "drawn"),
    # the same images on both sides: no test-set term, the seed terms alone
    (2, 1, False, "fixed"), (3, 1, False, "fixed"), (3, 3, False, "fixed"),
    (1, 3, True, "fixed"), (1, 2, True, "fixed")]


@pytest.mark.parametrize("seeds, runs, printed_sd, test_set", CELL_CASES)
def test_cells_that_match_the_paper_rarely_differ(seeds, runs, printed_sd, test_set):
    """Our runs and the paper's come from one truth, a run-to-run SD of 0.01; on drawn
    data each side has its own 500 / 10,000 images, on a fixed set both certify the same
    10,000. 'differs' must stay at about 5%."""
    rng = np.random.default_rng(seeds * 100 + runs)
    truth, run_sd = 0.85, 0.01
    n_ours, n_paper = (500, 10_000) if test_set == "drawn" else (10_000, 10_000)
    registry = pd.DataFrame({"table": 5, "row": "r", "column": "c", "config": "c",
                             "experiment": "e", "method": "m", "metric": "accuracy",
                             "runs": runs, "test_images": n_paper, "test_set": test_set,
                             "paper_sd": np.nan}, index=[0])
    differs, replicates = 0, 250  # SE 0.014 at 0.05
    for _ in range(replicates):
        paper_runs = truth + rng.normal(0, run_sd, runs)
        ours_runs = truth + rng.normal(0, run_sd, seeds)
        if test_set == "drawn":  # each side's own images
            paper_runs += rng.normal(0, np.sqrt(truth * (1 - truth) / n_paper))
            ours_runs += rng.normal(0, np.sqrt(truth * (1 - truth) / n_ours))
        runs_table = pd.DataFrame({"method": "m", "seed": range(seeds), "accuracy": ours_runs,
                                   "inputs": n_ours, "accuracy_se_images":
                                   np.sqrt(ours_runs * (1 - ours_runs) / n_ours)})
        printed = f"{paper_runs.mean():.3f}"
        cell = registry.assign(printed=printed, value=float(printed),
                               paper_sd=f"{paper_runs.std(ddof=1):.3f}" if printed_sd else np.nan)
        got = cell_verdicts(cell.astype({"paper_sd": float}), {"e": runs_table},
                            "c").verdict.iloc[0]
        differs += got == "differs"
    assert differs / replicates <= BOUND

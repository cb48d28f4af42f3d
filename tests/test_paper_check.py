"""The paper registry, the verdicts on synthetic runs whose truth is known, and the
claims decided by paired comparisons."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from idrs.paper_check import (cell_verdicts, claim_verdicts, load_claims, load_registry,
                              paper_tables)

REPO = Path(__file__).resolve().parents[1]
# the paper's cells: config/paper.yaml, and its override with Cohen et al.'s models
# and published files (Table 4, E.2 on their models)
CONFIGS = {"default": [REPO / "config.yaml"],
           "paper": [REPO / "config" / "paper.yaml", REPO / "config" / "paper_cohen_models.yaml"],
           "toys": [REPO / "config" / "toys.yaml"]}


def labels(config):
    experiments = {}
    for path in CONFIGS[config]:
        experiments.update(yaml.safe_load(path.read_text())["experiments"])
    return {name: {m["label"] for m in exp["methods"]}
            | {f"{b} (published)" for b in exp.get("baselines", [])}
            for name, exp in experiments.items()}


@pytest.mark.parametrize("registry", [load_registry(), load_claims()], ids=["cells", "claims"])
def test_every_registered_entry_maps_to_a_configured_method(registry):
    missing = []
    for row in registry.itertuples(index=False):
        known = labels(row.config)
        methods = [row.method] + ([row.baseline] if hasattr(row, "baseline") else [])
        if row.experiment not in known or not set(methods) <= known[row.experiment]:
            missing.append((row.config, row.experiment, *methods))
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


@pytest.fixture
def registry():
    return pd.DataFrame({
        "table": [5, 5, 5, 11], "row": ["N = 2"] * 3 + ["acc"], "column": ["c", "i", "x", "s"],
        "printed": ["0.943", "0.96", "0.5", "0.61%"], "value": [0.943, 0.96, 0.5, 0.0061],
        "config": "default", "experiment": ["cone2", "cone2", "absent", "cone2"],
        "method": ["const", "idrs", "const", "const"],
        "metric": ["accuracy", "accuracy", "accuracy", "sd:accuracy"]})


def test_cell_verdicts_follow_the_confidence_interval(registry):
    runs = {"cone2": pd.DataFrame({"method": ["const"] * 3 + ["idrs"] * 3, "seed": [0, 1, 2] * 2,
                                   "accuracy": [0.940, 0.945, 0.944, 0.980, 0.981, 0.979]})}
    got = cell_verdicts(registry, runs, "default").set_index("column")
    assert got.loc["c", "verdict"] == "agrees"          # 0.943 inside [0.937, 0.949]
    assert got.loc["i", "verdict"] == "differs"         # 0.96 far below 0.98 +- 0.003
    assert got.loc["x", "verdict"] == "not run"
    # SD across runs: sd = 0.0026, its 95% chi-square interval contains 0.0061? no
    assert got.loc["s", "ours"] == pytest.approx(np.std([0.940, 0.945, 0.944], ddof=1))
    assert got.loc["s", "ci_low"] < got.loc["s", "ours"] < got.loc["s", "ci_high"]
    tables = paper_tables(cell_verdicts(registry, runs, "default"))
    assert "(paper 0.943)" in tables[5].iloc[0]["c"]


def test_one_seed_counts_only_the_rounding(registry):
    runs = {"cone2": pd.DataFrame({"method": ["const", "idrs"], "seed": [0, 0],
                                   "accuracy": [0.9433, 0.97]})}
    got = cell_verdicts(registry, runs, "default").set_index("column")
    assert got.loc["c", "verdict"] == "agrees"           # within half of 0.001
    assert got.loc["i", "verdict"] == "differs (1 seed)"


def test_claims_are_decided_by_holm_adjusted_paired_tests():
    claims = pd.DataFrame({
        "claim": ["a", "b", "c", "d"], "source": "T", "config": "default",
        "experiment": "e", "method": ["m"] * 4, "baseline": ["b"] * 4,
        "metric": ["acc", "acr", "std", "acc"],
        "expected": ["greater", "greater", "less", "not greater"]})
    comparisons = {"e": pd.DataFrame({
        "method": "m", "baseline": "b", "metric": ["acc", "acr", "std"],
        "test": "paired t", "mean": [0.02, 0.1, 0.01], "p_holm": [0.001, 0.2, 0.01]})}
    got = claim_verdicts(claims, comparisons, "default").set_index("claim")
    assert got.verdict.to_dict() == {"a": "supported", "b": "not decided",
                                     "c": "contradicted", "d": "contradicted"}


def test_cohen_format_records_yield_table_4_exactly(tmp_path):
    """Table 4 is computed from Cohen et al.'s published CIFAR10 files (500 images each):
    files in their format with those counts give all twelve printed cells, as
    experiment_report and the registry see them."""
    from idrs.baselines import read_cohen_tsv
    from idrs.report import experiment_report
    counts = {"0.12": (407, 19, 74), "0.25": (374, 43, 83), "0.50": (326, 83, 91),
              "1.00": (236, 145, 119)}  # correct, abstain, wrong of 500
    experiments = {"0.12": "cohen_cifar10_rates_sigma0.12", "0.25": "cohen_cifar10_rates_sigma0.25",
                   "0.50": "cohen_cifar10_rates_sigma0.5", "1.00": "cohen_cifar10_rates_sigma1.0"}
    runs = {}
    for sigma, (right, abstain, wrong) in counts.items():
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

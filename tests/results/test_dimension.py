"""Table 5's gains against N (idrs.results.dimension) and their figure."""

import numpy as np
import pandas as pd
import pytest

from idrs.results.dimension import KINDS, dimension_gains, dimension_table, write_dimension_gains
from idrs.results.figures import dimension_gain_figure


def _comparisons(gain):
    rows = [("IDRS", "sigma=1", "accuracy", gain), ("IDRS", "sigma=0.8 (control)", "accuracy",
                                                     gain / 2),
            ("IDRS", "sigma=1", "acr", -gain), ("IDRS", "sigma=1", "abstention", 0.5)]
    return pd.DataFrame([{"method": m, "baseline": b, "metric": k, "mean": v,
                          "ci_low": v - 0.01, "ci_high": v + 0.01, "test": "crossed t"}
                         for m, b, k, v in rows])


@pytest.fixture
def gains():
    verdicts = pd.DataFrame([
        {"experiment": e, "method": m, "metric": "accuracy", "paper": v}
        for e, m, v in (("cone2", "sigma=1", 0.94), ("cone2", "IDRS", 0.96),
                        ("cone400", "sigma=1", 0.62), ("cone400", "IDRS", 0.62))]
        + [{"experiment": "theory", "method": "Theorem 2.4", "metric": "threshold",
            "paper": 0.9}])
    return dimension_gains({"cone2": _comparisons(0.03), "cone400": _comparisons(0.001)},
                           {"cone2": 2, "cone400": 400}, verdicts)


def test_gains_pair_ours_with_the_papers_printed_difference(gains):
    acc = gains[gains.metric == "accuracy"].set_index(["N", "baseline"])
    assert acc.loc[(2, "sigma=1"), "ours"] == 0.03
    assert acc.loc[(2, "sigma=1"), "paper"] == pytest.approx(0.02)
    assert acc.loc[(400, "sigma=1"), "paper"] == pytest.approx(0.0)
    # a baseline the paper did not print is our control, with no paper gain
    assert acc.loc[(2, "sigma=0.8 (control)"), "kind"] == KINDS[1]
    assert np.isnan(acc.loc[(2, "sigma=0.8 (control)"), "paper"])
    assert set(gains.metric) == {"accuracy", "acr"}  # abstention is not drawn
    assert gains[gains.metric == "acr"].paper.isna().all()  # no printed radii


def test_figure_draws_each_kind_with_its_interval_and_the_paper(gains):
    fig = dimension_gain_figure(gains)
    acc_ax = fig.axes[0]
    # one errorbar container per kind of baseline; the paper's diamonds are one line
    ours = {c.get_label(): c for c in acc_ax.containers}[f"ours, {KINDS[0]}"]
    np.testing.assert_allclose(np.asarray(ours.lines[0].get_ydata(), float), [0.03, 0.001])
    lines = {line.get_label(): line for line in acc_ax.get_lines()}
    paper = lines["paper, over its constant sigma"]
    np.testing.assert_allclose(np.asarray(paper.get_xdata(), float), [2, 400])
    np.testing.assert_allclose(np.asarray(paper.get_ydata(), float), [0.02, 0.0], atol=1e-12)
    assert acc_ax.get_xscale() == "log"
    assert [ax.get_title() for ax in fig.axes] == [
        "sigma(x) minus constant sigma: clean accuracy",
        "sigma(x) minus constant sigma: average certified radius"]


def _runs(accuracy):
    return pd.DataFrame([{"method": m, "seed": seed, "accuracy": a + 0.01 * seed,
                          "acr": 1.0 + seed, "certified_0.5": 0.5,
                          "certified_0.5_se_images": 0.01}
                         for m, a in (("sigma=1", accuracy), ("IDRS", accuracy + 0.02))
                         for seed in range(3)])


def test_dimension_table_puts_the_printed_cell_beside_ours_and_the_radii():
    verdicts = pd.DataFrame([{"experiment": "cone400", "method": "sigma=1",
                              "metric": "accuracy", "paper": 0.623, "printed": "0.623",
                              "verdict": "agrees", "ci_low": -0.02, "ci_high": 0.03}])
    table = dimension_table({"cone2": _runs(0.9), "cone400": _runs(0.6)},
                            {"cone400": 400, "cone2": 2}, verdicts)
    assert table.N.tolist() == [2, 2, 400, 400]  # sorted by dimension
    row = table.iloc[2]
    assert (row.paper, row.verdict, row["ours − paper, interval"]) == (
        "0.623", "agrees", "[-0.020, +0.030]")
    assert row["ours (mean ± SD)"] == "0.610 ± 0.010" and row.ACR == "2.000 ± 1.000"
    assert row["cert. acc. r = 0.5"] == "0.500 ± 0.000"
    assert [c for c in table.columns if c.startswith("cert.")] == ["cert. acc. r = 0.5"]
    assert table.iloc[3].paper == "" and table.iloc[3].verdict == ""  # no printed cell


def test_write_dimension_gains_writes_the_csv_the_figure_and_the_table(tmp_path):
    comparisons, runs = {}, {}
    for e, g in (("cone2", 0.03), ("cone400", 0.001)):
        comparisons[e], runs[e] = tmp_path / f"{e}_c.csv", tmp_path / f"{e}_r.csv"
        _comparisons(g).to_csv(comparisons[e], index=False)
        _runs(0.9).to_csv(runs[e], index=False)
    verdicts = tmp_path / "verdicts.csv"
    pd.DataFrame([{"experiment": "cone2", "method": "sigma=1", "metric": "accuracy",
                   "paper": 0.94, "printed": "0.940", "verdict": "agrees", "ci_low": 0.0,
                   "ci_high": 0.01}]).to_csv(verdicts, index=False)
    csv = write_dimension_gains(comparisons, runs, {"cone2": 2, "cone400": 400}, verdicts,
                                tmp_path / "dimension_gains")
    assert len(pd.read_csv(csv)) == 6
    assert (tmp_path / "dimension_gains.png").stat().st_size > 0
    assert (tmp_path / "dimension_gains.pdf").exists()
    assert "| 0.940 " in (tmp_path / "dimension_gains_table.md").read_text()

"""Theorem 2.4 / Corollary 2.5 / Figure 3 thresholds and the Table 1 outputs."""

import mpmath as mp
import numpy as np
import pandas as pd
import pytest

from idrs.certify.radius import xi_greater
from idrs.certify.theory import corollary_threshold, practical_threshold, table1_threshold
from idrs.results.theory_report import table1, write_theory_outputs


@pytest.mark.parametrize("p_a,dim", [(0.9, 784), (0.99993, 3072), (0.999, 196608),
                                     (0.9, 1), (0.6, 150528)])
def test_table1_threshold_solves_theorem_2_4_equation(p_a, dim):
    # independent solve of log s + 1 - s = 2 log(1 - p_A) / N on (0, 1) in 40 digits
    with mp.workdps(40):
        c = 2 * mp.log(1 - mp.mpf(p_a)) / dim
        s = mp.findroot(lambda s: mp.log(s) + 1 - s - c, (mp.mpf("1e-30"), 1 - mp.mpf("1e-30")),
                        solver="anderson")
        expected = float(mp.sqrt(s))
    assert float(table1_threshold(p_a, dim)) == pytest.approx(expected, rel=1e-12)


def test_table1_reproduces_the_paper_in_11_of_12_cells():
    df = table1()
    assert len(df) == 12 and df.matches_paper.sum() == 11
    odd = df[~df.matches_paper].iloc[0]
    # the one difference: CIFAR10 at p_A = 0.99, exact 0.961535 rounds to 0.962; the
    # paper's Table 1 prints 0.961 (all twelve cells: tests/REFERENCES.md)
    assert (odd.dataset, odd.p_a, odd.paper) == ("CIFAR10", 0.99, 0.961)
    assert odd.threshold == pytest.approx(0.961535, abs=1e-6)


@pytest.mark.parametrize("p_a", [0.9, 0.999])
def test_practical_threshold_is_where_xi_at_zero_is_one_half(p_a):
    dims = np.array([2, 10, 784, 3072, 150528])
    ratio = practical_threshold(p_a, dims)
    np.testing.assert_allclose(xi_greater(0.0, 1.0, ratio, dims, 1 - p_a), 0.5, atol=1e-10)
    # ordering: Corollary 2.5 <= Theorem 2.4 < practical, all rising towards 1 with N
    theory = table1_threshold(p_a, dims)
    assert (corollary_threshold(p_a, dims) <= theory).all() and (theory < ratio).all()
    assert np.all(np.diff(ratio) > 0) and np.all(np.diff(theory) > 0)


def test_theory_outputs_are_written(tmp_path):
    paths = write_theory_outputs(tmp_path / "theory")
    assert sorted(p.name for p in paths) == ["figure3.csv", "figure3.pdf", "figure3.png",
                                             "table1.csv", "table1.md"]
    curves = pd.read_csv(tmp_path / "theory" / "figure3.csv")
    assert (curves.gap > 0).all() and set(curves.p_a) == {0.9, 0.999}
    assert pd.read_csv(tmp_path / "theory" / "table1.csv").matches_paper.sum() == 11
    assert "0.962 (paper 0.961" in (tmp_path / "theory" / "table1.md").read_text()
    assert (tmp_path / "theory" / "figure3.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "theory" / "figure3.pdf").read_bytes()[:5] == b"%PDF-"


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="p_a == 1.0"):
        table1_threshold(1.0, 784)
    with pytest.raises(ValueError, match="dim == 0"):
        practical_threshold(0.9, 0)


def test_table1_headers_name_p_a_and_figure3_keeps_its_legend_off_the_curves():
    from idrs.results.theory_report import figure3_figure, table1, table1_markdown
    text = table1_markdown(table1())
    assert "| dataset " in text and "p_A = 0.9 " in text and "p_A = 0.99993" in text
    fig = figure3_figure()
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()][1] == "theoretical (Theorem 2.4)"
    # the legend lies below every panel
    fig.canvas.draw()
    legend_top = fig.legends[0].get_window_extent().y1
    assert all(legend_top <= ax.get_window_extent().y0 for ax in fig.axes)

"""Table 1 and Figure 3 of the paper, written as files (CSV, Markdown, PNG, PDF)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..certify.theory import corollary_threshold, practical_threshold, table1_threshold

log = logging.getLogger(__name__)

#: Table 1 as printed in the paper: {dataset: (dim, {p_a: value})}.
PAPER_TABLE1 = {
    "MNIST": (784, {0.9: 0.946, 0.99: 0.924, 0.999: 0.908, 0.99993: 0.892}),
    "CIFAR10": (3072, {0.9: 0.973, 0.99: 0.961, 0.999: 0.953, 0.99993: 0.945}),
    "ImageNet": (3 * 256 * 256, {0.9: 0.997, 0.99: 0.995, 0.999: 0.994, 0.99993: 0.993}),
}


def table1() -> pd.DataFrame:
    """One row per cell of Table 1: the exact threshold, it rounded to the paper's three
    decimals, the printed value and whether they agree."""
    rows = []
    for dataset, (dim, printed) in PAPER_TABLE1.items():
        for p_a, paper in printed.items():
            exact = float(table1_threshold(p_a, dim))
            rows.append({"dataset": dataset, "dim": dim, "p_a": p_a, "threshold": exact,
                         "rounded": round(exact, 3), "paper": paper,
                         "matches_paper": round(exact, 3) == paper})
    return pd.DataFrame(rows)


def table1_markdown(df: pd.DataFrame) -> str:
    """Table 1 laid out as in the paper; a cell that differs from the print shows both."""
    def cell(row):
        text = f"{row.rounded:.3f}"
        if row.matches_paper:
            return text
        return f"{text} (paper {row.paper:.3f}; exact {row.threshold:.6f})"

    wide = df.assign(cell=df.apply(cell, axis=1)).pivot(index="dataset", columns="p_a",
                                                        values="cell")
    wide = wide.loc[list(PAPER_TABLE1)]
    wide.index = [f"{d} (N = {PAPER_TABLE1[d][0]})" for d in wide.index]
    header = ("Table 1: theoretical lower thresholds for sigma1/sigma0 (Theorem 2.4), "
              f"{int(df.matches_paper.sum())} of {len(df)} cells equal the paper's print.\n\n")
    wide.columns = [f"p_A = {p_a:g}" for p_a in wide.columns]
    return header + wide.rename_axis("dataset").to_markdown() + "\n"


def figure3_table(p_as=(0.9, 0.999), max_dim=3 * 256 * 256) -> pd.DataFrame:
    """Figure 3's curves: per p_A and input dimension N, the theoretical threshold
    (Theorem 2.4), Corollary 2.5's, the practical one (xi_>(0) = 1/2) and ``gap``, the
    practical minus the theoretical (how tight Theorem 2.4 is)."""
    dims = np.unique(np.geomspace(1, max_dim, 400).round().astype(int))
    return pd.concat([pd.DataFrame({
        "p_a": p_a, "dim": dims, "theoretical": table1_threshold(p_a, dims),
        "corollary": corollary_threshold(p_a, dims), "practical": practical_threshold(p_a, dims)})
        for p_a in p_as], ignore_index=True).assign(gap=lambda t: t.practical - t.theoretical)


def figure3_figure(table=None):
    """:func:`figure3_table`'s thresholds against N, one panel per p_A; the legend sits
    below the panels, clear of the curves."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = figure3_table() if table is None else table
    groups = list(table.groupby("p_a"))
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 3.8), sharey=True)
    for ax, (p_a, curve) in zip(np.atleast_1d(axes), groups):
        ax.plot(curve.dim, curve.practical, label=r"practical: $\xi_>(0)=1/2$")
        ax.plot(curve.dim, curve.theoretical, label="theoretical (Theorem 2.4)")
        ax.plot(curve.dim, curve.corollary, ls="--", label="Corollary 2.5")
        for name, (dim, _) in PAPER_TABLE1.items():
            ax.axvline(dim, color="grey", lw=0.6, ls=":")
            ax.text(dim, 0.02, name, rotation=90, va="bottom", ha="right", fontsize=7)
        ax.set(xscale="log", xlabel="input dimension N", title=f"$p_A$ = {p_a:g}",
               ylim=(0, 1.02))
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel(r"threshold on $\sigma_1/\sigma_0$")
    handles, labels = np.atleast_1d(axes)[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def figure3(path_stem: Path, table=None):
    """Write :func:`figure3_figure` as PNG and PDF; return the paths."""
    import matplotlib.pyplot as plt
    fig = figure3_figure(table)
    paths = [path_stem.with_suffix(s) for s in (".png", ".pdf")]
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    for p in paths:
        fig.savefig(p, dpi=200)
        log.info("wrote %s", p)
    plt.close(fig)
    return paths


def write_theory_outputs(outdir, p_as=(0.9, 0.999), max_dim=3 * 256 * 256) -> list[Path]:
    """Write ``table1.csv``, ``table1.md``, ``figure3.csv`` (the curves) and
    ``figure3.png`` / ``figure3.pdf``."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    df = table1()
    df.to_csv(outdir / "table1.csv", index=False)
    (outdir / "table1.md").write_text(table1_markdown(df))
    curves = figure3_table(p_as, max_dim)
    curves.to_csv(outdir / "figure3.csv", index=False)
    return [outdir / "table1.csv", outdir / "table1.md", outdir / "figure3.csv",
            *figure3(outdir / "figure3", curves)]

"""Figures of one experiment. Each function draws the data it is given and returns the
matplotlib figure (tested on that data, not on pixels); :func:`save` writes PNG and PDF.

* :func:`certified_accuracy_figure`: certified accuracy against radius, the mean over
  seeds with a band of one standard deviation across seeds (Figures 1, 4, 10);
* :func:`accuracy_figure`: clean accuracy per method, mean ± SD across seeds, with the
  paper's value marked where it printed one (Tables 2, 5, 6, 8);
* :func:`classwise_figure`: per-class accuracy of every method and the class-wise
  standard deviation (the fairness story of Tables 3, 7, 9, 10);
* :func:`radius_distance_figure`: each test point's certified radius against its kNN
  distance, constant against input-dependent sigma (Figures 13, 23, 24);
* :func:`regions_figure`: for 2-D data, the points with sigma(x) as circles and the
  decision boundaries of the smoothed classifiers (Figure 1, Figure 8 right);
* :func:`dimension_gain_figure`: the gain of sigma(x) over constant sigma against the
  input dimension, ours with intervals beside the paper's (Table 5).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["certified_accuracy_figure", "accuracy_figure", "classwise_figure",
           "radius_distance_figure", "regions_figure", "dimension_gain_figure", "save"]


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _seeds(count):
    return f"{count} seed{'s' if count != 1 else ''}"


#: Line styles and markers cycled over methods: curves that coincide stay distinguishable.
LINE_STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def certified_accuracy_figure(curves: dict, radii, title: str):
    """``curves``: {method: array (seeds, radii)} of certified accuracy. Each method has
    its own line style and marker, so overlapping curves can be told apart."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    every = max(1, len(radii) // 8)
    for i, (method, values) in enumerate(curves.items()):
        values = np.atleast_2d(values)
        mean = values.mean(axis=0)
        line, = ax.plot(radii, mean, label=f"{method} ({_seeds(len(values))})",
                        linestyle=LINE_STYLES[i % len(LINE_STYLES)],
                        marker=MARKERS[i % len(MARKERS)], markersize=4,
                        markevery=(i % every, every))
        if len(values) > 1:
            std = values.std(axis=0, ddof=1)
            ax.fill_between(radii, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set(xlabel="radius (L2, input units)", ylabel="certified accuracy", title=title,
           ylim=(0, 1.02), xlim=(0, radii[-1]))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="mean over seeds; band: ±1 SD across seeds",
              title_fontsize=7)
    fig.tight_layout()
    return fig


def _mean_sd(runs: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per method (in order of appearance): mean, SD across seeds (NaN for one seed), n."""
    grouped = runs.groupby("method", sort=False)[column]
    return pd.DataFrame({"mean": grouped.mean(), "sd": grouped.std(ddof=1),
                         "n": grouped.size()})


def accuracy_figure(runs: pd.DataFrame, title: str, paper: dict | None = None):
    """``runs``: one row per (method, seed) with ``accuracy``; ``paper``: {method:
    printed accuracy}, drawn as a red cross where given."""
    plt = _pyplot()
    stats = _mean_sd(runs, "accuracy")
    y = np.arange(len(stats))
    fig, ax = plt.subplots(figsize=(6, 0.9 + 0.45 * len(stats)))
    # ±1 SD, cut at 0 and 1: an accuracy cannot leave them
    sd = stats["sd"].fillna(0.0)
    xerr = np.vstack([np.minimum(sd, stats["mean"]), np.minimum(sd, 1.0 - stats["mean"])])
    ax.errorbar(stats["mean"], y, xerr=xerr, fmt="o", capsize=3,
                label="ours: mean ± 1 SD across seeds (within [0, 1])")
    marked = [(i, paper[m]) for i, m in enumerate(stats.index) if paper and m in paper]
    if marked:
        ax.plot([v for _, v in marked], [i for i, _ in marked], "x", color="tab:red",
                markersize=9, label="paper")
    ax.set_yticks(y, [f"{m} ({_seeds(n)})" for m, n in zip(stats.index, stats["n"])],
                  fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="clean accuracy (certify, abstentions wrong)", title=title)
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def classwise_figure(per_class: pd.DataFrame, runs: pd.DataFrame, title: str):
    """Left: accuracy of each class per method (``per_class``: one row per method,
    seed, label with ``accuracy``), mean ± SD across seeds. Right: the class-wise
    standard deviation per method (``runs``' ``classwise_std``), mean ± SD."""
    plt = _pyplot()
    methods = list(dict.fromkeys(per_class["method"]))
    labels = sorted(per_class["label"].unique())
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4),
                                      gridspec_kw={"width_ratios": [2, 1]})
    width = 0.8 / max(len(methods), 1)
    for j, method in enumerate(methods):
        part = per_class[per_class["method"] == method].groupby("label")["accuracy"]
        mean, sd = part.mean().reindex(labels), part.std(ddof=1).reindex(labels)
        left.errorbar(np.arange(len(labels)) + (j - (len(methods) - 1) / 2) * width,
                      mean, yerr=sd.fillna(0.0), fmt="o", capsize=2, label=method)
    left.set_xticks(np.arange(len(labels)), [str(c) for c in labels])
    left.set(xlabel="class", ylabel="class accuracy (mean ± 1 SD across seeds)",
             title="per-class accuracy")
    left.grid(alpha=0.3)
    left.legend(fontsize=7)
    stats = _mean_sd(runs, "classwise_std")
    right.bar(np.arange(len(stats)), stats["mean"], yerr=stats["sd"].fillna(0.0),
              capsize=3, color="tab:gray")
    right.set_xticks(np.arange(len(stats)), list(stats.index), rotation=30, ha="right",
                     fontsize=7)
    right.set(ylabel="SD of class accuracies (ddof 0)", title="class-wise std")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def radius_distance_figure(records: pd.DataFrame, title: str):
    """Certified radius of each test point (0 where wrong or abstained) against its kNN
    distance, one colour per method, every seed. Constant-sigma records carry no kNN
    distance; they take the one their test index has in any other run."""
    plt = _pyplot()
    known = records.dropna(subset=["knn_distance"]).drop_duplicates("idx")
    distance = records["idx"].map(known.set_index("idx")["knn_distance"])
    fig, ax = plt.subplots(figsize=(6, 4))
    if known.empty:
        ax.text(0.5, 0.5, "no method of this experiment uses kNN distances",
                ha="center", va="center", transform=ax.transAxes)
    else:
        radius = np.where(records["correct"].to_numpy(bool), records["radius"], 0.0)
        for method in dict.fromkeys(records["method"]):
            sel = (records["method"] == method).to_numpy()
            ax.scatter(distance[sel], radius[sel], s=6, alpha=0.4, label=method)
        ax.legend(fontsize=7, markerscale=2)
    ax.set(xlabel="mean distance to the k nearest training points",
           ylabel="certified radius (0 if wrong)", title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def regions_figure(x, y, circles, grid_x, grid_y, decisions: dict, title: str):
    """The paper's Figure 1 (left, middle) / Figure 8 (right) for 2-D data.

    Left: the test points by class, with circles of radius ``circles`` (sigma(x) at each
    point). Middle: the same points and the decision boundary of each smoothed classifier
    in ``decisions`` ({method: predicted class on the grid ``grid_x`` x ``grid_y``,
    shape (len(grid_y), len(grid_x))}), one colour per method. Right: the same, zoomed on
    the lattice points where the methods disagree (Figure 1's middle panel).
    """
    plt = _pyplot()
    from matplotlib.collections import EllipseCollection
    from matplotlib.lines import Line2D
    fig, (left, middle, zoom) = plt.subplots(1, 3, figsize=(16, 5))
    for ax in (left, middle, zoom):
        ax.scatter(x[:, 0], x[:, 1], c=y, cmap="coolwarm", s=6, zorder=3)
        ax.set_aspect("equal")
        ax.set(xlim=(grid_x[0], grid_x[-1]), ylim=(grid_y[0], grid_y[-1]))
    diameters = 2 * np.asarray(circles, dtype=float)
    left.add_collection(EllipseCollection(diameters, diameters, 0.0, units="x",
                                          offsets=x, offset_transform=left.transData,
                                          facecolors="none", edgecolors="tab:green",
                                          linewidths=0.4, alpha=0.5))
    left.set_title("test points and sigma(x) (circle radius)")
    handles = []
    colors = ["tab:red", "tab:green", "tab:blue", "tab:orange"]
    for (method, decision), color in zip(decisions.items(), colors):
        for ax in (middle, zoom):
            ax.contour(grid_x, grid_y, np.asarray(decision, dtype=float),
                       levels=np.arange(np.max(decision)) + 0.5, colors=color)
        handles.append(Line2D([], [], color=color, label=method))
    middle.legend(handles=handles, fontsize=8)
    middle.set_title("decision boundaries of the smoothed classifiers")
    stacked = np.stack([np.asarray(d) for d in decisions.values()])
    rows, cols = np.nonzero((stacked != stacked[0]).any(axis=0))
    if len(rows):
        pad_x, pad_y = 0.1 * np.ptp(grid_x), 0.1 * np.ptp(grid_y)
        zoom.set(xlim=(grid_x[cols.min()] - pad_x, grid_x[cols.max()] + pad_x),
                 ylim=(grid_y[rows.min()] - pad_y, grid_y[rows.max()] + pad_y))
        zoom.set_title(f"zoom: where they disagree ({len(rows)} lattice points)")
    else:
        zoom.set_title("the smoothed classifiers agree everywhere on the lattice")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def dimension_gain_figure(gains: pd.DataFrame):
    """``gains``: rows of :func:`idrs.results.dimension.dimension_gains`. One panel per
    metric, N on a log axis; per kind of baseline, ours as points with their interval
    (offset sideways so kinds do not hide each other), the paper's printed gains as
    black diamonds, and zero as a line."""
    plt = _pyplot()
    metrics = list(dict.fromkeys(gains.metric))
    kinds = list(dict.fromkeys(gains.kind))  # one marker and colour per kind in every panel
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 5), squeeze=False)
    names = {"accuracy": "clean accuracy", "acr": "average certified radius"}
    for ax, metric in zip(axes[0], metrics):
        rows = gains[gains.metric == metric]
        for kind, group in rows.groupby("kind", sort=False):
            i = kinds.index(kind)
            x = group.N * (1.0 + 0.06 * (i - 0.5))
            ax.errorbar(x, group.ours, yerr=[group.ours - group.ci_low,
                                             group.ci_high - group.ours],
                        fmt=MARKERS[i], color=f"C{i}", capsize=3, label=f"ours, {kind}")
        paper = rows.dropna(subset=["paper"])
        if len(paper):
            ax.plot(paper.N, paper.paper, "D", mfc="none", color="black",
                    label="paper, over its constant sigma")
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_xticks(sorted(rows.N.unique()), [str(n) for n in sorted(rows.N.unique())])
        ax.set_xticks([], minor=True)  # a log axis' minor labels would crowd the N
        ax.set(xlabel="input dimension N", ylabel=f"gain in {names.get(metric, metric)}",
               title=f"sigma(x) minus constant sigma: {names.get(metric, metric)}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    fig.suptitle("The curse of dimensionality (Table 5): intervals over seeds and images",
                 fontsize=9)
    fig.tight_layout()
    return fig


def save(fig, stem) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` and close the figure."""
    stem = Path(stem)
    paths = [stem.with_suffix(suffix) for suffix in (".png", ".pdf")]
    for path in paths:
        fig.savefig(path, dpi=150)
    _pyplot().close(fig)
    return paths

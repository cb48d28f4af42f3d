"""Figures and the experiment report, checked on the data they draw (not on pixels)."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection, PolyCollection

from idrs.results import figures
from idrs.results.report import experiment_report


@pytest.fixture
def records(rng):
    """Two methods x three seeds x 40 test points of two classes; only IDRS has kNN
    distances, as in the workflow."""
    rows = []
    for method, has_knn in (("const", False), ("idrs", True)):
        for seed in (0, 1, 2):
            idx = np.arange(40)
            correct = rng.random(40) < (0.7 if method == "const" else 0.8)
            rows.append(pd.DataFrame({
                "method": method, "train_seed": seed, "idx": idx, "label": idx % 2,
                "predict": np.where(correct, idx % 2, -1), "correct": correct,
                "radius": rng.random(40), "sigma": 0.5 if not has_knn else 0.4 + 0.01 * idx,
                "knn_distance": 0.1 * idx if has_knn else np.nan}))
    return pd.concat(rows, ignore_index=True)


def test_certified_accuracy_figure_draws_means_and_sd_bands():
    radii = np.linspace(0, 1, 5)
    curves = {"a": np.array([[1, .8, .6, .4, .2], [1, .6, .4, .2, 0]]), "b": np.ones((1, 5))}
    fig = figures.certified_accuracy_figure(curves, radii, "t")
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [1, .7, .5, .3, .1])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), np.ones(5))
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 1  # 1 seed: no band
    assert "±1 SD across seeds" in ax.get_legend().get_title().get_text()
    assert "2 seeds" in ax.get_legend().get_texts()[0].get_text()
    # coinciding curves stay distinguishable: their own line style and marker
    styles = {(line.get_linestyle(), line.get_marker()) for line in ax.lines}
    assert len(styles) == 2


def test_accuracy_figure_marks_the_papers_value():
    runs = pd.DataFrame({"method": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1],
                         "accuracy": [0.90, 0.92, 0.80, 0.84]})
    fig = figures.accuracy_figure(runs, "t", {"b": 0.943})
    ax = fig.axes[0]
    means = np.asarray(ax.lines[0].get_xdata(), dtype=float)
    np.testing.assert_allclose(means, [0.91, 0.82])
    cross = [line for line in ax.lines if line.get_marker() == "x"][0]
    assert list(cross.get_xdata()) == [0.943] and list(cross.get_ydata()) == [1]


def test_accuracy_error_bars_stay_within_zero_and_one():
    runs = pd.DataFrame({"method": ["a"] * 3, "seed": [0, 1, 2],
                         "accuracy": [1.0, 1.0, 0.91]})  # mean 0.97, SD 0.052
    ax = figures.accuracy_figure(runs, "t").axes[0]
    segments = ax.collections[0].get_segments()  # the horizontal error bar
    low, high = segments[0][:, 0]
    assert high == 1.0 and np.isclose(low, 0.97 - np.std([1, 1, 0.91], ddof=1))


def test_classwise_figure_draws_per_class_means_and_the_std(records):
    from idrs.results.aggregate import per_class_accuracy
    per_class = pd.DataFrame([
        {"method": m, "seed": s, "label": c, "accuracy": a}
        for (m, s), g in records.groupby(["method", "train_seed"], sort=False)
        for c, a in per_class_accuracy(g).items()])
    runs = pd.DataFrame({"method": ["const"] * 3 + ["idrs"] * 3, "seed": [0, 1, 2] * 2,
                         "classwise_std": [0.1, 0.2, 0.3, 0.0, 0.05, 0.1]})
    fig = figures.classwise_figure(per_class, runs, "t")
    left, right = fig.axes
    const = records[records.method == "const"].groupby("label")["correct"].mean()
    np.testing.assert_allclose(np.asarray(left.lines[0].get_ydata(), dtype=float), const)
    np.testing.assert_allclose([p.get_height() for p in right.patches], [0.2, 0.05])


def test_radius_distance_figure_borrows_distances_by_index(records):
    fig = figures.radius_distance_figure(records, "t")
    points = [c for c in fig.axes[0].collections if isinstance(c, PathCollection)]
    const = records[records.method == "const"]
    xy = points[0].get_offsets()
    np.testing.assert_allclose(xy[:, 0], 0.1 * const["idx"].to_numpy())
    np.testing.assert_allclose(xy[:, 1], np.where(const["correct"], const["radius"], 0.0))


def test_experiment_report_writes_every_figure_and_the_papers_values(records, tmp_path):
    runs = experiment_report(records, tmp_path, title="toy", comparisons=[("idrs", "const")],
                             table_radii=[0.5], paper={"idrs": {"accuracy": 0.96}})
    for stem in ("certified_accuracy", "accuracy", "classwise", "radius_distance"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 0
        assert (tmp_path / f"{stem}.pdf").exists()
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary["accuracy (paper)"].tolist()[1] == 0.96
    assert {"acr", "median_sigma", "mean_sigma"} <= set(summary.columns)
    per_class = pd.read_csv(tmp_path / "per_class.csv")
    assert len(per_class) == 2 * 3 * 2  # methods x seeds x classes
    assert set(runs.columns) >= {"acr", "median_sigma"}


def test_regions_figure_draws_sigma_circles_and_one_boundary_per_method(rng):
    from matplotlib.collections import EllipseCollection
    x = rng.uniform(-1, 1, (30, 2))
    gx = gy = np.linspace(-1, 1, 20)
    xx, yy = np.meshgrid(gx, gy)
    decisions = {"const": (xx > 0).astype(int), "idrs": (xx > 0.1).astype(int)}
    circles = rng.uniform(0.05, 0.2, 30)
    fig = figures.regions_figure(x, (x[:, 0] > 0).astype(int), circles, gx, gy, decisions, "t")
    left, right, zoom = fig.axes
    ellipses = [c for c in left.collections if isinstance(c, EllipseCollection)][0]
    np.testing.assert_allclose(ellipses._widths, circles)  # matplotlib stores half-widths
    boundaries = [c for c in right.collections if not isinstance(c, PathCollection)]
    assert len(boundaries) == 2
    # each boundary is the vertical line where its decision switches
    for contour, at in zip(boundaries, (0.0, 0.1)):
        xs = np.concatenate([p.vertices[:, 0] for p in contour.get_paths()])
        assert np.all(np.abs(xs - at) <= gx[1] - gx[0])
    assert [t.get_text() for t in right.get_legend().get_texts()] == ["const", "idrs"]
    # the zoom frames the columns where the two decisions differ (0 < x <= 0.1), padded
    lo, hi = zoom.get_xlim()
    assert lo < 0.0 and hi > 0.1 and hi - lo < 2 * (gx[-1] - gx[0])
    assert "disagree (20 lattice points)" in zoom.get_title()


def test_a_method_covering_fewer_images_is_flagged(records, tmp_path, caplog):
    """A published file with 10 of the 40 images: the summary says how many images each
    method covers, and the caption and the log warn."""
    part = records[(records.method == "const") & (records.idx < 10) & (records.train_seed == 0)]
    both = pd.concat([records[records.method == "idrs"], part.assign(method="pub")])
    experiment_report(both, tmp_path, title="toy", table_radii=[0.5])
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary.set_index("method")["images"].to_dict() == {"idrs": 40, "pub": 10}
    assert summary.set_index("method")["accuracy"]["pub"].endswith("± n/a")  # one seed
    warning = "pub covers 10 of the 40 images certified in this experiment"
    assert warning in (tmp_path / "summary.md").read_text() and warning in caplog.text


def test_spread_rows_and_median_seconds_per_image(records, tmp_path):
    """Repeated certifications pooled into one row (E.6.1), and per-method median
    seconds of sampling and of the radius search (the paper's timing claims)."""
    one = records[records.train_seed == 0]
    repeats = pd.concat([one.assign(method=f"noise {i}",
                                    correct=np.roll(one.correct.to_numpy(), i))
                         for i in range(3)], ignore_index=True)
    repeats["time"], repeats["radius_time"] = 0.5, 0.002
    experiment_report(repeats, tmp_path, title="t", table_radii=[0.5],
                      spread={"3 certifications": ["noise 0", "noise 1", "noise 2"]})
    numbers = pd.read_csv(tmp_path / "summary_numbers.csv").set_index("method")
    pooled = numbers.loc["3 certifications (spread over 3 runs)"]
    each = numbers.loc[["noise 0", "noise 1", "noise 2"], "accuracy"]
    assert pooled["accuracy"] == pytest.approx(each.mean())
    assert pooled["accuracy_std"] == pytest.approx(each.std(ddof=1))
    assert numbers.loc["noise 0", "s_sampling"] == 0.5
    assert numbers.loc["noise 0", "s_radius"] == 0.002

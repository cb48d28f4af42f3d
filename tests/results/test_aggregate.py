"""Merging shards: a corrupt or overlapping shard is an error naming the file, never data."""

import numpy as np
import pandas as pd
import pytest

from idrs.files import TableError, write_table
from idrs.results.aggregate import (
    classwise_accuracy_std,
    classwise_std_corrected,
    merge_shards,
    summarise_run,
    summarise_runs,
)


def shard(path, indices, run="m"):
    df = pd.DataFrame({"idx": indices, "label": np.zeros(len(indices), dtype=int),
                       "predict": np.zeros(len(indices), dtype=int),
                       "radius": np.full(len(indices), 0.3), "correct": True, "model": run,
                       "sigma": 0.25})
    write_table(df, path)
    return path


def test_merge_shards_sorts_and_concatenates(tmp_path):
    merged = merge_shards([shard(tmp_path / "b.parquet", [3, 2]), shard(tmp_path / "a.parquet", [0, 1])])
    assert merged.idx.tolist() == [0, 1, 2, 3]


def test_truncated_shard_names_the_file_and_the_fix(tmp_path):
    good = shard(tmp_path / "a.parquet", [0, 1])
    bad = shard(tmp_path / "b.parquet", [2, 3])
    bad.write_bytes(bad.read_bytes()[:40])  # a node died mid-copy
    with pytest.raises(TableError, match=r"b.parquet is not a readable Parquet table.*certify"):
        merge_shards([good, bad])
    with pytest.raises(TableError, match="missing"):
        merge_shards([good, tmp_path / "never_written.parquet"])


def test_overlapping_shards_are_refused(tmp_path):
    with pytest.raises(TableError, match="index 1 appears in two shards"):
        merge_shards([shard(tmp_path / "a.parquet", [0, 1]), shard(tmp_path / "b.parquet", [1, 2])])


def test_two_evaluations_with_equal_records_stay_two_runs(tmp_path):
    """A compile mode left to the device's default and the same mode named give records
    equal on every other key: the evaluation folder keeps the runs apart."""
    paths = []
    for evaluation in ("s0.25-n100", "s0.25-n100-compilemax-autotune"):
        (tmp_path / evaluation).mkdir()
        paths.append(shard(tmp_path / evaluation / "0.parquet", [0, 1]))
    merged = merge_shards(paths, with_run=True)
    assert sorted(set(merged.evaluation)) == ["s0.25-n100", "s0.25-n100-compilemax-autotune"]
    assert len(summarise_runs(merged, [0.25])) == 2
    with pytest.raises(TableError, match="two shards"):  # without the folders: one run
        merge_shards(paths)


def test_run_summary_follows_the_papers_definitions():
    records = pd.DataFrame({"label": [0, 0, 1, 1], "predict": [0, -1, 1, 0],
                            "correct": [True, False, True, False], "radius": [0.6, 0.0, 0.2, 0.1],
                            "sigma": [0.2, 0.3, 0.4, 1.1]})
    row = summarise_run(records, [0.25, 0.5])
    # ACR: radii of correct inputs, 0 for the rest (the misclassified 0.1 counts 0)
    assert row["acr"] == pytest.approx((0.6 + 0.2) / 4)
    assert row["mean_sigma"] == pytest.approx(0.5) and row["median_sigma"] == pytest.approx(0.35)
    assert row["accuracy"] == 0.5 and row["abstention"] == 0.25 and row["misclassification"] == 0.25
    assert row["classwise_std"] == 0.0  # both classes at 1/2
    assert row["certified_0.25"] == 0.25 and row["certified_0.5"] == 0.25


def _classes(rng, accuracies, per_class=50):
    labels = np.repeat(np.arange(len(accuracies)), per_class)
    correct = rng.random(len(labels)) < np.repeat(accuracies, per_class)
    return pd.DataFrame({"label": labels, "correct": correct})


def test_classwise_std_correction_removes_the_small_sample_floor():
    # 10 classes, 50 images each, no true spread: the raw SD sits near 0.05 and is
    # lower for the more accurate method by construction; the corrected one does not
    rng = np.random.default_rng(0)
    raw = {p: [] for p in (0.80, 0.85)}
    corrected = {p: [] for p in raw}
    for _ in range(300):
        for p in raw:
            records = _classes(rng, [p] * 10)
            raw[p].append(classwise_accuracy_std(records))
            corrected[p].append(classwise_std_corrected(records) ** 2)
    assert 0.045 < np.mean(raw[0.80]) < 0.06
    assert np.mean(raw[0.80]) - np.mean(raw[0.85]) > 0.002  # the mechanical gap
    # the corrected variance is floored at 0, so its mean is small, not exactly 0
    assert np.mean(corrected[0.80]) < 0.25 * np.mean(np.square(raw[0.80]))
    assert abs(np.mean(corrected[0.80]) - np.mean(corrected[0.85])) < 3e-4


def test_classwise_std_correction_keeps_a_real_spread():
    rng = np.random.default_rng(1)
    accuracies = np.linspace(0.65, 0.95, 10)  # true population SD 0.0957
    samples = [_classes(rng, accuracies) for _ in range(300)]
    corrected = np.mean([classwise_std_corrected(r) ** 2 for r in samples])
    raw = np.mean([classwise_accuracy_std(r) ** 2 for r in samples])
    truth = accuracies.var()  # the variances: the correction is unbiased for them
    assert abs(corrected - truth) < 0.0006 and raw - truth > 0.002

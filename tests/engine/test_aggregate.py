"""Merging shards: a corrupt or overlapping shard is an error naming the file, never data."""

import numpy as np
import pandas as pd
import pytest

from idrs.aggregate import merge_shards, summarise_run
from idrs.records import TableError, write_table


def shard(path, indices, run="m"):
    df = pd.DataFrame({"idx": indices, "label": np.zeros(len(indices), dtype=int),
                       "predict": np.zeros(len(indices), dtype=int),
                       "radius": np.full(len(indices), 0.3), "correct": True, "model": run})
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

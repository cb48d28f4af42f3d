"""The columns of a certification record (written with :func:`idrs.files.write_table`)."""

from __future__ import annotations

__all__ = ["RECORD_COLUMNS"]

#: Columns of a certification record, in order: Cohen et al.'s six, the Monte Carlo
#: details, then the provenance of the run (their meaning: docs/workflow.md, "Records").
RECORD_COLUMNS = [
    "idx", "label", "predict", "radius", "correct", "time",
    "sigma", "knn_distance", "count_top", "n", "dim", "noise_dim", "p_a", "sigma_slack",
    "radius_time",
    "dataset", "arch", "model", "model_sha256", "train_seed", "sigma_train", "train_rate",
    "train_precision", "sigma_b", "rate", "sigma_max", "sigma_mean",
    "k", "m", "clamp", "n0", "alpha", "noise_seed", "shard_start", "shard_stop", "skip",
    "precision", "compile", "code_version"]

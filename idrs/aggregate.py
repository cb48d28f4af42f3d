"""Merging certification shards, and one summary row per run.

A *run* is one trained model (dataset, architecture, training setting, seed) certified
under one evaluation setting. Its summary holds the numbers of the paper's tables: clean
accuracy (Table 2; certified accuracy at radius 0), abstention and misclassification
rates (Tables 4, 11), the standard deviation of class-wise accuracies (Table 3), the
average certified radius (ACR: the radius of correct inputs, 0 for the others, averaged
over all inputs), the mean and median sigma(x) of the inputs, and certified accuracy at
a grid of radii (Figure 4).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .records import TableError, read_table

__all__ = ["merge_shards", "certified_accuracy", "per_class_accuracy", "summarise_run",
           "summarise_runs", "label_runs", "RUN_KEYS"]

#: Columns that identify a run in the records.
RUN_KEYS = ["dataset", "arch", "model", "sigma_train", "train_rate", "train_seed", "sigma_b",
            "rate", "k", "m", "clamp", "n0", "n", "alpha", "noise_seed", "skip", "precision",
            "compile"]


def merge_shards(paths, folder_column=None) -> pd.DataFrame:
    """Concatenate shard tables; a missing or unreadable shard, or an index certified
    twice, is an error naming the file (rerun its certify job). ``folder_column``: also
    record each row's shard folder (its run's folder) in that column."""
    frames = []
    for path in paths:
        df, _ = read_table(path, "rerun its certify job (snakemake reruns it when deleted)")
        if folder_column:
            df[folder_column] = str(Path(path).parent)
        frames.append(df)
    merged = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(merged):
        keys = [c for c in RUN_KEYS + ["idx"] if c in merged.columns]
        dup = merged.duplicated(keys)
        if dup.any():
            raise TableError(f"index {int(merged.idx[dup].iloc[0])} appears in two shards of "
                             "one run: overlapping shards; rerun the certify jobs.")
        merged = merged.sort_values(keys, kind="stable", ignore_index=True)
    return merged


def certified_accuracy(records: pd.DataFrame, radii) -> np.ndarray:
    """Cohen et al.'s certified accuracy: the fraction of *all* inputs that are correct
    with radius >= r, for each r (abstentions count as wrong)."""
    radii = np.atleast_1d(np.asarray(radii, dtype=np.float64))
    correct = records["correct"].to_numpy(bool)
    radius = records["radius"].to_numpy(np.float64)
    return (correct[None, :] & (radius[None, :] >= radii[:, None])).mean(axis=1)


def per_class_accuracy(records: pd.DataFrame) -> pd.Series:
    """Accuracy of each class (abstentions count as wrong), indexed by label."""
    return records.groupby("label")["correct"].mean()


def classwise_accuracy_std(records: pd.DataFrame) -> float:
    """Standard deviation (population, ddof = 0) of the per-class accuracies (Table 3)."""
    return float(per_class_accuracy(records).std(ddof=0))


def summarise_run(records: pd.DataFrame, radii) -> dict:
    """The table numbers of one run's records (abstentions count as wrong)."""
    correct = records["correct"].to_numpy(bool)
    abstain = (records["predict"] == -1).to_numpy()
    radius = records["radius"].to_numpy(float)
    row = {"inputs": len(records), "accuracy": correct.mean(), "abstention": abstain.mean(),
           "misclassification": (~correct & ~abstain).mean(),
           "classwise_std": classwise_accuracy_std(records),
           "acr": float(np.where(correct, radius, 0.0).mean()),
           "mean_sigma": float(records["sigma"].mean()),
           "median_sigma": float(records["sigma"].median())}
    for r, value in zip(radii, certified_accuracy(records, radii)):
        row[f"certified_{r:g}"] = float(value)
    return row


def summarise_runs(records: pd.DataFrame, radii) -> pd.DataFrame:
    """One row per run (grouped by :data:`RUN_KEYS` present in ``records``)."""
    keys = [c for c in RUN_KEYS if c in records.columns]
    rows = [{**dict(zip(keys, key if isinstance(key, tuple) else (key,))),
             **summarise_run(group, radii)}
            for key, group in records.groupby(keys, dropna=False, sort=True)]
    return pd.DataFrame(rows)


def _key(values) -> tuple:
    """Run keys as a dict key: NaN (an unset m, say) equals NaN, 3 equals 3.0."""
    return tuple("nan" if pd.isna(v) else repr(float(v)) if isinstance(v, (int, float, np.number))
                 and not isinstance(v, bool) else str(v) for v in values)


def label_runs(runs: pd.DataFrame, folders: pd.DataFrame, labels: dict) -> pd.DataFrame:
    """``runs`` (:func:`summarise_runs`) with the experiment and method label of each
    (one row per experiment method showing the run), a ``model`` that is a name for
    runs and baselines alike, and ``model_file`` (the model's or the TSV's path).

    ``labels``: ``{"runs": {run folder: [[experiment, label], ...]}, "baselines":
    {baseline name: [experiment, ...]}}``; ``folders``: the runs' records with their
    shard folder in a ``folder`` column (:func:`merge_shards`).
    """
    keys = [c for c in RUN_KEYS if c in runs.columns]
    files = {_key(row[keys]): row["folder"]  # run keys -> run folder
             for _, row in folders.drop_duplicates(keys).iterrows()}
    rows = []
    for _, run in runs.iterrows():
        folder = files.get(_key(run[keys]))
        base = {**run.to_dict(), "model_file": run["model"]}
        if folder is not None:
            base["model"] = Path(folder).parents[1].name  # results/certify/<model>/seedS/<eval>
            shown = labels["runs"].get(folder, [])
        else:  # a published baseline: model holds its name
            base["model_file"] = "published"
            shown = [[e, f"{run['model']} (published)"]
                     for e in labels["baselines"].get(run["model"], [])]
        rows += [{"experiment": e, "method": m, **base} for e, m in shown] or [
            {"experiment": "", "method": "", **base}]
    return pd.DataFrame(rows)

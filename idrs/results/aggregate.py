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

from ..files import TableError, read_table

__all__ = ["merge_shards", "certified_accuracy", "per_class_accuracy", "summarise_run",
           "summarise_runs", "label_runs", "classwise_accuracy_std",
           "classwise_std_corrected", "image_values", "IMAGE_METRICS", "RUN_KEYS"]

#: Columns that identify a run in the records.
RUN_KEYS = ["dataset", "arch", "model", "sigma_train", "train_rate", "train_seed", "sigma_b",
            "rate", "sigma_max", "sigma_mean", "k", "m", "clamp", "n0", "n", "alpha", "noise_seed",
            "skip", "precision", "compile", "evaluation"]


#: Per-image values of the derived metrics (abstentions count as wrong).
IMAGE_METRICS = {
    "accuracy": lambda r: r["correct"].to_numpy(bool),
    "abstention": lambda r: (r["predict"] == -1).to_numpy(),
    "misclassification": lambda r: ~r["correct"].to_numpy(bool) & (r["predict"] != -1).to_numpy(),
    "acr": lambda r: np.where(r["correct"].to_numpy(bool), r["radius"].to_numpy(float), 0.0),
    "mean_sigma": lambda r: r["sigma"].to_numpy(float),
}


def image_values(records: pd.DataFrame, metric: str) -> np.ndarray:
    """Per-image values of ``metric``: a derived metric of :data:`IMAGE_METRICS`,
    ``certified_<r>`` (correct with radius >= r), or any numeric or boolean column."""
    if metric in IMAGE_METRICS:
        values = IMAGE_METRICS[metric](records)
    elif metric.startswith("certified_"):
        radius = float(metric.removeprefix("certified_"))
        values = records["correct"].to_numpy(bool) & (records["radius"].to_numpy(float) >= radius)
    elif metric in records.columns:
        values = records[metric].to_numpy()
    else:
        raise KeyError(f"metric {metric!r} is neither a column of the records "
                       f"({list(records.columns)}) nor one of {sorted(IMAGE_METRICS)} or "
                       "certified_<radius>.")
    return np.asarray(values, dtype=float)


def merge_shards(paths, with_run=False) -> pd.DataFrame:
    """Concatenate shard tables; a missing or unreadable shard, or an index certified
    twice, is an error naming the file (rerun its certify job). ``with_run``: also
    record each row's run folder (``folder``, results/certify/<model>/seed<S>/<evaluation>),
    its ``evaluation`` id, the folder's name, which tells apart two evaluations whose
    records agree on every other run key (a compile mode left to the device's default and
    the same mode named), and ``run``, ``<model>/<evaluation>``: what two experiments'
    methods share when they are the same run."""
    frames = []
    for path in paths:
        df, _ = read_table(path, "rerun its certify job (snakemake reruns it when deleted)")
        if with_run:
            folder = Path(path).parent
            df["folder"], df["evaluation"] = str(folder), folder.name
            df["run"] = f"{folder.parents[1].name}/{folder.name}"
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


def _class_counts(records):
    grouped = records.groupby("label")["correct"]
    return grouped.mean().to_numpy(float), grouped.size().to_numpy(float)


def classwise_std_corrected(records: pd.DataFrame) -> float:
    r"""Class-wise std with its small-sample floor removed.

    With C classes of n_c images, the population variance of the estimated class
    accuracies exceeds the true between-class variance by
    :math:`\frac{C-1}{C}\,\overline{p_c(1-p_c)/n_c}` on average, so a method that is
    more accurate has a lower raw value mechanically. Subtracting the unbiased estimate
    :math:`\frac{C-1}{C}\,\overline{\hat p_c(1-\hat p_c)/(n_c-1)}` and flooring at 0
    gives the corrected SD (at 50 images per class and accuracy 0.8 the raw value of
    classes that are truly equal is about 0.05; the corrected one is about 0).
    """
    return _corrected_sd(*_class_counts(records))


def _corrected_sd(p, n) -> float:
    if len(p) < 2 or np.any(n < 2):
        return np.nan
    floor = (len(p) - 1) / len(p) * np.mean(p * (1 - p) / (n - 1))
    return float(np.sqrt(max(0.0, p.var() - floor)))


def _test_set_se(n: int, values: dict, p, counts) -> dict:
    """Standard error of each metric from sampling the ``n`` test images (per-image SD
    over sqrt(n); the class-wise std by the delta method over class accuracies ``p``)."""
    out = {f"{name}_se_images": float(np.std(v, ddof=1) / np.sqrt(n)) if n > 1 else np.nan
           for name, v in values.items()}
    spread = p.std()
    var_p = p * (1 - p) / np.maximum(counts - 1, 1)
    var_var = np.sum((2 / len(p) * (p - p.mean())) ** 2 * var_p)
    out["classwise_std_se_images"] = float(np.sqrt(var_var) / (2 * spread) if spread > 0
                                           else np.sqrt(np.mean(var_p)))
    return out


def summarise_run(records: pd.DataFrame, radii) -> dict:
    """The table numbers of one run's records (abstentions count as wrong), and the
    standard error of each from sampling the test images (``<metric>_se_images``)."""
    values = {name: image_values(records, name)
              for name in ("accuracy", "abstention", "misclassification", "acr",
                           "mean_sigma")}
    values.update({f"certified_{r:g}": image_values(records, f"certified_{r:g}")
                   for r in radii})
    p, counts = _class_counts(records)  # the class accuracies, once for all three
    row = {"inputs": len(records),
           **{name: float(v.mean()) for name, v in values.items()},
           "classwise_std": float(p.std()),  # population SD, as classwise_accuracy_std
           "classwise_std_corrected": _corrected_sd(p, counts),
           "median_sigma": float(records["sigma"].median())}
    return {**row, **_test_set_se(len(records), values, p, counts)}


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

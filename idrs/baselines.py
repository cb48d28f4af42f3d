"""Published per-image certification results in Cohen et al.'s TSV format.

Cohen et al.'s ``certify.py`` writes ``idx label predict radius correct time`` with the
radius printed to 3 significant digits and the time as a ``datetime.timedelta`` string
(``0:00:13.736080``); many later papers publish the same files. They become records in
the project's own schema, with the dataset, model and sigma given by the user.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import __version__
from .records import RECORD_COLUMNS

__all__ = ["read_cohen_tsv", "parse_duration"]

COHEN_COLUMNS = ["idx", "label", "predict", "radius", "correct", "time"]


def parse_duration(text) -> float:
    """Seconds from ``H:MM:SS[.ffffff]`` (timedelta's str) or a plain number of seconds."""
    text = str(text).strip()
    if ":" not in text:
        return float(text)
    days = 0
    if "day" in text:  # "1 day, 0:00:01"
        head, text = text.split(",")
        days = int(head.split()[0])
    h, m, s = text.split(":")
    return days * 86400 + int(h) * 3600 + int(m) * 60 + float(s)


def read_cohen_tsv(path, *, dataset, arch, sigma, model=None, seed=0) -> pd.DataFrame:
    """Records of a Cohen-format TSV, with the project's columns and provenance.

    Rows with unparseable fields or missing columns raise ``ValueError`` naming the file
    and line. A trailing summary line that some forks append is ignored only if it does
    not start with an integer index.
    """
    raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in COHEN_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {missing} of Cohen et al.'s format "
                         f"({' '.join(COHEN_COLUMNS)}).")
    raw = raw[raw["idx"].str.strip().str.fullmatch(r"\d+")]
    try:
        records = pd.DataFrame({
            "idx": raw["idx"].astype(np.int64).to_numpy(),
            "label": raw["label"].astype(np.int64).to_numpy(),
            "predict": raw["predict"].astype(np.int64).to_numpy(),
            "radius": raw["radius"].astype(float).to_numpy(),
            "correct": raw["correct"].astype(np.int64).astype(bool).to_numpy(),
            "time": raw["time"].map(parse_duration).to_numpy(float)})
    except (ValueError, TypeError) as err:
        raise ValueError(f"{path} has a row that is not in Cohen et al.'s format: {err}") from None
    records["sigma"] = float(sigma)
    records["knn_distance"] = np.nan
    records["count_top"] = -1
    records["n"] = -1
    records["p_a"] = np.nan
    records["dataset"], records["arch"] = dataset, arch
    records["model"] = model or f"published:{path}"
    for key, value in {"train_seed": seed, "sigma_train": float(sigma), "train_rate": 0.0,
                       "sigma_b": float(sigma), "rate": 0.0, "k": -1, "m": np.nan, "clamp": "", "precision": "", "compile": "", "n0": -1,
                       "alpha": np.nan, "noise_seed": -1, "shard_start": 0, "shard_stop": -1,
                       "skip": 1, "code_version": f"imported by idrs {__version__}"}.items():
        records[key] = value
    return records[RECORD_COLUMNS]

"""Published per-image certification results in Cohen et al.'s TSV format.

Cohen et al.'s ``certify.py`` writes ``idx label predict radius correct time`` with the
radius printed to 3 significant digits and the time as a ``datetime.timedelta`` string
(``0:00:13.736080``); many later papers publish the same files. They become records in
the project's own schema, with the dataset, model and sigma given by the user.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..files import file_sha256
from .records import RECORD_COLUMNS

__all__ = ["read_cohen_tsv", "parse_duration", "check_baseline_file"]

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


def check_baseline_file(path):
    """Refuse, with the reason, a path that is not an existing tab-separated text table."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"baseline file {str(path)!r} does not exist; place Cohen et "
                                "al.'s certify output there or correct its path.")
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"PAR1"):
        raise ValueError(f"{path} is a Parquet file, not Cohen et al.'s tab-separated text. "
                         "Baselines are published TSVs; records idrs wrote are compared by "
                         "adding their run as a method of the experiment.")
    first = head.decode("utf-8", errors="replace").splitlines()[0] if head else ""
    if "\t" not in first and all(c in first for c in COHEN_COLUMNS):
        sep = "comma" if "," in first else "space" if " " in first else "an unknown"
        raise ValueError(f"{path} is not tab-separated (its header is {sep}-separated: "
                         f"{first.strip()!r}); Cohen et al.'s format separates the columns "
                         f"{' '.join(COHEN_COLUMNS)} by tabs.")


def _parse_rows(raw):
    return pd.DataFrame({
        "idx": raw["idx"].astype(np.int64).to_numpy(),
        "label": raw["label"].astype(np.int64).to_numpy(),
        "predict": raw["predict"].astype(np.int64).to_numpy(),
        "radius": raw["radius"].astype(float).to_numpy(),
        "correct": raw["correct"].astype(np.int64).to_numpy(),
        "time": raw["time"].map(parse_duration).to_numpy(float)})


def read_cohen_tsv(path, *, dataset, arch, sigma, model=None, seed=0) -> pd.DataFrame:
    """Records of a Cohen-format TSV, with the project's columns and provenance.

    A file that is not such a table (Parquet, comma-separated), missing columns, a field
    that does not parse, or a row that contradicts itself (``correct`` not equal to
    ``predict == label``, a negative radius, a radius on an abstention) raise
    ``ValueError`` naming the file and the line. A trailing summary line that some forks
    append is ignored only if it does not start with an integer index.
    """
    if not sigma > 0:
        raise ValueError(f"sigma == {sigma}, must be > 0 (the noise level the published "
                         "model was certified with).")
    check_baseline_file(path)
    try:
        raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a UTF-8 text file; Cohen et al.'s format is "
                         "tab-separated text.") from None
    missing = [c for c in COHEN_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {missing} of Cohen et al.'s format "
                         f"({' '.join(COHEN_COLUMNS)}).")
    raw = raw[raw["idx"].str.strip().str.fullmatch(r"\d+")]
    try:
        parsed = _parse_rows(raw)
    except (ValueError, TypeError):
        for position in range(len(raw)):  # the first row that fails, for its line number
            try:
                _parse_rows(raw.iloc[position:position + 1])
            except (ValueError, TypeError) as err:
                raise ValueError(f"{path}, line {raw.index[position] + 2}: not in Cohen et "
                                 f"al.'s format ({err}).") from None
        raise
    bad = ((parsed.correct != (parsed.predict == parsed.label)) | (parsed.radius < 0)
           | ((parsed.predict == -1) & (parsed.radius != 0)) | (parsed.predict < -1)
           | ~parsed.correct.isin([0, 1]))
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        row = raw.iloc[position]
        raise ValueError(f"{path}, line {raw.index[position] + 2}: the row contradicts itself "
                         f"({' '.join(f'{c}={row[c]}' for c in COHEN_COLUMNS)}): correct "
                         "must be 1 exactly when predict == label, radius >= 0, and radius "
                         "0 when predict is -1 (abstain).")
    records = parsed.assign(correct=parsed.correct.astype(bool))
    records["sigma"] = float(sigma)
    records["knn_distance"] = np.nan
    records["count_top"] = -1
    records["n"] = -1
    records["dim"] = records["noise_dim"] = -1
    records["p_a"] = records["sigma_slack"] = np.nan
    records["radius_time"] = np.nan
    records["dataset"], records["arch"] = dataset, arch
    records["model"] = model or f"published:{path}"
    records["model_sha256"] = file_sha256(path)  # of the published file itself
    for key, value in {"train_seed": seed, "sigma_train": float(sigma), "train_rate": 0.0,
                       "train_precision": "", "sigma_b": float(sigma), "rate": 0.0,
                       "sigma_max": np.nan, "sigma_mean": np.nan, "k": -1,
                       "m": np.nan, "clamp": "", "precision": "", "compile": "", "n0": -1,
                       "alpha": np.nan, "noise_seed": -1, "shard_start": 0, "shard_stop": -1,
                       "skip": 1, "code_version": f"imported by idrs {__version__}"}.items():
        records[key] = value
    return records[RECORD_COLUMNS]

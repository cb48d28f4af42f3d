"""Parquet tables of results, written atomically with their provenance as metadata."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__

log = logging.getLogger(__name__)

__all__ = ["write_table", "read_table", "TableError", "RECORD_COLUMNS"]

#: Columns of a certification record, in order: Cohen et al.'s six, the Monte Carlo
#: details, then the provenance of the run (see the README for their meaning).
RECORD_COLUMNS = [
    "idx", "label", "predict", "radius", "correct", "time",
    "sigma", "knn_distance", "count_top", "n", "p_a", "radius_time",
    "dataset", "arch", "model", "model_sha256", "train_seed", "sigma_train", "train_rate", "train_precision", "sigma_b", "rate",
    "k", "m", "clamp", "n0", "alpha", "noise_seed", "shard_start", "shard_stop", "skip",
    "precision", "compile", "code_version"]


class TableError(ValueError):
    """A result table is unreadable or lacks what the caller needs."""


def write_table(df: pd.DataFrame, path, metadata: dict | None = None) -> Path:
    """Write ``df`` to Parquet through a temporary file and a rename, so that a killed
    job never leaves a file that looks complete. ``metadata`` (plus the code version)
    goes into the schema's key-value metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta.update({str(k).encode(): str(v).encode()
                 for k, v in {**(metadata or {}), "idrs_version": __version__}.items()})
    table = table.replace_schema_metadata(meta)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    log.info("wrote %s (%d rows)", path, len(df))
    return path


def read_table(path, regenerate_hint: str = "rerun the command that wrote it"):
    """The DataFrame and metadata dict of a table written by :func:`write_table`."""
    path = Path(path)
    if not path.exists():
        raise TableError(f"{path} is missing; {regenerate_hint}.")
    try:
        table = pq.read_table(path)
    except Exception as err:
        raise TableError(f"{path} is not a readable Parquet table ({err}); delete it and "
                         f"{regenerate_hint}.") from None
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()
            if k != b"pandas"}
    return table.to_pandas(), meta

"""Files on disk: Parquet tables written atomically with their provenance as metadata,
and SHA-256 digests of files (NumPy, pandas and pyarrow only: no torch)."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__

log = logging.getLogger(__name__)

__all__ = ["write_table", "read_table", "TableError", "file_sha256"]


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


def file_sha256(path) -> str:
    """SHA-256 of a file, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

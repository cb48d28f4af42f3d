"""Tables as HTML: what Snakemake's report shows inline (its CSV files only download)."""

from __future__ import annotations

import html

import pandas as pd

__all__ = ["html_table", "html_page"]

_STYLE = ("table.idrs{border-collapse:collapse;font-size:90%}"
          "table.idrs th,table.idrs td{border:1px solid #ccc;padding:2px 6px;text-align:left}")


def html_table(df: pd.DataFrame) -> str:
    """``df`` as an HTML table (escaped; empty cells for NaN; 4 significant digits)."""
    return df.to_html(index=False, escape=True, na_rep="", border=0, classes="idrs",
                      float_format=lambda v: f"{v:.4g}")


def html_page(df: pd.DataFrame, caption: str) -> str:
    """A table as a standalone HTML page: what Snakemake's report shows inline."""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{_STYLE}</style>"
            f"</head><body><p>{html.escape(caption)}</p>{html_table(df)}</body></html>\n")

"""Snakemake script of rule ``theory``: wires its files to idrs.theory_report."""
import logging
from pathlib import Path

from idrs.theory_report import figure3, table1, table1_markdown

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
out, params = snakemake.output, snakemake.params  # noqa: F821

df = table1()
df.to_csv(out.table_csv, index=False)
Path(out.table_md).write_text(table1_markdown(df))
figure3(Path(out.figure_png).with_suffix(""), p_as=params.figure3_p_a,
        max_dim=params.figure3_max_dim)

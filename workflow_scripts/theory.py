"""Snakemake script of rule ``theory``: wires its files to idrs.results.theory_report."""
import logging
from pathlib import Path

from idrs.results.theory_report import write_theory_outputs

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
out, params = snakemake.output, snakemake.params  # noqa: F821
write_theory_outputs(Path(out.table_csv).parent, p_as=params.figure3_p_a,
                     max_dim=params.figure3_max_dim)

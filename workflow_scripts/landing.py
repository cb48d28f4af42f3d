"""Snakemake script of rule ``landing``: the report's first page (idrs.results.landing)."""
import logging
from pathlib import Path

import pandas as pd

from idrs.results.landing import landing_rst

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
inp, out, params = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
# the printed digits are strings: 0.780 stays 0.780
paper = {key: pd.read_csv(inp[key], dtype={"printed": str}) for key in ("verdicts", "claims")
         if key in inp.keys()}
Path(out[0]).write_text(landing_rst(Path(inp.description).read_text(), params.name,
                                    params.experiments, **paper))

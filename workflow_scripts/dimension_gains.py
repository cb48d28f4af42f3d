"""Snakemake script of rule ``dimension_gains``: Table 5's gains against N
(idrs.results.dimension)."""
import logging
from pathlib import Path

from idrs.results.dimension import write_dimension_gains

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
inp, out, params = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
write_dimension_gains(dict(zip(params.dims, inp.comparisons)), dict(zip(params.dims, inp.runs)),
                      params.dims, inp.verdicts, Path(out.csv).with_suffix(""))

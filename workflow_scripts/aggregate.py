"""Snakemake script of rule ``aggregate``: shards and baselines -> records and run tables."""
import logging

import pandas as pd

from idrs.aggregate import merge_shards, summarise_runs
from idrs.records import write_table

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
inp, out = snakemake.input, snakemake.output  # noqa: F821

records = pd.concat([merge_shards(inp.shards), merge_shards(inp.baselines)], ignore_index=True)
write_table(records, out.records, {"content": "per-input certification records"})
write_table(summarise_runs(records, snakemake.params.radii), out.runs,  # noqa: F821
            {"content": "one summary row per run"})

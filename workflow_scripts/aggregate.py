"""Snakemake script of rule ``aggregate``: shards and baselines -> records and run tables."""
import logging

import pandas as pd

from idrs.files import write_table
from idrs.results.aggregate import label_runs, merge_shards, summarise_runs

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
inp, out, params = snakemake.input, snakemake.output, snakemake.params  # noqa: F821

runs = merge_shards(inp.shards, with_run=True)
records = pd.concat([runs.drop(columns=["folder", "run"]), merge_shards(inp.baselines)],
                    ignore_index=True)
write_table(records, out.records, {"content": "per-input certification records"})
write_table(label_runs(summarise_runs(records, params.radii), runs, params.labels),
            out.runs, {"content": "one summary row per run and experiment method"})

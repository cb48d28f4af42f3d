"""Snakemake script of rule ``report``: one experiment's runs -> figure, tables, statistics."""
import logging
from pathlib import Path

import pandas as pd

from idrs.results.aggregate import merge_shards
from idrs.results.report import experiment_report

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
params, out = snakemake.params, snakemake.output  # noqa: F821
methods, published = params.inputs
frames = [merge_shards(files, with_run=True).assign(method=label)
          for label, files in methods.items()]
frames += [merge_shards([path]).assign(method=f"{name} (published)")
           for name, path in published.items()]
experiment_report(pd.concat(frames, ignore_index=True), Path(out.summary_csv).parent,
                  title=params.title, comparisons=params.comparisons,
                  table_radii=params.table_radii, max_radius=params.max_radius,
                  paper=params.paper, spread=params.spread)

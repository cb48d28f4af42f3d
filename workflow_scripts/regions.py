"""Snakemake script of rule ``regions``: models of a 2-D experiment -> Figure 1."""
import logging
from pathlib import Path

from idrs.workflow.jobs import regions_job

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
params, inputs, out = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
models = {method: inputs[f"model{i}"] for i, method in enumerate(params.evaluations)}
regions_job(params.spec, models, params.evaluations, Path(out.png).with_suffix(""),
            title=params.title, device=params.device)

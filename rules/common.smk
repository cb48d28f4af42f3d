# Config validation and the input functions shared by every stage.
from pathlib import Path

from snakemake.utils import validate

# Fills in the schema's defaults, so rules may read every documented key.
validate(config, schema="../schemas/config.schema.yaml")

RESULTS = Path(config["results_dir"])


def get_final_output():
    """Every file the default target produces."""
    theory = RESULTS / "theory"
    return [theory / name for name in ("table1.csv", "table1.md", "figure3.png", "figure3.pdf")]

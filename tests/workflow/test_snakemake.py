"""The Snakemake workflow, run for real on the embedded default, in a scratch folder."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def snakemake(workdir, *args, configfile=REPO / "config.yaml"):
    return subprocess.run(
        [str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
         "--configfile", str(configfile), "--cores", "1", *args],
        capture_output=True, text=True)


def test_dry_run_builds_the_dag(tmp_path):
    done = snakemake(tmp_path, "-n")
    assert done.returncode == 0, done.stderr
    assert "theory" in done.stdout and "total" in done.stdout


@pytest.mark.slow
def test_default_run_produces_the_theory_outputs_and_is_then_up_to_date(tmp_path):
    done = snakemake(tmp_path)
    assert done.returncode == 0, done.stderr
    theory = tmp_path / "results" / "theory"
    assert pd.read_csv(theory / "table1.csv").matches_paper.sum() == 11
    assert (theory / "figure3.png").stat().st_size > 10_000
    again = snakemake(tmp_path, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_unknown_config_key_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("results_dir: results\ntheory:\n  figure3_pa: [0.9]\n")
    done = snakemake(tmp_path, "-n", configfile=bad)
    assert done.returncode != 0
    assert "'figure3_pa' was unexpected" in done.stderr + done.stdout

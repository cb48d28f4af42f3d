"""Lint in the test command: ruff over the code (pyproject.toml's [tool.ruff]) and
``snakemake --lint`` over the workflow."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The one lint allowed: idrs installs into one virtual environment (make setup), so its
#: rules name no conda environment or container.
ALLOWED = {"Specify a conda environment or container for each rule."}


def test_ruff_passes():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_snakemake_lint_finds_only_the_allowed():
    done = subprocess.run([str(Path(sys.executable).with_name("snakemake")), "--lint",
                           "--configfile", "config.yaml"], cwd=REPO, capture_output=True,
                          text=True)
    text = done.stdout + done.stderr
    assert "Lints for rule" in text or done.returncode == 0, text  # it ran on the rules
    found = set(re.findall(r"^    \* (.+?):?$", text, flags=re.M))
    assert found <= ALLOWED, found - ALLOWED


def test_the_rule_graph_in_docs_is_the_workflows():
    done = subprocess.run([str(Path(sys.executable).with_name("snakemake")), "--rulegraph",
                           "--configfile", "config.yaml"], cwd=REPO, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    rules = lambda dot: set(re.findall(r'label = "(\w+)"', dot))  # noqa: E731
    drawn = (REPO / "docs" / "rulegraph.dot").read_text()
    assert rules(done.stdout) == rules(drawn) and "paper_check" in rules(drawn), (
        "docs/rulegraph.dot is stale: regenerate it and docs/rulegraph.png (docs/workflow.md)")

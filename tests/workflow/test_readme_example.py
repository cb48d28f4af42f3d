"""The README's minimal experiment is a valid config that plans what it says."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_readme_example_plans_two_seeds_of_both_methods(tmp_path):
    readme = (REPO / "README.md").read_text()
    example = re.search(r"<!-- readme-example -->\n```yaml\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "mine.yaml").write_text(example)
    done = subprocess.run([str(Path(sys.executable).with_name("snakemake")), "-n",
                           "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
                           "--configfile", "mine.yaml"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", done.stdout.split("Job stats:")[1]
                           .split("total")[0], flags=re.M))
    # one model per seed (both methods share it); 2 methods x 2 seeds x 1 shard of 450
    assert jobs["train"] == "2" and jobs["certify"] == "4" and jobs["knn"] == "1"
    assert "paper_check" not in jobs and "theory" not in jobs  # no paper_registry
    assert "results-mine/" in done.stdout

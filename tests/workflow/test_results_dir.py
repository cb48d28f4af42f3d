"""Each configuration's own results folder (idrs.workflow.results_dir)."""

from itertools import permutations
from pathlib import Path

from idrs.workflow.results_dir import results_dir

REPO = Path(__file__).resolve().parents[2]
SHIPPED = [["config.yaml"], ["config/toys.yaml"], ["config/paper.yaml"],
           ["config/paper.yaml", "config/paper_cohen_models.yaml"], ["config/imagenet.yaml"]]


def test_every_list_of_files_has_its_own_folder():
    assert results_dir(["config.yaml"], {}) == "results"
    assert results_dir(["my.yaml"], {}) == "results-my"
    assert results_dir(["config.yaml", "my.yaml"], {}) == "results-config-my"
    assert results_dir(["my.yaml"], {"results_dir": "out"}) == "out"


def test_no_shipped_config_shares_or_nests_in_another_folder():
    folders = [Path(results_dir([str(REPO / f) for f in files])) for files in SHIPPED]
    assert len(set(folders)) == len(folders), folders
    for a, b in permutations(folders, 2):
        assert not a.is_relative_to(b), (a, b)

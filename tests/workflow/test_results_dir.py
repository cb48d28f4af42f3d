"""Each configuration's own results folder (idrs.workflow.results_dir)."""

from itertools import permutations
from pathlib import Path

from idrs.workflow.results_dir import results_dir

REPO = Path(__file__).resolve().parents[2]
SHIPPED = [["config.yaml"], ["config/toys.yaml"], ["config/paper.yaml"], ["config/imagenet.yaml"]]
#: An overlay that only adds experiments extends its base's run in the base's folder.
OVERLAYS = {"config/paper_cohen_models.yaml": "config/paper.yaml"}


def test_every_list_of_files_has_its_own_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert results_dir(["config.yaml"], {}) == "results"
    assert results_dir(["my.yaml"], {}) == "results-my"
    assert results_dir(["config.yaml", "my.yaml"], {}) == "results-config+my"
    assert results_dir([str(tmp_path / "my.yaml")], {}) == "results-my"  # the same file
    lists = [["a/my.yaml"], ["b/my.yaml"], ["x-y.yaml"], ["x.yaml", "y.yaml"], ["a/config.yaml"]]
    folders = [results_dir(files, {}) for files in lists]
    assert len(set(folders)) == len(lists) and "results" not in folders
    assert results_dir(["my.yaml"], {"results_dir": "out"}) == "out"


def test_no_shipped_config_shares_or_nests_in_another_folder():
    folders = [Path(results_dir([str(REPO / f) for f in files])) for files in SHIPPED]
    assert len(set(folders)) == len(folders), folders
    for a, b in permutations(folders, 2):
        assert not a.is_relative_to(b), (a, b)


def test_an_overlay_sharing_its_bases_folder_only_adds_experiments():
    import yaml
    for overlay, base in OVERLAYS.items():
        files = [str(REPO / base), str(REPO / overlay)]
        assert results_dir(files) == results_dir([str(REPO / base)])
        added = yaml.safe_load((REPO / overlay).read_text())
        assert set(added) <= {"results_dir", "pretrained", "baselines", "experiments"}
        base_experiments = yaml.safe_load((REPO / base).read_text())["experiments"]
        assert not set(added["experiments"]) & set(base_experiments)

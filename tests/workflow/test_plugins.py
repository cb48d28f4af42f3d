"""Your own architecture and dataset by dotted path, through the real workflow: a module
written to a temporary folder, put on PYTHONPATH, named in the config."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from idrs.engine.models import build_model
from idrs.engine.plugins import resolve

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

PLUGIN = '''
import numpy as np
from torch import nn


def blobs(n=300):
    """Two Gaussian blobs in 2-D: arrays (x_train, y_train, x_test, y_test)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2 * n)
    x = rng.normal(size=(2 * n, 2)) * 0.3 + np.where(y[:, None] == 1, 1.0, -1.0)
    return x[:n], y[:n], x[n:], y[n:]


def net(in_shape, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_shape[0], 16), nn.ReLU(),
                         nn.Linear(16, num_classes))
'''

CONFIG = {
    "seeds": [0],
    "datasets": {"blobs": {"loader": "my_idrs_plugin:blobs"}},
    "training": {"net": {"arch": "my_idrs_plugin:net", "epochs": 5, "batch_size": 50,
                         "lr": 0.05}},
    "certification": {"n0": 50, "n": 300, "shard_size": 300},
    "report": {"table_radii": [0.25]},
    "experiments": {"blobs": {"dataset": "blobs", "training": "net", "k": 5, "m": 0.3,
                              "methods": [{"label": "sigma=0.25", "sigma": 0.25},
                                          {"label": "idrs", "sigma": 0.25, "rate": 0.5}]}},
}


def run(folder, config, *args):
    (folder / "my_idrs_plugin.py").write_text(PLUGIN)
    (folder / "mine.yaml").write_text(yaml.safe_dump(config))
    env = {"PATH": f"{SNAKEMAKE.parent}:/usr/bin:/bin", "HOME": str(folder),
           "PYTHONPATH": str(folder)}
    return subprocess.run([str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"),
                           "--configfile", "mine.yaml", "--cores", "2", *args], cwd=folder,
                          capture_output=True, text=True, env=env)


def test_your_own_model_and_data_run_through_the_workflow(tmp_path):
    done = run(tmp_path, CONFIG)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "results-mine" / "report" / "blobs" / "summary.csv")
    assert list(summary.method) == ["sigma=0.25", "idrs"]
    assert all(float(a.split(" ± ")[0]) > 0.9 for a in summary.accuracy)
    records = pd.read_parquet(tmp_path / "results-mine" / "tables" / "records.parquet")
    assert set(records.arch) == {"my_idrs_plugin:net"}
    assert set(records.dataset) == {"my_idrs_plugin:blobs"}


def test_a_plugin_that_does_not_import_fails_at_parse_time(tmp_path):
    bad = yaml.safe_load(yaml.safe_dump(CONFIG))
    bad["training"]["net"]["arch"] = "my_idrs_plugin:nett"
    done = run(tmp_path, bad, "-n")
    assert done.returncode != 0
    assert "training.net.arch: architecture 'my_idrs_plugin:nett': 'my_idrs_plugin' has no " \
           "'nett'" in done.stderr + done.stdout
    bad["training"]["net"]["arch"] = "not_a_module_here:net"
    done = run(tmp_path, bad, "-n")
    assert "cannot import 'not_a_module_here' (ModuleNotFoundError" in done.stderr + done.stdout


def test_resolve_names_the_path_and_the_reason(tmp_path, monkeypatch):
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match=r"'broken_plugin:f': cannot import .*RuntimeError: boom"):
        resolve("broken_plugin:f", "architecture")
    with pytest.raises(ValueError, match="is not package.module:factory"):
        resolve("nocolon", "dataset")
    (tmp_path / "ok_plugin.py").write_text(PLUGIN)
    model = build_model("ok_plugin:net", (2,), 2)
    assert model(__import__("torch").zeros(3, 2)).shape == (3, 2)

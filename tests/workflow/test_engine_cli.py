"""End to end through the real CLI: train, kNN, certify (constant and input-dependent)."""

import json
import subprocess
import sys

import pandas as pd
import pyarrow.parquet as pq
import pytest


def idrs(*args, cwd):
    done = subprocess.run([sys.executable, "-m", "idrs.workflow.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("dataset,arch,train_args,sigma,m,chance,skip", [
    ("sectors", "mlp", ["--epochs", "30", "--batch-size", "50", "--lr", "0.05"], 0.25, 1.0, 0.5,
     2),
    # every 6th of the 450 test digits: the CNN's samples are the test's cost
    ("digits", "cnn", ["--epochs", "8", "--batch-size", "64", "--lr", "0.05", "--lr-step", "6"],
     0.25, 2.5, 0.1, 6)])
def test_train_knn_certify(tmp_path, batch_cache, dataset, arch, train_args, sigma, m, chance,
                           skip):
    data = ["--dataset", dataset]
    idrs("knn", *data, "--split", "test", "--k", 10, "--out", "knn_test.parquet", cwd=tmp_path)
    idrs("knn", *data, "--split", "train", "--k", 10, "--out", "knn_train.parquet", cwd=tmp_path)
    idrs("train", *data, "--arch", arch, *train_args, "--sigma-train", sigma, "--train-rate",
         0.05, "--train-m", m, "--train-distances", "knn_train.parquet", "--k", 10,
         "--out", "model", cwd=tmp_path)
    common = [*data, "--model", "model/model.pth", "--sigma", sigma, "--n", 500, "--skip", skip]
    idrs("certify", *common, "--out", "constant.parquet", cwd=tmp_path)
    idrs("certify", *common, "--rate", 0.05, "--distances", "knn_test.parquet", "--k", 10,
         "--m", m, "--out", "idrs.parquet", cwd=tmp_path)
    idrs("certify", *common, "--batch", "auto", "--out", "auto.parquet", cwd=tmp_path)
    constant = pd.read_parquet(tmp_path / "constant.parquet")
    # a measured batch changes no record (on the CPU), and the file says which it was
    auto = pd.read_parquet(tmp_path / "auto.parquet")
    timings = ["time", "radius_time"]
    pd.testing.assert_frame_equal(auto.drop(columns=timings), constant.drop(columns=timings))
    tuned = int(pq.read_schema(tmp_path / "auto.parquet").metadata[b"batch"])
    assert tuned == int(json.loads(batch_cache.read_text()).popitem()[1]["batch"])
    varying = pd.read_parquet(tmp_path / "idrs.parquet")
    for records in (constant, varying):
        assert records.correct.mean() > chance + 0.5 * (1 - chance)
        assert (records.idx % skip == 0).all() and records.radius.ge(0).all()
        assert {"dataset", "arch", "train_seed", "rate", "code_version"} <= set(records.columns)
    assert varying.sigma.nunique() > 1 and constant.sigma.nunique() == 1
    assert (varying.rate == 0.05).all() and varying.knn_distance.notna().all()

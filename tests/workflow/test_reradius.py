"""The paper's clamp from the exact radius's records (``idrs reradius``): the very records
``idrs certify --clamp`` writes, without sampling again."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from idrs.engine.data import sectors
from idrs.engine.train import TrainConfig, train
from idrs.files import read_table, write_table
from idrs.workflow import jobs
from idrs.workflow.registry import Evaluation

SPEC = {"name": "sectors", "root": "data", "seed": 0, "options": {}}
#: sigma(x) at r = 0.2 on the sectors: the clamp's band is wider than the exact one
EXACT = Evaluation(sigma=0.25, rate=0.2, k=10, m=1.0, n0=50, n=1000, alpha=0.01, skip=4)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """A sectors model; the exact shard, the clamped shard certified directly, the
    clamped shard recomputed from the exact one."""
    folder = tmp_path_factory.mktemp("reradius")
    config = TrainConfig(arch="mlp", epochs=4, batch_size=100, lr=0.05, lr_step=2,
                         sigma_train=0.25, seed=0)
    model = train(sectors(), folder / "model", config, progress=False)
    distances = jobs.knn_job(SPEC, "test", 10, folder / "knn.parquet", use_gpu=False)
    common = dict(distances=distances, start=0, stop=400)
    exact = jobs.certify_job(model, SPEC, folder / "exact.parquet", EXACT, **common)
    clamped = jobs.certify_job(model, SPEC, folder / "clamped.parquet",
                               dataclasses.replace(EXACT, clamp="mnist"), **common)
    derived = jobs.reradius_job(folder / "exact.parquet", folder / "derived.parquet", "mnist")
    return folder, exact, clamped, derived


def test_reradius_gives_the_records_certify_gives_with_the_clamp(shards):
    folder, exact, clamped, derived = shards
    timed = ["time", "radius_time"]  # wall clock: the only columns that may differ
    pd.testing.assert_frame_equal(derived.drop(columns=timed), clamped.drop(columns=timed))
    np.testing.assert_array_equal(derived.time, exact.time)  # the samples' own time
    assert (derived.radius < exact.radius).sum() > 10  # the clamp changed radii
    assert (derived.clamp == "mnist").all() and (exact.clamp == "").all()
    written, meta = read_table(folder / "derived.parquet")
    pd.testing.assert_frame_equal(written, derived)
    assert meta["radius_from"] == str(folder / "exact.parquet") and meta["clamp"] == "mnist"


def test_reradius_refuses_records_it_cannot_recompute(shards, tmp_path):
    folder, exact, clamped, _ = shards
    old = tmp_path / "old.parquet"  # a shard of an idrs that did not record the slack
    write_table(exact.drop(columns=["sigma_slack"]), old)
    with pytest.raises(ValueError, match="old.parquet has no sigma_slack column .*delete it"):
        jobs.reradius_job(old, tmp_path / "out.parquet", "mnist")
    with pytest.raises(ValueError, match="'mnist' clamp already; give the exact radius's"):
        jobs.reradius_job(folder / "clamped.parquet", tmp_path / "out.parquet", "cifar10")
    assert not (tmp_path / "out.parquet").exists()


def test_a_clamped_evaluation_takes_its_samples_from_the_exact_one():
    clamped = dataclasses.replace(EXACT, clamp="cifar10")
    assert clamped.radius_source == EXACT and EXACT.radius_source is None
    assert clamped.radius_source.id == EXACT.id != clamped.id

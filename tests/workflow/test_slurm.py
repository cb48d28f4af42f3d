"""The real workflow through a real SLURM cluster: a single-node SLURM 22.05 (Debian's
slurm-wlm and munge) started here as root, with one fake GPU, and Snakemake's SLURM
executor plugin submitting every non-local rule as a SLURM job. Its outputs must equal a
local run's (same seed, same numbers), though the two split certification differently."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from .test_incremental import PUBLISHED, TINY

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "tests" / "slurm"
BIN = Path(sys.executable).parent
PREFIX = "/tmp/idrs-slurm-ci"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0,
                       reason="LOUD SKIP: the SLURM test starts slurmctld, slurmd and munged, "
                              "which needs root; run `make test` as root to include it"),
    pytest.mark.skipif(shutil.which("slurmctld") is None and shutil.which("apt-get") is None,
                       reason="LOUD SKIP: neither SLURM nor apt-get (to install it) is here"),
]

# certify asks for 700 MB, under the 850-1,100 MB its job step takes (the job's own
# snakemake and the idrs process, measured): the cluster kills every first attempt and
# the resubmission asks for 2 x 700 MB and succeeds. One seed and one shard per run: 2
# certify jobs, where the local run (test_incremental's, shared) has 2 seeds x 2 shards.
CONFIG = {**TINY, "seeds": [0], "certification": {**TINY["certification"], "shard_size": 200},
          "resources": {
    "train": {"gpu": 1, "mem_mb": 1500, "runtime": 10},   # the GPU rule: the fake GPU
    "knn": {"mem_mb": 1500, "runtime": 10}, "certify": {"mem_mb": 700, "runtime": 10}}}
ENV = {"PATH": f"{BIN}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
       "SLURM_CI_PREFIX": PREFIX}


@pytest.fixture(scope="module")
def cluster():
    env = {**ENV, "FAKE_GPU": "1"}
    subprocess.run([str(SCRIPTS / "slurm-ci-down.sh")], env=env, capture_output=True)
    up = subprocess.run([str(SCRIPTS / "slurm-ci-up.sh")], env=env, capture_output=True,
                        text=True, timeout=600)
    assert up.returncode == 0, up.stdout + up.stderr
    yield
    subprocess.run(["scancel", "--user=root"], env=env, capture_output=True)
    subprocess.run([str(SCRIPTS / "slurm-ci-down.sh")], env=env, capture_output=True)


def run(workdir, *profile):
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "published.tsv").write_text(PUBLISHED)
    (workdir / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    started = time.perf_counter()
    done = subprocess.run(
        ["timeout", "-s", "INT", "-k", "30", "900", str(BIN / "snakemake"), "--snakefile",
         str(REPO / "Snakefile"), "--directory", str(workdir), "--configfile",
         str(workdir / "config.yaml"), *profile], capture_output=True, text=True, env=ENV)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr, time.perf_counter() - started


def test_workflow_through_slurm_equals_a_local_run(cluster, finished, tmp_path):
    log, seconds = run(tmp_path / "slurm", "--workflow-profile",
                       str(REPO / "profiles" / "slurm-ci"), "--retries", "1")
    print(f"SLURM run: {seconds:.0f} s")
    jobs = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i %k %T %m"],
                          capture_output=True, text=True, env=ENV).stdout.split("\n")
    by_rule, states = {}, {}
    for line in filter(None, jobs):
        job_id, comment, state, memory = line.split()
        rule = comment.split("_wildcards")[0].removeprefix("rule_")
        states.setdefault(rule, []).append((state, memory))
        if state == "COMPLETED":
            by_rule.setdefault(rule, []).append(job_id)
    # every non-local rule ran as SLURM jobs; dataset, report and theory are local rules
    assert len(by_rule["train"]) == 1 and len(by_rule["knn"]) == 1
    assert len(by_rule["certify"]) == 2 and len(by_rule["aggregate"]) == 1
    # each certify job: killed over its 700 MB on attempt 1, done with 1400 MB on attempt 2
    first = [(state, memory) for state, memory in states["certify"] if state != "COMPLETED"]
    assert sorted(states["certify"])[:2] == [("COMPLETED", "1400M")] * 2, states["certify"]
    assert len(first) == 2 and all(state in ("FAILED", "OUT_OF_MEMORY") and memory == "700M"
                                   for state, memory in first), first
    logs = (tmp_path / "slurm" / ".snakemake" / "slurm_logs" / "rule_certify").rglob("*.log")
    assert sum("Exceeded job memory limit" in log.read_text() for log in logs) == 2
    assert all(state == "COMPLETED" for rule in ("train", "knn", "aggregate")
               for state, _ in states[rule])
    assert not {"dataset", "report", "theory"} & set(by_rule)
    for job_id in by_rule["train"]:  # the GPU rule was given the (fake) GPU
        shown = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True,
                               text=True, env=ENV).stdout
        assert "gpu:1" in shown, shown
    slurm, local = (pd.read_parquet(where / "results" / "tables" / "records.parquet")
                    for where in (tmp_path / "slurm", finished))
    local = local[local.train_seed.isin(slurm.train_seed)]  # seed 0 and the published rows
    # every number equal; only the timings and which shard certified a point differ
    keys, provenance = ["model", "train_seed", "rate", "idx"], ["shard_start", "shard_stop"]
    assert set(slurm.shard_stop) != set(local.shard_stop)  # 200 against 100 and 200
    slurm, local = (t.drop(columns=["time", "radius_time", *provenance])
                    .sort_values(keys, ignore_index=True) for t in (slurm, local))
    pd.testing.assert_frame_equal(slurm, local)

import os

import pytest
from filelock import FileLock


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
    """A finished local run of test_incremental's TINY config, shared by the modules that
    compare with it (test_incremental's reruns, test_slurm's SLURM run).

    Under pytest-xdist (`make test` runs two workers) those modules may run on different
    workers: the first to ask runs the workflow, under a file lock in the folder the
    workers share, and the other waits for it and reuses it."""
    from .test_incremental import TINY, snakemake
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's folder above each worker's own
    workdir, ran = shared / "finished-workflow", shared / "finished-workflow.done"
    with FileLock(str(shared / "finished-workflow.lock")):
        if not ran.exists():
            workdir.mkdir(exist_ok=True)
            done = snakemake(workdir, TINY)
            assert done.returncode == 0, done.stderr[-3000:]
            ran.touch()
    return workdir

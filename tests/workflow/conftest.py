import pytest
from filelock import FileLock


@pytest.fixture(scope="session")
def finished(tmp_path_factory, request):
    """A finished local run of test_incremental's TINY config, shared by the modules that
    compare with it (test_incremental's reruns, test_slurm's SLURM run).

    Under pytest-xdist with ``--dist loadscope`` (`make test`) those modules may run on
    two workers, each module's tests on one: the first to ask runs the workflow, under a
    file lock in the folder the workers share, and the other waits for it and reuses
    it. Other modes spread test_incremental's tests, which rewrite the run's config, over
    workers: each worker then makes its own run."""
    from .test_incremental import TINY, snakemake
    shared = tmp_path_factory.getbasetemp()
    if getattr(request.config, "workerinput", {}).get("modules_whole"):  # tests/conftest.py
        shared = shared.parent  # the run's folder above each worker's own
    workdir, ran = shared / "finished-workflow", shared / "finished-workflow.done"
    with FileLock(str(shared / "finished-workflow.lock")):
        if not ran.exists():
            workdir.mkdir(exist_ok=True)
            done = snakemake(workdir, TINY)
            assert done.returncode == 0, done.stderr[-3000:]
            ran.touch()
    return workdir

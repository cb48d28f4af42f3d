import pytest


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
    """A finished local run of test_incremental's TINY config, shared by the modules that
    compare with it (test_incremental's reruns, test_slurm's SLURM run)."""
    from .test_incremental import TINY, snakemake
    workdir = tmp_path_factory.mktemp("workflow")
    done = snakemake(workdir, TINY)
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir

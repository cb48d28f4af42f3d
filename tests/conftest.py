import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(autouse=True)
def batch_cache(tmp_path_factory, monkeypatch):
    """Every test keeps measured batches in its own folder, never in the user's cache
    (and so do the processes it starts with the environment it inherits)."""
    folder = tmp_path_factory.mktemp("idrs-cache")
    monkeypatch.setenv("IDRS_CACHE_DIR", str(folder))
    return folder / "batch_sizes.json"


@pytest.fixture
def benchmark_script():
    """A script of benchmarks/ imported as a module, by name (they are not a package)."""
    def load(name):
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


@pytest.fixture
def rng():
    return np.random.default_rng(20221)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest-xdist: tell each worker whether every test module runs whole on one worker
    (``--dist loadscope``, as `make test` runs), so that workers may share tests/workflow's
    finished workflow run."""
    node.workerinput["modules_whole"] = node.config.getoption("dist") in ("loadscope",
                                                                         "loadfile")

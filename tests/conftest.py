import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(20221)


def pytest_collection_modifyitems(items):
    """The workflow's end-to-end modules first: `make test`'s two pytest-xdist workers
    (``--dist loadscope``) take whole modules in this order, so the minutes-long ones
    start early and the short ones fill the end evenly."""
    items.sort(key=lambda item: not item.nodeid.startswith("tests/workflow/"))

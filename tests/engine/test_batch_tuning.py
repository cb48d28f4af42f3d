"""The measured batch: found where a pass's cost says it must be, cached per model and
device, and never a change to what is certified."""

import json
import logging
import time

import pytest
import torch

from idrs.engine import batch_tuning
from idrs.engine.batch_tuning import measure_batch_sizes, tuned_batch_size
from idrs.engine.smoothing import default_batch_size


class Timed(torch.nn.Module):
    """Two logits of a linear map, after sleeping ``fixed + per_square * batch**2``
    seconds: a pass whose cost the test sets. Counts its forward passes."""

    def __init__(self, fixed=0.0, per_square=0.0):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)
        self.fixed, self.per_square = fixed, per_square

    def forward(self, x):
        Timed.calls += 1
        time.sleep(self.fixed + self.per_square * len(x) ** 2)
        return self.linear(x.flatten(1))


Timed.calls = 0
X = torch.zeros((4, 3))
N = 1000  # samples per input: a few passes at the smallest batch


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    """Shorter timings: the sleeps set the costs, so a tenth of a second tells them apart."""
    monkeypatch.setattr(batch_tuning, "MIN_SECONDS", 0.1)


def test_a_fixed_cost_per_pass_takes_the_largest_batch_allowed():
    """Launch-bound (the GPU's small-CNN case): every doubling doubles the rate, so the
    search climbs to its cap, 16x the CPU's default batch."""
    rates = measure_batch_sizes(Timed(fixed=0.02).eval(), X, "cpu", num_classes=2, n=N)
    default = default_batch_size("cpu", 3)
    assert list(rates) == [default // 4 * 2 ** i for i in range(7)]
    assert batch_tuning._fastest(rates) == 16 * default


def test_a_cost_that_grows_faster_than_the_batch_is_searched_below_the_first():
    """Past the best batch the search stops (one larger batch tried); where the first
    was the fastest it halves from there, as long as that pays."""
    rates = measure_batch_sizes(Timed(per_square=4e-8).eval(), X, "cpu", num_classes=2, n=N)
    tried = list(rates)
    assert tried[:3] == [250, 500, 125] and rates[250] > 1.5 * rates[500]
    assert tried[2:] == [250 >> i for i in range(1, len(tried) - 1)]
    assert batch_tuning._fastest(rates) < 250
    assert batch_tuning._fastest({250: 100.0, 500: 103.0, 1000: 104.0}) == 250
    assert batch_tuning._fastest({250: 50.0, 500: 100.0, 1000: 90.0}) == 500


def test_the_budget_ends_the_search():
    rates = measure_batch_sizes(Timed(fixed=0.02).eval(), X, "cpu", num_classes=2, n=N, budget=0)
    assert list(rates) == [250]


def test_a_measured_batch_is_cached_per_model_and_device(batch_cache, caplog):
    model = Timed(fixed=0.02).eval()
    first = tuned_batch_size(model, X, "cpu", num_classes=2, n=N)
    entry, = json.loads(batch_cache.read_text()).values()
    assert entry["batch"] == first and str(first) in entry["samples_per_second"]
    assert entry["input_shape"] == [3] and entry["torch"] == torch.__version__
    Timed.calls = 0
    assert tuned_batch_size(Timed(fixed=0.5).eval(), X, "cpu", num_classes=2, n=N) == first
    assert Timed.calls == 0  # the same layers and shapes: nothing run
    # another input shape, another network or other arithmetic is measured anew
    tuned_batch_size(model, torch.zeros((4, 1, 3)), "cpu", num_classes=2, n=N)
    wider = Timed().eval()
    wider.linear = torch.nn.Linear(3, 2, bias=False)
    tuned_batch_size(wider, X, "cpu", num_classes=2, n=N)
    assert Timed.calls > 0 and len(json.loads(batch_cache.read_text())) == 3
    # a damaged cache is measured again and rewritten, with a warning
    batch_cache.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert tuned_batch_size(model, X, "cpu", num_classes=2, n=N) == first
    assert "unreadable" in caplog.text and len(json.loads(batch_cache.read_text())) == 1
    # ... and so is an entry edited into something that is no batch
    batch_cache.write_text(json.dumps({key: {"batch": "many"}
                                       for key in json.loads(batch_cache.read_text())}))
    Timed.calls = 0
    assert tuned_batch_size(model, X, "cpu", num_classes=2, n=N) == first and Timed.calls > 0


def test_the_key_follows_what_sets_the_speed():
    model = Timed().eval()
    same = {"n": 100, "amp": False, "compile": "none", "channels_last": None}
    key = batch_tuning.tuning_key(model, (3,), "cpu", **same)
    assert key == batch_tuning.tuning_key(Timed(fixed=1.0).eval(), (3,), "cpu", **same)
    for change in ({"n": 101}, {"amp": True}, {"compile": "default"},
                   {"channels_last": True}):
        assert batch_tuning.tuning_key(model, (3,), "cpu", **{**same, **change}) != key
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        assert batch_tuning.tuning_key(model, (3,), "cpu", **same) != key
    finally:
        torch.set_num_threads(threads)

"""The measured batch: the search goes where the rates say, stops where it must, is
cached per model and device, and never changes what is certified."""

import json
import logging
import math
import time

import pytest
import torch

from idrs.engine import batch_tuning
from idrs.engine.batch_tuning import fastest_batch, measure_batch_sizes, tuned_batch_size

X = torch.zeros((4, 3))
N = 1000  # samples per input: a few passes at the smallest batch
DEFAULT = 1000  # idrs.engine.smoothing.default_batch_size on the CPU


class Timed(torch.nn.Module):
    """Two logits of a linear map, after sleeping ``fixed`` seconds per pass: a pass
    whose cost the test sets. Counts the forward passes of all instances."""

    calls = 0

    def __init__(self, fixed=0.0):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)
        self.fixed = fixed

    def forward(self, x):
        Timed.calls += 1
        time.sleep(self.fixed)
        return self.linear(x.flatten(1))


def search(monkeypatch, rate, **kw):
    """The batches ``measure_batch_sizes`` tries, in order, where ``rate(batch)`` gives
    the samples per second (deterministic: the search's logic, not the machine's noise)."""
    monkeypatch.setattr(batch_tuning, "_samples_per_second",
                        lambda net, x, batch, *args, **kwargs: rate(batch))
    return measure_batch_sizes(Timed().eval(), X, "cpu", n=N, num_classes=2, **kw)


def test_the_search_climbs_from_the_default_and_stops_past_the_peak(monkeypatch):
    rates = search(monkeypatch, lambda b: 100 * 0.8 ** abs(math.log2(b / 4000)))
    assert list(rates) == [1000, 2000, 4000, 8000, 16000] and fastest_batch(rates) == 4000


def test_where_the_default_is_about_the_best_it_halves(monkeypatch):
    """A CPU's CNN: fastest near a hundred samples per pass. Halving also starts where the
    default is within the tolerance of a larger batch that did not beat it by more."""
    rates = search(monkeypatch, lambda b: 100 * 0.8 ** abs(math.log2(b / 125)))
    assert list(rates) == [1000, 2000, 4000, 500, 250, 125, 62, 31]
    assert fastest_batch(rates) == 125
    rates = search(monkeypatch, lambda b: {2000: 103.0, 500: 120.0}.get(b, 100.0 - b / 1e3))
    assert list(rates) == [1000, 2000, 4000, 500, 250, 125] and fastest_batch(rates) == 500


def test_a_plateau_does_not_end_the_search(monkeypatch):
    """The MNIST CNN on one CPU thread, as an earlier search of the day measured it
    (benchmarks/results/batch_tuning_cpu_2026-12-05.md): flat from 4000 down to 500,
    then 2.4x faster at 62. One batch that fails to beat the best does not end a climb;
    two in a row do."""
    measured = {1000: 3108, 2000: 2554, 4000: 2400, 500: 3237, 250: 4283, 125: 7392,
                62: 7513, 31: 7100}
    rates = search(monkeypatch, lambda b: float(measured[b]))
    assert list(rates) == [1000, 2000, 4000, 500, 250, 125, 62, 31]
    assert fastest_batch(rates) == 62


def test_an_always_faster_batch_stops_at_the_cap(monkeypatch):
    rates = search(monkeypatch, float)
    assert list(rates) == [DEFAULT << i for i in range(5)] and max(rates) == 16 * DEFAULT


def test_out_of_memory_ends_the_climb_but_not_at_the_default(monkeypatch):
    def rate(batch):
        if batch > 4000:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return float(batch)
    assert list(search(monkeypatch, rate)) == [1000, 2000, 4000]

    def none_fits(batch):
        raise RuntimeError("out of memory")
    with pytest.raises(RuntimeError, match="out of memory"):
        search(monkeypatch, none_fits)

    def broken(batch):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")
    with pytest.raises(RuntimeError, match="shapes"):  # not mistaken for memory
        search(monkeypatch, lambda b: 1.0 if b == DEFAULT else broken(b))


def test_the_budget_ends_the_search_after_the_default(monkeypatch):
    assert list(search(monkeypatch, float, budget=0)) == [DEFAULT]


def test_fastest_is_the_smallest_within_the_tolerance():
    assert fastest_batch({250: 100.0, 500: 103.0, 1000: 104.0}) == 250
    assert fastest_batch({250: 50.0, 500: 100.0, 1000: 90.0}) == 500


def test_a_fixed_cost_per_pass_is_measured_as_such(monkeypatch):
    """Real timing (no formula): a pass that sleeps 20 ms whatever its size doubles its
    rate with each doubling, far beyond the timing noise, up to the cap."""
    monkeypatch.setattr(batch_tuning, "MIN_SECONDS", 0.1)
    rates = measure_batch_sizes(Timed(fixed=0.02).eval(), X, "cpu", n=N, num_classes=2)
    assert list(rates) == [DEFAULT << i for i in range(5)]
    assert fastest_batch(rates) == 16 * DEFAULT


def test_a_measured_batch_is_cached_per_model_and_device(batch_cache, monkeypatch, caplog):
    monkeypatch.setattr(batch_tuning, "_samples_per_second",
                        lambda net, x, batch, *args, **kwargs: float(batch))
    model = Timed().eval()
    first = tuned_batch_size(model, X, "cpu", num_classes=2, n=N)
    entry, = json.loads(batch_cache.read_text()).values()
    assert first == 16 * DEFAULT and entry["batch"] == first
    assert str(first) in entry["samples_per_second"] and entry["n"] == N
    assert entry["input_shape"] == [3] and entry["torch"] == torch.__version__

    searches = []
    monkeypatch.setattr(batch_tuning, "measure_batch_sizes",
                        lambda *a, **k: searches.append(1) or {DEFAULT: 1.0})

    def measured(*args, **kw):
        """Whether tuned_batch_size searched, and how many entries it added."""
        before, entries = len(searches), len(json.loads(batch_cache.read_text()))
        batch = tuned_batch_size(*args, num_classes=2, **kw)
        added = len(json.loads(batch_cache.read_text())) - entries
        return len(searches) > before, added, batch

    assert measured(Timed(fixed=0.5).eval(), X, "cpu", n=N) == (False, 0, first)
    # another input shape, samples per input or network is measured anew
    assert measured(model, torch.zeros((4, 1, 3)), "cpu", n=N) == (True, 1, DEFAULT)
    assert measured(model, X, "cpu", n=2 * N) == (True, 1, DEFAULT)
    wider = Timed().eval()
    wider.linear = torch.nn.Linear(3, 2, bias=False)
    assert measured(wider, X, "cpu", n=N) == (True, 1, DEFAULT)
    # a damaged cache is measured again and rewritten, with a warning
    batch_cache.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert tuned_batch_size(model, X, "cpu", num_classes=2, n=N) == DEFAULT
    assert "unreadable" in caplog.text and len(json.loads(batch_cache.read_text())) == 1
    # ... and so is an entry edited into something that is no batch
    batch_cache.write_text(json.dumps({key: {"batch": "many"}
                                       for key in json.loads(batch_cache.read_text())}))
    assert measured(model, X, "cpu", n=N) == (True, 0, DEFAULT)


def test_a_cache_that_cannot_be_written_is_warned_of_not_fatal(tmp_path, caplog):
    (tmp_path / "a-file").write_text("")  # no folder can be made there, even by root
    with caplog.at_level(logging.WARNING):
        batch = tuned_batch_size(Timed().eval(), X, "cpu", num_classes=2, n=N,
                                 cache=tmp_path / "a-file" / "batch_sizes.json", budget=0)
    assert batch == DEFAULT and "not locked" in caplog.text and "not written" in caplog.text


def test_the_key_follows_what_sets_the_speed():
    model = Timed().eval()
    same = {"n": 100, "amp": False, "compile": "none", "channels_last": None}
    key = batch_tuning.tuning_key(model, (3,), "cpu", **same)
    assert key == batch_tuning.tuning_key(Timed(fixed=1.0).eval(), (3,), "cpu", **same)
    for change in ({"n": 101}, {"amp": True}, {"compile": "default"},
                   {"channels_last": True}):
        assert batch_tuning.tuning_key(model, (3,), "cpu", **{**same, **change}) != key
    assert batch_tuning.tuning_key(model, (4,), "cpu", **same) != key
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        assert batch_tuning.tuning_key(model, (3,), "cpu", **same) != key
    finally:
        torch.set_num_threads(threads)

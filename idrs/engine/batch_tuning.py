"""Samples per forward pass measured for one base classifier on one device, and cached.

The fastest batch depends on the network, the input's size, the device and the
arithmetic: on a GPU a small CNN is launch-bound at a few thousand samples per pass and
needs tens of thousands, while a ResNet fills the device at a few thousand; on a CPU a
small MLP runs faster in batches of thousands and a CNN gains nothing. ``batch: auto``
(``idrs certify --batch auto``) measures it instead of guessing: the certification
loop itself (:func:`idrs.engine.smoothing.sample_counts`) runs on one input at batch
sizes doubling from a quarter of :func:`~idrs.engine.smoothing.default_batch_size`
(halving from it where it was the fastest), until one is no faster than the best,
memory runs out, or the time budget is spent.
The smallest batch within :data:`TOLERANCE` of the fastest wins (less padding and
memory for the same speed), and is cached per network, input shape, device and
arithmetic, so a workflow measures it once.

The batch changes no input's noise (:func:`~idrs.engine.smoothing.sample_counts`), so
on the CPU the records are the same for every batch; on CUDA with bfloat16 and a
compiled model the kernels follow the batch shape, so counts may differ by the base
classifier's rounding (each certificate stays sound, for the classifier as evaluated).
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from .models import engine_settings
from .projection import linear_entry
from .smoothing import SELECTION, default_batch_size, noise_chunk, sample_counts

__all__ = ["AUTO", "cache_file", "tuning_key", "measure_batch_sizes", "tuned_batch_size"]

log = logging.getLogger(__name__)

#: The configuration value that asks for a measured batch.
AUTO = "auto"
#: Where the cache lives: ``$IDRS_CACHE_DIR``, else ``$XDG_CACHE_HOME/idrs``, else
#: ``~/.cache/idrs``.
CACHE_ENV = "IDRS_CACHE_DIR"
#: A batch this close to the fastest one's samples per second counts as fast as it.
TOLERANCE = 0.05
#: Largest batch tried, in input elements: 4 GiB of float32 noise on CUDA (where an out
#: of memory error ends the search instead), 512 MiB on the CPU, where running out of
#: memory would kill the process.
MAX_ELEMENTS = {"cuda": 1 << 30, "cpu": 1 << 27}
#: ... and in multiples of the default batch.
MAX_FACTOR = {"cuda": 64, "cpu": 16}
#: Each batch is timed over at least this many seconds of passes (and two passes).
MIN_SECONDS = 0.5


def cache_file() -> Path:
    """The JSON file of measured batches (see :data:`CACHE_ENV`)."""
    folder = os.environ.get(CACHE_ENV)
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        folder = Path(base) / "idrs"
    return Path(folder) / "batch_sizes.json"


def _device_name(device) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda {torch.cuda.get_device_name(device)}"
    # a CPU's speed also depends on how many threads torch uses
    return (f"{device.type} {platform.machine()} {platform.processor()} "
            f"{os.cpu_count()} cores {torch.get_num_threads()} threads")


def tuning_key(model, shape, device, *, n, amp, compile, channels_last) -> str:
    """What a measured batch holds for: the network's layers and parameter shapes (not
    its weights, which change no speed), the input's shape, the samples per input, the
    device, the arithmetic, the layout and torch's version, as a short hash."""
    layers = [(name, type(module).__name__) for name, module in model.named_modules()]
    params = [(name, tuple(p.shape), str(p.dtype)) for name, p in model.named_parameters()]
    what = [layers, params, list(shape), int(n), _device_name(device), bool(amp),
            str(compile), channels_last, torch.__version__]
    return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16]


def _out_of_memory(err) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err)


def _samples_per_second(net, x, batch, n, *, amp, channels_last, num_classes) -> float:
    """Samples per second of the certification loop at ``batch`` on copies of ``x``: one
    pass to warm up (it compiles), then passes until :data:`MIN_SECONDS` have gone by.

    Each copy draws its noise in a job's chunks (:func:`~idrs.engine.smoothing.noise_chunk`
    of ``n`` samples, in the dimension the noise is drawn in), a chunk that fits in a
    CPU's caches being faster, but of at most two chunks, so that a large ``n`` of a
    large input does not make every pass of the search a job's worth of samples."""
    entry = linear_entry(net, tuple(x.shape[1:]))
    per_input = min(n, 2 * noise_chunk(n, x[0].numel() if entry is None else entry.noise_dim))

    def run(samples):
        m = -(-samples // per_input)  # inputs
        begin = time.perf_counter()
        sample_counts(net, x.expand(m, *x.shape[1:]), np.ones(m), np.arange(m), per_input,
                      seed=0, stage=SELECTION, num_classes=num_classes, batch_size=batch,
                      amp=amp, channels_last=channels_last)  # returns on the host: synced
        return m * per_input, time.perf_counter() - begin

    run(batch)
    samples, seconds = run(2 * batch)
    if seconds < MIN_SECONDS:
        samples, seconds = run(int(samples * MIN_SECONDS / max(seconds, 1e-6)) + batch)
    return samples / seconds


def measure_batch_sizes(model, x, device, *, n=100_000, amp=None, compile=None,
                        channels_last=None, num_classes, budget=120.0) -> dict[int, float]:
    """Samples per second of certification at each batch tried.

    Parameters
    ----------
    model : torch.nn.Module
        The base classifier in eval mode, on ``device``, before
        :func:`~idrs.engine.models.engine_settings`: each batch gets its own copy made
        as certification makes it, so a compiled model meets one batch shape, as in a job.
    x : Tensor, shape (m, ...)
        Inputs on ``device``; the first is sampled.
    device, amp, compile, channels_last, num_classes
        As certification runs the model.
    n : int
        Samples per input, as the job draws them: the noise comes in chunks that depend
        on it, and a chunk that fits in the CPU's caches runs faster.
    budget : float
        Seconds after which no other batch is tried.

    Returns
    -------
    dict
        {batch: samples per second}, in the order tried: from a quarter of the default
        batch, doubling while each was faster than the best before it by more than
        :data:`TOLERANCE`, up to :data:`MAX_ELEMENTS` and :data:`MAX_FACTOR`, and until
        memory runs out (CUDA) or ``budget`` is spent; where the first was the fastest,
        then halving from it in the same way.
    """
    device = torch.device(device)
    x = x[:1]
    dim = x[0].numel()
    default = default_batch_size(device, dim)
    kind = device.type if device.type in MAX_ELEMENTS else "cpu"
    largest = max(1, min(MAX_FACTOR[kind] * default, MAX_ELEMENTS[kind] // max(1, dim)))
    first = max(1, default // 4)
    rates, started = {}, time.perf_counter()

    def rate_of(batch):
        """Samples per second at ``batch``, or None where it does not fit in memory."""
        net, run_amp, _ = engine_settings(copy.deepcopy(model), device, amp, compile)
        compiled = hasattr(net, "_orig_mod")  # torch.compile's wrapper
        if compiled:  # forget other shapes: else the compiler would make this one dynamic
            torch._dynamo.reset()
        try:
            return _samples_per_second(net, x, batch, n, amp=run_amp,
                                       channels_last=channels_last, num_classes=num_classes)
        except (RuntimeError, torch.cuda.OutOfMemoryError) as err:
            if not (_out_of_memory(err) and rates):
                raise
            log.info("batch %d: out of memory", batch)
            return None
        finally:
            del net
            if compiled:  # nor should the job's model, compiled next, see this shape
                torch._dynamo.reset()
            if device.type == "cuda":
                torch.cuda.empty_cache()

    def climb(batches):
        """Measure ``batches`` in turn while each beats the best before it."""
        for batch in batches:
            if rates and time.perf_counter() - started > budget:
                return
            best = max(rates.values(), default=0.0)
            rate = rate_of(batch)
            if rate is None:
                return
            rates[batch] = rate
            log.info("batch %d: %.0f samples/s", batch, rate)
            if rate <= best * (1 + TOLERANCE):
                return

    climb(first * 2 ** i for i in range(max(1, largest // first).bit_length()))
    if max(rates, key=rates.get) == first:  # the smallest was fastest: look below it
        climb(first >> i for i in range(1, first.bit_length()))
    return rates


def _fastest(rates: dict[int, float]) -> int:
    best = max(rates.values())
    return min(b for b, rate in rates.items() if rate >= best * (1 - TOLERANCE))


def tuned_batch_size(model, x, device, *, n=100_000, amp=None, compile=None,
                     channels_last=None, num_classes, cache=True, budget=120.0) -> int:
    """The batch that certifies fastest: measured (:func:`measure_batch_sizes`) or
    taken from the cache.

    Parameters
    ----------
    model, x, device, n, amp, compile, channels_last, num_classes, budget
        As :func:`measure_batch_sizes`.
    cache : bool or path
        True: the file :func:`cache_file` names; a path: that file; False: measure and
        keep nothing.

    Returns
    -------
    int
        The smallest batch within :data:`TOLERANCE` of the fastest measured.

    Notes
    -----
    The cache is a JSON file of {:func:`tuning_key`: entry}; each entry keeps every
    rate measured, the device and the date. An unreadable cache is measured again and
    rewritten, with a warning. Concurrent jobs may each measure; the last write wins.
    """
    device = torch.device(device)
    net, run_amp, run_compile = engine_settings(copy.deepcopy(model), device, amp, compile)
    key = tuning_key(net, tuple(x.shape[1:]), device, n=n, amp=run_amp,
                     compile=run_compile, channels_last=channels_last)
    del net
    path = cache_file() if cache is True else Path(cache) if cache else None
    entries = {}
    if path is not None and path.exists():
        try:
            entries = json.loads(path.read_text())
            if not isinstance(entries, dict):
                raise ValueError("not a JSON object")
        except ValueError as err:
            log.warning("batch cache %s unreadable (%s): measuring again and rewriting it",
                        path, err)
            entries = {}
    cached = entries.get(key)
    if isinstance(cached, dict) and isinstance(cached.get("batch"), int) \
            and cached["batch"] >= 1:  # else (edited by hand?) measured again
        log.info("batch %d for this model and device, measured %s (cache %s)",
                 cached["batch"], cached.get("measured", "?"), path)
        return cached["batch"]
    rates = measure_batch_sizes(model, x, device, n=n, amp=amp, compile=compile,
                                channels_last=channels_last, num_classes=num_classes,
                                budget=budget)
    batch = _fastest(rates)
    log.info("batch %d measured fastest (default %d)", batch,
             default_batch_size(device, x[0].numel()))
    if path is not None:
        entries[key] = {"batch": batch, "samples_per_second": {str(b): round(r, 1)
                                                               for b, r in rates.items()},
                        "device": _device_name(device), "amp": run_amp,
                        "compile": run_compile, "input_shape": list(x.shape[1:]), "n": n,
                        "torch": torch.__version__,
                        "measured": datetime.now(UTC).isoformat(timespec="seconds")}
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(entries, indent=1, sort_keys=True))
        os.replace(partial, path)  # readers see the old file or the new, never half
    return batch

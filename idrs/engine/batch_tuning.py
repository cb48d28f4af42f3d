"""Samples per forward pass measured for one base classifier on one device, and cached.

The fastest batch depends on the network, the input's size, the device and the
arithmetic: on a GPU a small CNN is launch-bound at a few thousand samples per pass and
needs tens of thousands, while a ResNet fills the device at a few thousand; on a CPU a
CNN runs fastest at about a hundred (its activations then stay in the caches) and a
small MLP at thousands. ``batch: auto`` (``idrs certify --batch auto``) measures it
instead of guessing: the certification loop itself
(:func:`idrs.engine.smoothing.sample_counts`) runs at the default batch
(:func:`~idrs.engine.smoothing.default_batch_size`), then at batches doubling from it
until :data:`PATIENCE` in a row are no more than :data:`TOLERANCE` faster than the best
before them, then, where the default was about as fast as the best, at batches halving
from it in the same way, until memory runs out or the time budget is spent. The
smallest batch within :data:`TOLERANCE` of the fastest wins (less padding and memory
for the same speed), so a search cut short never returns a batch slower than the
default. It is cached per network, input shape, samples per input, device and
arithmetic: a workflow measures it once.

The batch changes no input's noise (:func:`~idrs.engine.smoothing.sample_counts`). On
the CPU it changed no record in the tests and in every certify file of ``make run``; the
kernels may still follow the batch, as they do on CUDA with bfloat16 and a compiled
model, where counts may differ by the base classifier's rounding. Each certificate
holds for the base classifier as evaluated, whichever batch evaluated it.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from .models import engine_options, engine_settings
from .projection import linear_entry
from .smoothing import SELECTION, default_batch_size, noise_chunk, sample_counts

__all__ = ["AUTO", "cache_file", "tuning_key", "measure_batch_sizes", "fastest_batch",
           "tuned_batch_size"]

log = logging.getLogger(__name__)

#: The configuration value that asks for a measured batch.
AUTO = "auto"
#: Where the cache lives: ``$IDRS_CACHE_DIR``, else ``$XDG_CACHE_HOME/idrs``, else
#: ``~/.cache/idrs``.
CACHE_ENV = "IDRS_CACHE_DIR"
#: A batch this close to the fastest one's samples per second counts as fast as it.
TOLERANCE = 0.05
#: Largest batch tried, in elements of the noise buffer (the activations come on top):
#: 4 GiB of float32 on CUDA, where running out of memory ends the search instead; 512 MiB
#: on the CPU, where it would kill the process.
MAX_ELEMENTS = {"cuda": 1 << 30, "cpu": 1 << 27}
#: ... and in multiples of the default batch.
MAX_FACTOR = {"cuda": 64, "cpu": 16}
#: A climb ends after this many batches in a row no more than :data:`TOLERANCE` faster
#: than the best before them: a CPU's CNN runs at 1000, 2000 and 500 samples per pass at
#: about the same speed and 2.5x faster at 125 and below.
PATIENCE = 2
#: Each batch is timed over at least this many seconds of passes (and two passes).
MIN_SECONDS = 0.5


def cache_file() -> Path:
    """The JSON file of measured batches (see :data:`CACHE_ENV`)."""
    folder = os.environ.get(CACHE_ENV)
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        folder = Path(base) / "idrs"
    return Path(folder) / "batch_sizes.json"


def _cpu_model() -> str:
    try:  # platform.processor() is empty on Linux
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _device_name(device) -> str:
    """The device as its speed depends on it: a GPU's name, memory and multiprocessors
    (a MIG slice differs from the whole card); a CPU's model, instruction set, cores
    and the threads torch uses."""
    device = torch.device(device)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return (f"cuda {props.name} {props.total_memory >> 20} MiB "
                f"{props.multi_processor_count} SMs")
    return (f"{device.type} {platform.machine()} {_cpu_model()} "
            f"{torch.backends.cpu.get_cpu_capability()} {os.cpu_count()} cores "
            f"{torch.get_num_threads()} threads")


def tuning_key(model, shape, device, *, n, amp, compile, channels_last) -> str:
    """What a measured batch holds for: the network's layers and parameter shapes (not
    its weights, which change no speed), the input's shape, the samples per input, the
    device, the arithmetic, the layout and torch's version, as a short hash."""
    layers = [(name, type(module).__name__) for name, module in model.named_modules()]
    params = [(name, tuple(p.shape), str(p.dtype)) for name, p in model.named_parameters()]
    what = [layers, params, list(shape), int(n), _device_name(device), bool(amp),
            str(compile), channels_last, torch.__version__]
    return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16]


def _draw_dim(net, shape) -> int:
    """Elements per noise sample as :func:`~idrs.engine.smoothing.sample_counts` draws
    them for ``net``: the input's, or the width of a linear first layer it projects on."""
    entry = linear_entry(net, shape)
    return int(np.prod(shape)) if entry is None else entry.noise_dim


def _samples_per_second(net, x, batch, per_input, *, amp, channels_last,
                        num_classes) -> float:
    """Samples per second of the certification loop at ``batch`` on copies of ``x``,
    ``per_input`` samples each: a warm-up run of at least one pass (it compiles), then
    runs until :data:`MIN_SECONDS` have gone by."""
    def run(samples):
        m = -(-samples // per_input)  # inputs
        begin = time.perf_counter()
        sample_counts(net, x.expand(m, *x.shape[1:]), np.ones(m), np.arange(m), per_input,
                      seed=0, stage=SELECTION, num_classes=num_classes, batch_size=batch,
                      amp=amp, channels_last=channels_last)  # returns on the host: synced
        return m * per_input, time.perf_counter() - begin

    run(batch)  # at least a chunk: the warm-up of a small batch is many passes
    samples, seconds = run(2 * batch)
    if seconds < MIN_SECONDS:
        samples, seconds = run(int(samples * MIN_SECONDS / max(seconds, 1e-6)) + batch)
    return samples / seconds


def _out_of_memory(err) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err)


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
        Samples per input, as the job draws them. The noise comes in chunks that depend
        on it (:func:`~idrs.engine.smoothing.noise_chunk`), and a chunk that fits in a
        CPU's caches runs faster, so each copy of the input draws one chunk of the
        job's size (not all of ``n``: a large ``n`` of a large input would make every
        run of the search a job's worth of samples).
    budget : float
        Seconds after which no other batch is tried.

    Returns
    -------
    dict
        {batch: samples per second}, in the order tried (see the module's docstring):
        the default batch first, then doubling, then halving, up to
        :data:`MAX_ELEMENTS` and :data:`MAX_FACTOR`.

    Raises
    ------
    RuntimeError
        Where even the default batch runs out of memory.

    Notes
    -----
    With ``torch.compile``, each batch compiles its own model after
    ``torch._dynamo.reset()``, and the compiler is reset again after it (otherwise it
    would make the next batch's graph dynamic): compiled code from before the search is
    forgotten, process-wide.
    """
    device = torch.device(device)
    amp, compile = engine_options(device, amp, compile)  # warns once, not per batch
    x, shape = x[:1], tuple(x.shape[1:])

    def build():
        return engine_settings(copy.deepcopy(model), device, amp, compile)[0]

    dim = _draw_dim(build(), shape)
    default = default_batch_size(device, dim)
    per_input = noise_chunk(n, dim)
    kind = device.type if device.type in MAX_ELEMENTS else "cpu"
    largest = max(default, min(MAX_FACTOR[kind] * default, MAX_ELEMENTS[kind] // dim))
    rates, started = {}, time.perf_counter()

    def rate_of(batch):
        """Samples per second at ``batch``, or None where it does not fit in memory."""
        net = build()
        compiled = hasattr(net, "_orig_mod")  # torch.compile's wrapper
        if compiled:  # forget other shapes: else the compiler would make this one dynamic
            torch._dynamo.reset()
        try:
            return _samples_per_second(net, x, batch, per_input, amp=amp,
                                       channels_last=channels_last, num_classes=num_classes)
        except RuntimeError as err:  # torch.cuda.OutOfMemoryError is one
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
        """Measure ``batches`` in turn until :data:`PATIENCE` in a row fail to beat the
        best before them."""
        misses = 0
        for batch in batches:
            if rates and time.perf_counter() - started > budget:
                return
            best = max(rates.values(), default=0.0)
            rate = rate_of(batch)
            if rate is None:
                return
            rates[batch] = rate
            log.info("batch %d: %.0f samples/s", batch, rate)
            misses = 0 if rate > best * (1 + TOLERANCE) else misses + 1
            if misses == PATIENCE:
                return

    climb(default << i for i in range((largest // default).bit_length()))
    if rates[default] >= max(rates.values()) * (1 - TOLERANCE):  # try below it too
        climb(default >> i for i in range(1, default.bit_length()))
    return rates


def fastest_batch(rates: dict[int, float]) -> int:
    """The smallest batch within :data:`TOLERANCE` of the fastest in ``rates``."""
    best = max(rates.values())
    return min(b for b, rate in rates.items() if rate >= best * (1 - TOLERANCE))


@contextlib.contextmanager
def _locked(path):
    """Hold an exclusive lock beside ``path`` (where the file system has locks): the
    first job measures, the others wait and read its batch."""
    try:
        import fcntl
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.with_name(path.name + ".lock"), "a")  # noqa: SIM115
    except (ImportError, OSError) as err:
        log.warning("batch cache %s not locked (%s): jobs may measure at once", path, err)
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _read_cache(path) -> dict:
    if not path.exists():
        return {}
    try:
        entries = json.loads(path.read_text())
        if isinstance(entries, dict):
            return entries
        raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        log.warning("batch cache %s unreadable (%s): measuring again and rewriting it",
                    path, err)
        return {}


def _write_cache(path, entries):
    """``entries`` to ``path`` through a unique temporary file and a rename, so that a
    reader sees the old file or the new, never half of one; a cache that cannot be
    written is warned of, not fatal."""
    try:
        handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "w") as out:
            json.dump(entries, out, indent=1, sort_keys=True)
        os.replace(partial, path)
    except OSError as err:
        log.warning("batch cache %s not written (%s)", path, err)


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
        :func:`fastest_batch` of the rates measured.

    Notes
    -----
    The cache is a JSON file of {:func:`tuning_key`: entry}; each entry keeps every
    rate measured, the device and the date. Jobs take turns under a file lock, so that
    one measures and the others read its batch. An unreadable cache or entry is
    measured again and rewritten, with a warning; one that cannot be written is warned
    of.
    """
    device = torch.device(device)
    run_amp, run_compile = engine_options(device, amp, compile)
    key = tuning_key(model, tuple(x.shape[1:]), device, n=n, amp=run_amp,
                     compile=run_compile, channels_last=channels_last)
    path = cache_file() if cache is True else Path(cache) if cache else None
    with _locked(path) if path is not None else contextlib.nullcontext():
        entries = {} if path is None else _read_cache(path)
        cached = entries.get(key)
        if isinstance(cached, dict) and isinstance(cached.get("batch"), int) \
                and cached["batch"] >= 1:  # else (edited by hand?) measured again
            log.info("batch %d for this model and device, measured %s (cache %s)",
                     cached["batch"], cached.get("measured", "?"), path)
            return cached["batch"]
        rates = measure_batch_sizes(model, x, device, n=n, amp=run_amp,
                                    compile=run_compile, channels_last=channels_last,
                                    num_classes=num_classes, budget=budget)
        batch = fastest_batch(rates)
        log.info("batch %d measured fastest of %s", batch, sorted(rates))
        if path is not None:
            entries[key] = {
                "batch": batch, "samples_per_second": {str(b): round(r, 1)
                                                       for b, r in rates.items()},
                "device": _device_name(device), "amp": run_amp, "compile": run_compile,
                "input_shape": list(x.shape[1:]), "n": n, "torch": torch.__version__,
                "measured": datetime.now(UTC).isoformat(timespec="seconds")}
            _write_cache(path, entries)
    return batch

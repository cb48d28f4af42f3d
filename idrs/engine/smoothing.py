"""Monte Carlo PREDICT and CERTIFY of Gaussian-smoothed classifiers (Cohen et al. 2019),
with a constant sigma or an input-dependent sigma(x) (Súkeník et al. 2022).

Speed: noise is drawn on the model's device, predictions are counted there and copied
to the host once per call, nothing in the loop waits for the device, and every forward
pass but a call's last is a full batch (the noise of consecutive inputs shares batches).

Reproducibility by index: the noise of test index ``i`` comes from its own generator,
seeded from ``(seed, i, stage)``, and is drawn in chunks whose size depends only on ``n``
and the input's dimension, so an input's noise is the same whatever the shard
boundaries or the batch size.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from ..certify.radius import radii
from ..certify.stats import clopper_pearson_lower, predict_test
from .progress import Progress
from .projection import linear_entry

__all__ = ["ABSTAIN", "sample_counts", "packing", "noise_chunk", "default_batch_size", "certify",
           "predict", "smoothed_class", "sigma_as_sampled", "SIGMA_ROUNDING"]

ABSTAIN = -1
#: Elements per noise draw (chunks of max(1, NOISE_ELEMENTS // dim) samples).
NOISE_ELEMENTS = 1 << 22
#: The sampler scales float32 noise by a float32 sigma, so the float32 value *is* the
#: sigma of the smoothed classifier; rounding to it moves log sigma by at most this.
SIGMA_ROUNDING = -float(np.log1p(-2.0 ** -24))
SELECTION, ESTIMATION, PREDICTION = 0, 1, 2


def sigma_as_sampled(sigma):
    r"""sigma as the sampler draws noise with it: rounded to float32 (as float64).

    Parameters
    ----------
    sigma : array_like
        Noise levels.

    Returns
    -------
    ndarray of float64
        ``sigma`` rounded to the nearest float32, the shape of ``sigma``.

    Notes
    -----
    The sampler scales float32 noise by a float32 sigma, so the rounded value *is* the
    sigma of the smoothed classifier. Rounding to nearest moves :math:`\log\sigma` by at
    most :math:`-\log(1 - 2^{-24})` = :data:`SIGMA_ROUNDING`.

    Examples
    --------
    >>> from idrs.engine.smoothing import sigma_as_sampled
    >>> float(sigma_as_sampled(0.1))
    0.10000000149011612
    """
    return np.asarray(sigma, dtype=np.float32).astype(np.float64)


def noise_seed(seed: int, index: int, stage: int) -> int:
    r"""A 63-bit generator seed for one (seed, test index, stage).

    Parameters
    ----------
    seed : int
        The run's seed.
    index : int
        Dataset index of the input.
    stage : int
        ``SELECTION`` (0), ``ESTIMATION`` (1) or ``PREDICTION`` (2).

    Returns
    -------
    int
        A seed in :math:`[0, 2^{63})` for ``torch.Generator.manual_seed``.

    Notes
    -----
    NumPy's ``SeedSequence([seed, index, stage])`` hashes the triple; its first two
    32-bit words, high word first, masked to 63 bits, are the seed. Distinct triples
    thus get unrelated noise streams, and an input's noise depends on nothing else.

    Examples
    --------
    >>> from idrs.engine.smoothing import ESTIMATION, noise_seed
    >>> noise_seed(0, 5, ESTIMATION)  # test index 5's estimation noise under seed 0
    6725486734660502932
    """
    state = np.random.SeedSequence([int(seed), int(index), int(stage)]).generate_state(2)
    return int((int(state[0]) << 32 | int(state[1])) & ((1 << 63) - 1))


#: Default samples per forward pass: CUDA takes larger batches (``benchmarks/gpu_check.sh``;
#: compiled ResNet-110 on an H200: 0.436 s per CIFAR10 image at 4096 against 0.487 at 2048,
#: benchmarks/results/gpu_check_h200_2026-11-28_profile.md).
BATCH_SIZE = {"cpu": 1000, "cuda": 4096}
#: ... but no default batch holds more than this many input elements (512 MB of float32).
BATCH_ELEMENTS = 1 << 27
#: Small inputs (MNIST's 784 pixels) leave a CUDA device launch-bound at 2048 samples:
#: 16,384 halved the MNIST CNN's time per image on an H200 (0.029 to 0.015 s,
#: benchmarks/results/gpu_check_h200_2026-11-28.md).
SMALL_INPUT, SMALL_INPUT_CUDA_BATCH = 1024, 16_384


def default_batch_size(device, dim=1) -> int:
    """Samples per forward pass when none is given.

    :data:`BATCH_SIZE` by device type (on CUDA :data:`SMALL_INPUT_CUDA_BATCH` for inputs
    of at most :data:`SMALL_INPUT` elements), capped at :data:`BATCH_ELEMENTS` elements
    of inputs of ``dim`` elements each.

    Parameters
    ----------
    device : str or torch.device
        Where the forward passes run; a device type other than ``cuda`` gets the CPU's
        size.
    dim : int, default 1
        Elements per input.

    Returns
    -------
    int
        The batch size, at least 1.

    Examples
    --------
    >>> from idrs.engine.smoothing import default_batch_size
    >>> default_batch_size("cpu", 3072), default_batch_size("cuda", 784)
    (1000, 16384)
    >>> default_batch_size("cuda", 3 * 224 * 224)  # 2**27 // 150528 elements
    891
    """
    kind = torch.device(device).type
    size = BATCH_SIZE.get(kind, BATCH_SIZE["cpu"])
    if kind == "cuda" and int(dim) <= SMALL_INPUT:
        size = SMALL_INPUT_CUDA_BATCH
    return max(1, min(size, BATCH_ELEMENTS // max(1, int(dim))))


class Draw(NamedTuple):
    """Draw ``size`` noise samples of input ``slot`` (``first``: its generator starts)."""

    slot: int
    size: int
    first: bool


class Copy(NamedTuple):
    """Rows ``lo:hi`` of the last draw go to batch rows ``row:row + hi - lo``."""

    slot: int
    lo: int
    hi: int
    row: int


class Forward(NamedTuple):
    """The batch holds ``rows`` filled rows: run the base classifier on it."""

    rows: int


def noise_chunk(n, dim) -> int:
    """Samples per noise draw of :func:`sample_counts` for ``n`` samples of inputs of
    ``dim`` elements: at most :data:`NOISE_ELEMENTS` floats, so the draws, and with them
    the records, depend on n and the input size only."""
    return max(1, min(n, NOISE_ELEMENTS // max(1, int(dim))))


def packing(m, n, batch_size, chunk):
    """How :func:`sample_counts` packs ``n`` noise samples of each of ``m`` inputs into
    forward passes of ``batch_size`` rows.

    Parameters
    ----------
    m, n : int
        Inputs, and samples per input.
    batch_size : int
        Rows per forward pass.
    chunk : int
        Samples per noise draw (an input's last draw may be smaller).

    Yields
    ------
    Draw, Copy or Forward
        In order: each input's noise is drawn chunk by chunk from its own generator;
        each draw is copied into the batch, straddling batches where it must; a batch
        is run as soon as it is full, and once more at the end for the rest. So the
        noise of consecutive inputs shares batches, every forward pass but the last is
        full, and every sample lands in exactly one row (tested without a model).
    """
    filled = 0
    for slot in range(m):
        for start in range(0, n, chunk):
            size = min(chunk, n - start)
            yield Draw(slot, size, start == 0)
            lo = 0
            while lo < size:  # a draw may straddle batches
                take = min(size - lo, batch_size - filled)
                yield Copy(slot, lo, lo + take, filled)
                filled, lo = filled + take, lo + take
                if filled == batch_size:
                    yield Forward(filled)
                    filled = 0
    if filled:
        yield Forward(filled)


@torch.inference_mode()
def sample_counts(model, x, sigma, indices, n, *, seed, stage, num_classes, batch_size=None,
                  amp=False, channels_last=None, project_noise=True, progress=None):
    r"""How often the base classifier predicts each class on ``x_j + N(0, sigma_j^2 I)``.

    Parameters
    ----------
    model : torch.nn.Module
        Base classifier on the device where sampling happens, in eval mode.
    x : Tensor, shape (m, ...)
        Inputs, on the model's device.
    sigma : array_like, shape (m,)
        Noise level per input.
    indices : array_like of int, shape (m,)
        Dataset indices of the inputs: they seed the noise.
    n : int
        Samples per input.
    seed : int
        The run's seed (:func:`noise_seed`).
    stage : int
        ``SELECTION``, ``ESTIMATION`` or ``PREDICTION``: each draws its own noise.
    num_classes : int
        Number of classes; the model must return this many logits.
    batch_size : int or None
        Samples per forward pass; None: :func:`default_batch_size`. Every forward pass
        is full but the call's last: the noise of consecutive inputs shares batches. On
        CUDA the last is padded to a full batch too (its extra rows are not counted), so
        every pass has one shape: cuDNN's autotuner and ``torch.compile`` meet it once.
    amp : bool
        bfloat16 autocast (CUDA only). The noisy input ``x + sigma * eps`` is formed in
        float32 and cast inside the model, so the cast is part of the base classifier
        and the certificate stays sound.
    channels_last : bool or None
        Image batches in channels_last layout (the model is converted in place). None:
        on the CPU, where oneDNN convolutions run about 2.5x faster in it, or with AMP.
    project_noise : bool, default True
        Where the model starts with a linear layer of k < N outputs
        (:func:`idrs.engine.projection.linear_entry`), draw the noise in those k
        dimensions: the same distribution of predictions, far fewer Gaussian draws.
    progress : idrs.engine.progress.Progress, optional
        Told of every sample's prediction.

    Returns
    -------
    ndarray of int64, shape (m, num_classes)
        Counts of the argmax of the logits; each row sums to ``n``.

    Raises
    ------
    ValueError
        If the model returns other than ``num_classes`` logits.

    Notes
    -----
    Input ``j``'s noise :math:`\varepsilon \sim \mathcal N(0, I)` comes from its own
    generator, seeded by :func:`noise_seed` of ``(seed, indices[j], stage)``, drawn in
    chunks of ``max(1, min(n, NOISE_ELEMENTS // dim))`` samples; the base classifier sees
    ``x_j + sigma_j * eps`` formed in float32 with float32 ``sigma_j``. The counts of an
    input therefore do not depend on the other inputs of the call, on the batch size or
    on the shard boundaries (on one device: CPU and CUDA generators differ). With a
    linear entry the base classifier's rest sees ``(W x_j + b) + sigma_j W eps``, with
    ``W eps`` drawn as ``R^T z`` from k standard normals ``z`` (same distribution,
    :mod:`idrs.engine.projection`); the chunks are then of ``k``-element draws.
    """
    entry = linear_entry(model, x.shape[1:]) if project_noise else None
    return _counts(model, entry, x, sigma, indices, n, seed=seed, stage=stage,
                   num_classes=num_classes, batch_size=batch_size, amp=amp,
                   channels_last=channels_last, progress=progress)


def _counts(model, entry, x, sigma, indices, n, *, seed, stage, num_classes, batch_size, amp,
            channels_last, progress):
    """:func:`sample_counts` with the linear entry (or None) already split off."""
    device = x.device
    if entry is not None:
        x, model = entry.inputs(x), entry.rest
    m, shape = len(x), tuple(x.shape[1:])
    dim = int(np.prod(shape))
    batch_size = batch_size or default_batch_size(device, dim)
    chunk = noise_chunk(n, dim)
    sigma = torch.as_tensor(np.asarray(sigma, dtype=np.float32), device=device)
    counts = torch.zeros(m * num_classes, dtype=torch.int64, device=device)
    if channels_last is None:
        channels_last = device.type == "cpu" or amp
    layout = (torch.channels_last if channels_last and x.dim() == 4
              else torch.contiguous_format)
    if layout is torch.channels_last:
        model = model.to(memory_format=layout)
    # One batch is assembled in place: noise of each input's chunks, then who owns each row.
    # Nothing here waits for the device (no .item(), no bincount sizing), so the host
    # queues forward passes ahead of the GPU.
    noise = torch.zeros((batch_size, *shape), device=device)
    owner = torch.zeros(batch_size, dtype=torch.int64, device=device)
    padded = device.type == "cuda"
    ones = torch.ones(batch_size, dtype=torch.int64, device=device)
    view = (-1,) + (1,) * len(shape)

    def forward(rows):
        who = owner if padded else owner[:rows]
        eps = noise[:len(who)] if entry is None else entry.noise(noise[:len(who)])
        batch = torch.addcmul(x[who], eps, sigma[who].reshape(view))
        with torch.autocast(device.type, dtype=torch.bfloat16,
                            enabled=amp and device.type == "cuda"):
            logits = model(batch.contiguous(memory_format=layout))
        if logits.shape[-1] != num_classes:  # else counts would spill into the next input
            raise ValueError(f"the model returns {logits.shape[-1]} logits, expected "
                             f"num_classes == {num_classes}.")
        pred = logits.argmax(1)
        counts.index_add_(0, who[:rows] * num_classes + pred[:rows], ones[:rows])
        if progress is not None:
            progress.update(rows)

    gen = draw = None
    for step in packing(m, n, batch_size, chunk):
        match step:
            case Draw(slot, size, first):
                if first:
                    gen = torch.Generator(device=device).manual_seed(
                        noise_seed(seed, indices[slot], stage))
                draw = torch.randn((size, *shape), generator=gen, device=device)
            case Copy(slot, lo, hi, row):
                noise[row:row + hi - lo] = draw[lo:hi]
                owner[row:row + hi - lo] = slot
            case Forward(rows):
                forward(rows)
    return counts.reshape(m, num_classes).cpu().numpy()


def certify(model, x, labels, indices, sigma, *, n0, n, alpha, num_classes, seed=0, rate=0.0,
            batch_size=None, amp=False, channels_last=None, project_noise=True,
            knn_distance=None, sigma_slack=0.0, clamp=None, progress=False):
    r"""Cohen et al.'s CERTIFY for every input; one record (row) per input.

    The top class is selected on ``n0`` samples, its probability bounded below on ``n``
    fresh samples by Clopper-Pearson at level ``alpha``; abstain (``predict = -1``,
    radius 0) where that bound is below 1/2. The radius is Cohen's
    ``sigma * Phi^-1(p_A)`` when ``rate`` is 0, and the Theorem 3.2 radius of an
    r-semi-elastic sigma(x) with ``r = rate`` otherwise (``sigma`` then holds sigma(x)).

    Parameters
    ----------
    model : torch.nn.Module
        Base classifier on the device where sampling happens, in eval mode.
    x : Tensor, shape (m, ...)
        Inputs, on the model's device.
    labels : array_like of int, shape (m,)
        True classes (for the ``correct`` column).
    indices : array_like of int, shape (m,)
        Dataset indices of the inputs: they seed the noise.
    sigma : array_like, shape (m,) or scalar
        Noise level per input: sigma(x) with ``rate > 0``, else a constant.
    n0 : int
        Selection samples per input.
    n : int
        Estimation samples per input.
    alpha : float
        Level in (0, 1): a certificate is wrong with probability at most ``alpha``.
    num_classes : int
        Number of classes of the base classifier.
    seed : int, default 0
        The run's seed (:func:`noise_seed`).
    rate : float, default 0
        Semi-elasticity r of sigma(x); 0: constant sigma, Cohen's radius.
    batch_size, amp, channels_last, project_noise
        As in :func:`sample_counts`.
    knn_distance : array_like, shape (m,), optional
        Mean kNN distances that sigma(x) came from, copied to the records.
    sigma_slack : array_like, default 0
        The caller's bound on how far the sigma(x) it computed is from r-semi-elastic
        (:func:`idrs.certify.sigma.log_sigma_slack`), in log space.
    clamp : {None, "mnist", "cifar10"}, optional
        Certify with the paper's Appendix D clamp instead of the exact radius, to
        reproduce the paper's numbers as printed.
    progress : bool, default False
        Report samples done, with rate and ETA (:class:`idrs.engine.progress.Progress`).

    Returns
    -------
    pandas.DataFrame
        Cohen's columns ``idx label predict radius correct time``, then ``sigma``,
        ``knn_distance``, ``count_top`` (Monte Carlo count of the selected class), ``n``,
        ``dim`` (the input dimension N of the radius), ``noise_dim`` (Gaussian draws per
        sample, :func:`sample_counts`), ``p_a``, ``sigma_slack`` (the radius's delta,
        below), ``radius_time``: with the arguments ``rate`` and ``clamp``, all that
        :func:`idrs.certify.radius.radii` needs to compute the radius again. ``time``
        is the Monte Carlo sampling's wall time per input: the call's sampling time
        divided evenly among its inputs, since inputs share forward passes (Cohen's
        files time each image alone). ``radius_time`` is likewise its share of the
        radius computation, one vectorised search for all inputs
        (:func:`idrs.certify.radius.radii`).

    Raises
    ------
    ValueError
        If the model returns other than ``num_classes`` logits, ``alpha`` is not in
        (0, 1), or :func:`idrs.certify.radius.idrs_radius` rejects its arguments (for
        example an unknown ``clamp``).

    Notes
    -----
    With :math:`n_A` the count of the selected class among the ``n`` estimation samples,

    .. math:: \underline{p_A} = B^{-1}(\alpha;\, n_A,\, n-n_A+1), \qquad
              R = \sigma\,\Phi^{-1}(\underline{p_A}) \text{ (rate 0)},

    (:func:`idrs.certify.stats.clopper_pearson_lower`,
    :func:`idrs.certify.radius.cohen_radius`), or with ``rate > 0``
    :func:`idrs.certify.radius.idrs_radius` of :math:`\underline{p_A}`, sigma, r, the
    input dimension and the slack :math:`\delta` below.

    sigma is rounded to float32 once, here: that is the value the noise is drawn with,
    so it is also the value the radius uses and the record shows. With ``rate > 0``
    the certificate's band of sigma(x1) is widened by ``sigma_slack`` plus the float32
    rounding at both ends, :math:`\delta` = ``sigma_slack`` + 2 :data:`SIGMA_ROUNDING`,
    so the certificate holds for sigma(x) as computed.
    """
    started = time.perf_counter()
    sigma = np.broadcast_to(sigma_as_sampled(sigma), (len(x),))
    indices = np.asarray(indices, dtype=np.int64)
    entry = linear_entry(model, x.shape[1:]) if project_noise else None
    with Progress(len(x) * (n0 + n), "certify", "samples", enabled=progress) as shown:
        kwargs = dict(num_classes=num_classes, batch_size=batch_size, amp=amp,
                      channels_last=channels_last, seed=seed, progress=shown)
        selection = _counts(model, entry, x, sigma, indices, n0, stage=SELECTION, **kwargs)
        top = selection.argmax(axis=1)
        estimation = _counts(model, entry, x, sigma, indices, n, stage=ESTIMATION, **kwargs)
    count_top = estimation[np.arange(len(x)), top]
    sampling = time.perf_counter() - started
    p_a = clopper_pearson_lower(count_top, n, alpha)
    dim = int(np.prod(x.shape[1:]))
    slack = np.broadcast_to(np.asarray(sigma_slack, dtype=np.float64) + 2 * SIGMA_ROUNDING,
                            (len(x),))
    radius, radius_time = radii(p_a, sigma, rate, dim, slack, clamp)
    predicted = np.where(p_a < 0.5, ABSTAIN, top)
    labels = np.asarray(labels, dtype=np.int64)
    return pd.DataFrame({
        "idx": indices, "label": labels, "predict": predicted,
        "radius": radius, "correct": predicted == labels,
        "time": np.full(len(x), sampling / max(len(x), 1)), "sigma": sigma,
        "knn_distance": (np.full(len(x), np.nan) if knn_distance is None
                         else np.asarray(knn_distance, dtype=np.float64)),
        "count_top": count_top.astype(np.int64), "n": np.full(len(x), n, dtype=np.int64),
        "dim": np.full(len(x), dim, dtype=np.int64),
        "noise_dim": np.full(len(x), dim if entry is None else entry.noise_dim,
                             dtype=np.int64),
        "p_a": p_a, "sigma_slack": slack.copy(), "radius_time": radius_time})


def predict(model, x, labels, indices, sigma, *, n, alpha, num_classes, seed=0,
            batch_size=None, amp=False, channels_last=None):
    """Cohen et al.'s PREDICT: the top class, or abstain (-1) where the test does not reject.

    The test is the two-sided binomial test of the two largest counts' equality at
    level ``alpha`` (:func:`idrs.certify.stats.predict_test`).

    Parameters
    ----------
    model : torch.nn.Module
        Base classifier on the device where sampling happens, in eval mode.
    x : Tensor, shape (m, ...)
        Inputs, on the model's device.
    labels : array_like of int, shape (m,)
        True classes (for the ``correct`` column).
    indices : array_like of int, shape (m,)
        Dataset indices of the inputs: they seed the noise.
    sigma : array_like, shape (m,) or scalar
        Noise level per input.
    n : int
        Samples per input.
    alpha : float
        Level in (0, 1): a class other than the smoothed classifier's is returned with
        probability at most ``alpha``.
    num_classes : int
        Number of classes of the base classifier.
    seed : int, default 0
        The run's seed (:func:`noise_seed`).
    batch_size, amp, channels_last
        As in :func:`sample_counts`.

    Returns
    -------
    pandas.DataFrame
        Cohen's columns ``idx label predict correct time``, then ``sigma`` (as given).
        ``time`` is the call's wall time divided evenly among its inputs.

    Raises
    ------
    ValueError
        If the model returns other than ``num_classes`` logits or ``alpha`` is not in
        (0, 1).

    Notes
    -----
    The top two classes are the two largest of the ``n`` counts (ties broken towards
    the lower class index). The noise is drawn at stage ``PREDICTION``, independent of
    :func:`certify`'s.
    """
    started = time.perf_counter()
    sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (len(x),))
    indices = np.asarray(indices, dtype=np.int64)
    counts = sample_counts(model, x, sigma, indices, n, stage=PREDICTION, seed=seed,
                           num_classes=num_classes, batch_size=batch_size, amp=amp,
                           channels_last=channels_last)
    order = np.argsort(-counts, axis=1, kind="stable")
    top, second = order[:, 0], order[:, 1]
    rows = np.arange(len(x))
    passed = predict_test(counts[rows, top], counts[rows, second], alpha)
    predicted = np.where(passed, top, ABSTAIN)
    labels = np.asarray(labels, dtype=np.int64)
    elapsed = time.perf_counter() - started
    return pd.DataFrame({"idx": indices, "label": labels, "predict": predicted,
                         "correct": predicted == labels,
                         "time": np.full(len(x), elapsed / max(len(x), 1)), "sigma": sigma})


def smoothed_class(model, x, sigma, *, n, num_classes, seed=0, batch_size=None):
    """The smoothed classifier's class: the most frequent of ``n`` noisy predictions.

    No test and no abstention: for drawing decision regions.

    Parameters
    ----------
    model : torch.nn.Module
        Base classifier on the device where sampling happens, in eval mode.
    x : Tensor, shape (m, ...)
        Inputs, on the model's device.
    sigma : array_like, shape (m,) or scalar
        Noise level per input (rounded to float32, :func:`sigma_as_sampled`).
    n : int
        Samples per input.
    num_classes : int
        Number of classes of the base classifier.
    seed : int, default 0
        The run's seed; input ``j`` is seeded by ``j`` (:func:`noise_seed`).
    batch_size : int, optional
        As in :func:`sample_counts`.

    Returns
    -------
    ndarray of int64, shape (m,)
        The most frequent class (the lowest index among ties).

    Raises
    ------
    ValueError
        If the model returns other than ``num_classes`` logits.
    """
    sigma = np.broadcast_to(sigma_as_sampled(sigma), (len(x),))
    counts = sample_counts(model, x, sigma, np.arange(len(x)), n, stage=PREDICTION,
                           seed=seed, num_classes=num_classes, batch_size=batch_size)
    return counts.argmax(axis=1)

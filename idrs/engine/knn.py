"""Mean L2 distance to the k nearest training points: FAISS finds candidates, float64
decides.

The distances, not sigma(x), are what is stored (:func:`save_distances`): sigma(x) is
computed from them at use time (:mod:`idrs.certify.sigma`), so changing sigma_b, r or m never
recomputes the kNN. Each file records the dataset, split, k and the fingerprint of the
training data it came from; loading it for other data is an error.

Why float64 matters: the smoothed classifier is defined by the distance function *as
computed*, and Theorem 3.2 needs it 1-Lipschitz. FAISS's float32
``|x|^2 + |y|^2 - 2 x.y`` is off by up to ~1e-5 on MNIST, which breaks that by more
than the certificate's numerical allowance; the float64 recomputation here is off by
at most :func:`idrs.certify.rounding.distance_error_bound` (~1e-13 relative), which
:mod:`idrs.certify.sigma` folds into the certificate.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from .._validation import check_option
from ..certify.rounding import U32, U64, gamma
from ..files import TableError, read_table, write_table
from .progress import Progress

log = logging.getLogger(__name__)

__all__ = ["knn_mean_distance", "save_distances", "load_distances", "DistanceMismatchError"]

#: float64 elements per block of gathered candidates: 8 MB on the CPU (cache-sized, 3x
#: faster than 128 MB), 512 MB on a GPU (fewer, fuller kernels).
_BLOCK_ELEMENTS = {"cpu": 1 << 20, "cuda": 1 << 26}
#: float64 elements per block of the exhaustive fallback's GEMM (128 MB).
_GEMM_ELEMENTS = 1 << 24


class DistanceMismatchError(ValueError):
    """Stored kNN distances belong to other data (or another k)."""


def _candidate_search(ref, backend, use_gpu):
    """``search(queries, width) -> (squared distances, ids)`` of the ``width`` nearest
    reference points by |q|^2 + |y|^2 - 2 q.y in float32, the unit roundoff of that
    arithmetic (for :func:`_gemm_bound`), and the reference set as a float32 tensor on
    the device where the float64 recomputation runs (the search's: CUDA when the search
    uses a GPU).

    ``backend``: ``"faiss"`` (``IndexFlatL2``, on the GPU when FAISS has one),
    ``"torch"`` (a GEMM and ``topk``, on CUDA when available) or ``"auto"``: FAISS where
    it has a GPU, else torch (also without FAISS installed), whose CPU GEMM was measured
    about 5x faster than faiss-cpu 1.15's search here (``benchmarks/knn.py``).
    """
    import torch
    check_option(backend, "backend", ("auto", "faiss", "torch"))
    cuda = use_gpu and torch.cuda.is_available()
    try:
        import faiss
    except ImportError:
        if backend == "faiss":
            raise ImportError("backend='faiss' needs FAISS: pip install faiss-cpu (or "
                              "faiss-gpu), or use backend='torch'.") from None
        faiss = None
    if faiss is not None and backend in ("auto", "faiss"):
        gpu = use_gpu and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0
        if backend == "faiss" or gpu:
            index = faiss.IndexFlatL2(ref.shape[1])
            if gpu:  # FAISS's cuBLAS handle disallows reduced precision, unless forced:
                index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
            index.add(ref)
            tf32 = gpu and os.environ.get("NVIDIA_TF32_OVERRIDE", "0") != "0"
            return ((lambda x, width: index.search(x, width)), (2.0 ** -11 if tf32 else U32),
                    torch.from_numpy(ref).to("cuda" if gpu and cuda else "cpu"))
    device = torch.device("cuda" if cuda else "cpu")
    tref = torch.from_numpy(ref).to(device)
    ref_sq = (tref * tref).sum(1)
    # float32 matmuls may run in TF32 ('high') or bf16 ('medium') on CUDA
    unit = {"highest": U32, "high": 2.0 ** -11, "medium": 2.0 ** -8}[
        torch.get_float32_matmul_precision()] if cuda else U32

    step = max(1, (1 << 27) // len(ref))  # a 512 MB block of squared distances

    @torch.inference_mode()
    def search(x, width):
        values, ids = [], []
        for s in range(0, len(x), step):
            tq = torch.from_numpy(x[s:s + step]).to(device)
            d2 = (tq @ tref.T).mul_(-2.0).add_(ref_sq).add_((tq * tq).sum(1, keepdim=True))
            v, i = d2.topk(width, dim=1, largest=False)
            values.append(v.cpu().numpy())
            ids.append(i.cpu().numpy())
        return np.concatenate(values), np.concatenate(ids)
    return search, unit, tref


def _squared_distances(q, ref, ids):
    """Float64 squared distances of ``q[i]`` to ``ref[ids[i, j]]``, by differences (no
    cancellation), in blocks of bounded memory, on ``ref``'s device.

    ``q``: float64 ndarray (b, N); ``ref``: float32 tensor (m, N); ``ids``: ndarray (b, w).
    One rounding per difference and per square and N - 1 per sum, in whatever order the
    device reduces: :func:`idrs.certify.rounding.distance_error_bound` covers any order
    (and an FMA only removes roundings). Returns a float64 ndarray (b, w).
    """
    import torch
    device = ref.device
    step = max(1, _BLOCK_ELEMENTS.get(device.type, _BLOCK_ELEMENTS["cpu"])
               // (ids.shape[1] * q.shape[1]))
    q, ids = torch.from_numpy(q).to(device), torch.from_numpy(np.asarray(ids)).to(device)
    if device.type == "cpu":  # numpy gathers and widens about 2x faster than torch here
        def gather(rows):
            return torch.from_numpy(ref.numpy()[rows.numpy()].astype(np.float64))
    else:
        def gather(rows):
            return ref[rows].double()
    out = []
    with torch.inference_mode():
        for s in range(0, len(q), step):
            diff = gather(ids[s:s + step]).sub_(q[s:s + step, None, :])
            out.append(diff.square_().sum(-1))
    return torch.cat(out).cpu().numpy()


def _gemm_bound(q_norms, ref_norm, dim, unit):
    """Error bound of a squared distance computed as |q|^2 + |y|^2 - 2 q.y with unit
    roundoff ``unit``: the two norms and the dot product are sums of N products
    (error <= gamma_N each, |q.y| <= |q||y|), then two additions."""
    return gamma(dim + 4, unit) * (q_norms + ref_norm) ** 2


def _exhaustive(q64, ref, ref_sq, k, rows, exclude_self, tref):
    """Mean distance of the queries ``rows`` by a float64 GEMM filter over the whole
    reference set, then exact differences: every point within twice the filter's error
    bound of its k-th value is kept, so the neighbour set is exact."""
    out = np.empty(len(rows))
    q_sq = np.einsum("ij,ij->i", q64[rows], q64[rows])
    eta = _gemm_bound(np.sqrt(q_sq), float(np.sqrt(ref_sq.max())), ref.shape[1], U64)
    step = max(1, _GEMM_ELEMENTS // len(ref))
    block = max(1, _GEMM_ELEMENTS // ref.shape[1])
    for s in range(0, len(rows), step):
        part = rows[s:s + step]
        approx = np.empty((len(part), len(ref)))
        for r in range(0, len(ref), block):
            approx[:, r:r + block] = q64[part] @ ref[r:r + block].astype(np.float64).T
        approx *= -2
        approx += ref_sq
        approx += q_sq[s:s + step, None]
        if exclude_self:
            approx[np.arange(len(part)), part] = np.inf
        kth = np.partition(approx, k - 1, axis=1)[:, k - 1]
        for i, row in enumerate(part):
            ids = np.flatnonzero(approx[i] <= kth[i] + 2 * eta[s + i])
            d2 = np.sort(_squared_distances(q64[row:row + 1], tref, ids[None])[0])
            out[s + i] = np.sqrt(d2[:k]).mean()
    return out


def knn_mean_distance(queries, reference, k, *, exclude_self=False, batch_size=2048,
                      use_gpu=True, margin=None, backend="auto", progress=False):
    r"""Mean Euclidean distance of each query to its ``k`` nearest reference points.

    .. math:: \bar d_k(x) = \frac1k \sum_{i=1}^{k} \lVert x - x_{(i)} \rVert_2,

    with :math:`x_{(i)}` the i-th nearest reference point. The neighbour set is exact
    and the result is within :func:`idrs.certify.rounding.distance_error_bound` of the
    exact mean distance (Notes).

    Parameters
    ----------
    queries : ndarray, shape (n, ...)
        float32 (other dtypes are converted to float32 first, which is then the input).
    reference : ndarray, shape (m, ...)
        The un-augmented training set, with the queries' shape per point.
    k : int
        Neighbours, ``1 <= k <= m`` (``k <= m - 1`` with ``exclude_self``).
    exclude_self : bool
        The queries *are* the reference set (same order): the point itself is dropped
        from its own neighbours. At training time sigma(x_i) should describe the
        neighbourhood that a test point at x_i would see, and a test point is never its
        own neighbour; including it would add a zero distance and bias training-time
        sigma downwards. Only the point itself is dropped (by index): an exact duplicate
        elsewhere in the set is a different sample and counts.
    batch_size : int, default 2048
        Queries per float32 search.
    use_gpu : bool
        Search on the GPU when one is available.
    margin : int, optional
        Extra candidates per query; default ``max(8, k)`` (k = 20: 40 candidates, which
        left no query to the fallback on the benchmark, against 7% with 30).
    backend : {"auto", "faiss", "torch"}
        The float32 candidate search, see :func:`_candidate_search`.
    progress : bool
        Report queries done, with rate and ETA (:class:`idrs.engine.progress.Progress`).

    Returns
    -------
    ndarray of float64, shape (n,)
        :math:`\tilde d_k` per query.

    Raises
    ------
    ValueError
        If queries and reference points differ in dimension, ``k`` is out of range,
        ``exclude_self`` is set but the queries are not as many as the reference
        points, or ``backend`` is unknown.
    ImportError
        If ``backend="faiss"`` and FAISS is not installed.

    Notes
    -----
    A float32 search (:func:`_candidate_search`: FAISS's ``IndexFlatL2`` or a torch
    GEMM) returns ``k + margin`` candidates per query; their distances are recomputed
    in float64 from the data, by differences, and the k smallest are averaged. A query
    is accepted only when the float32 search provably missed no closer point: its
    squared distances :math:`|q|^2 + |y|^2 - 2q\cdot y` are off by at most

    .. math:: \eta = \gamma^{(32)}_{N+4}\,(\lVert q\rVert + \max_y\lVert y\rVert)^2

    (two norms and a dot product, each a sum of N products, then two additions; any
    summation order; :math:`\gamma^{(32)}` uses the search's unit roundoff, coarser
    where CUDA matmuls run in TF32 or bf16), so every point not returned is at squared
    distance at least :math:`t - \eta`, t the largest value returned. The query is
    accepted where the k-th float64 squared distance :math:`d^2_{(k)}` satisfies
    :math:`d^2_{(k)}(1 + 2\gamma^{(64)}_{N+2}) \le t - \eta`. A query whose k-th
    candidate is not provably below that (distances concentrate in high dimension; a
    few percent of uniform random CIFAR-shaped queries) is decided by a float64 GEMM
    over the whole reference set, whose error bound :math:`\gamma^{(64)}_{N+4}(\dots)^2`
    is small enough to keep every point that could be among the k nearest (all within
    twice that bound of the k-th value are recomputed by differences). The result is
    within :func:`idrs.certify.rounding.distance_error_bound` of the exact mean
    distance.

    Examples
    --------
    >>> import numpy as np
    >>> from idrs.engine.knn import knn_mean_distance
    >>> reference = np.array([[0, 0], [3, 4], [6, 8]], dtype=np.float32)
    >>> knn_mean_distance(np.zeros((1, 2), np.float32), reference, 2, use_gpu=False)
    array([2.5])
    >>> knn_mean_distance(reference, reference, 1, exclude_self=True, use_gpu=False)
    array([5., 5., 5.])
    """
    q = np.ascontiguousarray(np.asarray(queries, dtype=np.float32).reshape(len(queries), -1))
    ref = np.ascontiguousarray(np.asarray(reference, dtype=np.float32).reshape(len(reference), -1))
    if q.shape[1] != ref.shape[1]:
        raise ValueError(f"queries have dimension {q.shape[1]} but the reference set has "
                         f"{ref.shape[1]}.")
    limit = len(ref) - 1 if exclude_self else len(ref)
    if not 1 <= k <= limit:
        raise ValueError(f"k == {k}, must be in [1, {limit}] for a reference set of "
                         f"{len(ref)} points{' (self excluded)' if exclude_self else ''}.")
    if exclude_self and len(q) != len(ref):
        raise ValueError("exclude_self needs the queries to be the reference set itself.")
    dim = q.shape[1]
    q64 = q.astype(np.float64)
    search, unit, tref = _candidate_search(ref, backend, use_gpu)
    ref_sq = np.einsum("ij,ij->i", ref, ref, dtype=np.float64)
    eta = _gemm_bound(np.sqrt(np.einsum("ij,ij->i", q64, q64)), float(np.sqrt(ref_sq.max())),
                      dim, unit)
    g_sq = gamma(dim + 2, U64)  # float64 sum of squares (distance_error_bound)
    width = min(len(ref), k + (max(8, k) if margin is None else int(margin))
                + int(exclude_self))
    out = np.empty(len(q))
    unproven = []
    shown = Progress(len(q), "knn", "queries", enabled=progress)
    for s in range(0, len(q), batch_size):
        rows = np.arange(s, min(s + batch_size, len(q)))
        approx, ids = search(q[rows], width)
        d2 = _squared_distances(q64[rows], tref, ids)
        if exclude_self:
            d2[ids == rows[:, None]] = np.inf
        d2.sort(axis=1)
        out[rows] = np.sqrt(d2[:, :k]).mean(axis=1)
        if width < len(ref):
            # complete when the k-th candidate is closer than any point FAISS did not return
            proven = d2[:, k - 1] * (1 + 2 * g_sq) <= approx[:, -1] - eta[rows]
            unproven.append(rows[~proven])
        shown.update(len(rows))
    shown.close()
    if unproven and (rows := np.concatenate(unproven)).size:
        log.info("%d of %d queries not provably complete after the float32 search: "
                 "decided by the float64 exhaustive search", rows.size, len(q))
        out[rows] = _exhaustive(q64, ref, ref_sq, k, rows, exclude_self, tref)
    return out


def save_distances(path, distances, *, dataset, split, k, train_fingerprint,
                   feature_error=None, feature_coefficient=0.0, knn_dim=None, features=""):
    """Write distances to Parquet atomically, with their provenance in the metadata.

    Parameters
    ----------
    path : str or path-like
        The Parquet file, written through a temporary file and a rename.
    distances : array_like, shape (n,)
        Mean kNN distances, one per point of the split, in index order.
    dataset, split : str
        The data they belong to.
    k : int
        Neighbours averaged.
    train_fingerprint : str
        Fingerprint of the training (reference) set they were computed against.
    feature_error : array_like, shape (n,), optional
        With a feature map (:mod:`idrs.engine.features`): the error bound per point (of
        :func:`idrs.engine.features.feature_error`); default zeros.
    feature_coefficient : float, default 0
        With a feature map: its ``feature_coefficient``.
    knn_dim : int, optional
        With a feature map: the dimension the search ran in.
    features : str, default ""
        With a feature map: a description of the map.

    Notes
    -----
    The table has the columns ``index``, ``mean_distance`` and ``feature_error``; the
    other arguments go into the file's metadata, which :func:`load_distances` checks.
    """
    df = pd.DataFrame({"index": np.arange(len(distances), dtype=np.int64),
                       "mean_distance": np.asarray(distances, dtype=np.float64),
                       "feature_error": (np.zeros(len(distances)) if feature_error is None
                                         else np.asarray(feature_error, dtype=np.float64))})
    write_table(df, path, {"dataset": dataset, "split": split, "k": k,
                           "train_fingerprint": train_fingerprint,
                           "feature_coefficient": repr(float(feature_coefficient)),
                           "knn_dim": "" if knn_dim is None else str(int(knn_dim)),
                           "features": features})


def load_distances(path, *, dataset, split, k, train_fingerprint, n=None, with_info=False):
    """Read distances written by :func:`save_distances`, checking where they came from.

    They must belong to this dataset, split, k and training data (and, when given, have
    ``n`` rows).

    Parameters
    ----------
    path : str or path-like
        The Parquet file.
    dataset, split : str
        The data expected.
    k : int
        Neighbours expected.
    train_fingerprint : str
        Fingerprint of the training set expected.
    n : int, optional
        Number of distances expected.
    with_info : bool, default False
        Also return ``{"feature_error", "feature_coefficient", "knn_dim"}`` (zeros and
        None for distances in the input space).

    Returns
    -------
    distances : ndarray of float64, shape (n,)
    info : dict
        Only with ``with_info``.

    Raises
    ------
    DistanceMismatchError
        If the file is missing or unreadable, was written for another dataset, split,
        k or training set, or has other than ``n`` rows; the message names the fix
        (rerun ``idrs knn``).
    """
    try:
        df, meta = read_table(path, "rerun `idrs knn`")
    except TableError as err:
        raise DistanceMismatchError(str(err)) from None
    expected = {"dataset": dataset, "split": split, "k": str(k),
                "train_fingerprint": train_fingerprint}
    wrong = {key: (meta.get(key), v) for key, v in expected.items() if meta.get(key) != v}
    if wrong:
        details = ", ".join(f"{key} is {got!r}, expected {want!r}"
                            for key, (got, want) in wrong.items())
        raise DistanceMismatchError(f"{path} belongs to other data: {details}. Rerun "
                                    "`idrs knn` for this dataset and k.")
    distances = df["mean_distance"].to_numpy()
    if n is not None and len(distances) != n:
        raise DistanceMismatchError(f"{path} has {len(distances)} distances, expected {n}.")
    if not with_info:
        return distances
    info = {"feature_error": (df["feature_error"].to_numpy() if "feature_error" in df
                              else np.zeros(len(distances))),
            "feature_coefficient": float(meta.get("feature_coefficient") or 0.0),
            "knn_dim": int(meta["knn_dim"]) if meta.get("knn_dim") else None}
    return distances, info

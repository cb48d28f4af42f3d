"""Mean L2 distance to the k nearest training points, with FAISS.

The distances, not sigma(x), are what is stored (:func:`save_distances`): sigma(x) is
computed from them at use time (:mod:`idrs.sigma`), so changing sigma_b, r or m never
recomputes the kNN. Each file records the dataset, split, k and the fingerprint of the
training data it came from; loading it for other data is an error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .records import TableError, read_table, write_table

__all__ = ["knn_mean_distance", "save_distances", "load_distances", "DistanceMismatchError"]


class DistanceMismatchError(ValueError):
    """Stored kNN distances belong to other data (or another k)."""


def _faiss_index(dim, use_gpu):
    import faiss
    index = faiss.IndexFlatL2(dim)
    if use_gpu and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    return index


def knn_mean_distance(queries, reference, k, *, exclude_self=False, batch_size=2048,
                      use_gpu=True):
    r"""Mean Euclidean distance of each query to its ``k`` nearest reference points.

    .. math:: \bar d_k(x) = \frac1k \sum_{i=1}^{k} \lVert x - x_{(i)} \rVert_2

    Exact search (FAISS ``IndexFlatL2``, on the GPU when FAISS has one, else the CPU),
    queries in batches of ``batch_size`` so memory stays at a few GB even for CIFAR10
    (10,000 x 50,000 x 3,072). FAISS returns *squared* distances; they are clipped at 0
    (rounding can make them slightly negative) before the square root.

    Parameters
    ----------
    queries : ndarray, shape (n, ...)
    reference : ndarray, shape (m, ...)
        The un-augmented training set.
    k : int
        Neighbours, ``1 <= k <= m`` (``k <= m - 1`` with ``exclude_self``).
    exclude_self : bool
        The queries *are* the reference set (same order): the point itself is dropped
        from its own neighbours. At training time sigma(x_i) should describe the
        neighbourhood that a test point at x_i would see, and a test point is never its
        own neighbour; including it would add a zero distance and bias training-time
        sigma downwards. Only the point itself is dropped (by index): an exact duplicate
        elsewhere in the set is a different sample and counts.

    Returns
    -------
    ndarray of float64, shape (n,)
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
    index = _faiss_index(ref.shape[1], use_gpu)
    index.add(ref)
    out = np.empty(len(q))
    extra = 1 if exclude_self else 0
    for start in range(0, len(q), batch_size):
        stop = min(start + batch_size, len(q))
        d2, ids = index.search(q[start:stop], k + extra)
        if exclude_self:
            own = ids == np.arange(start, stop)[:, None]
            # the point itself may be missing among k+1 exact ties at distance 0: then
            # drop the farthest instead, which leaves k neighbours all the same
            own[~own.any(axis=1), -1] = True
            d2 = d2[~own].reshape(stop - start, k)
        out[start:stop] = np.sqrt(np.maximum(d2.astype(np.float64), 0.0)).mean(axis=1)
    return out


def save_distances(path, distances, *, dataset, split, k, train_fingerprint):
    """Write distances to Parquet atomically, with their provenance in the metadata."""
    df = pd.DataFrame({"index": np.arange(len(distances), dtype=np.int64),
                       "mean_distance": np.asarray(distances, dtype=np.float64)})
    write_table(df, path, {"dataset": dataset, "split": split, "k": k,
                           "train_fingerprint": train_fingerprint})


def load_distances(path, *, dataset, split, k, train_fingerprint, n=None):
    """Read distances written by :func:`save_distances`, checking that they belong to
    this dataset, split, k and training data (and, when given, have ``n`` rows)."""
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
    return distances

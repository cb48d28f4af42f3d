"""sigma(x) as the smoothed classifier computes it is semi-elastic up to the slack the
certificate uses (:func:`idrs.certify.sigma.log_sigma_slack`): the certificate is sound
for sigma(x) as computed, not only for the exact sigma(x) of Equation 1.

The pairs are nearby float32 inputs: tiny random steps, steps along the gradient of the
kNN distance (the direction that changes it fastest), and pairs on either side of a
point where the k-th and (k+1)-th neighbours swap. The same check fails for FAISS's
float32 distances and for sigma rounded to float32 when the slack is set to 0.
"""

import numpy as np
import pytest

from idrs.certify.rounding import distance_error_bound
from idrs.certify.sigma import log_sigma_slack, sigma_from_distance
from idrs.engine import knn as knn_module
from idrs.engine.data import load_dataset
from idrs.engine.knn import knn_mean_distance
from idrs.engine.smoothing import SIGMA_ROUNDING, sigma_as_sampled

K, SIGMA_B = 20, 0.25


def float32_faiss_distance(queries, reference, k):
    """The kNN distance before this check existed: FAISS's float32 squared distances."""
    import faiss
    q = np.ascontiguousarray(queries.reshape(len(queries), -1), dtype=np.float32)
    ref = np.ascontiguousarray(reference.reshape(len(reference), -1), dtype=np.float32)
    index = faiss.IndexFlatL2(q.shape[1])
    index.add(ref)
    d2, _ = index.search(q, k)
    return np.sqrt(np.maximum(d2.astype(np.float64), 0.0)).mean(axis=1)


def exact_neighbours(q, ref):
    ref = ref.astype(np.float64)
    return np.stack([np.argsort(((ref - row) ** 2).sum(1)) for row in q.astype(np.float64)])


@pytest.fixture(scope="module")
def pairs():
    """(x, y) float32 pairs on real MNIST (N = 784) and the training set."""
    ds = load_dataset("mnist_subset")
    train = ds.x_train.reshape(len(ds.x_train), -1)
    rng = np.random.default_rng(14)
    x = ds.x_test[:60].reshape(60, -1)
    order = exact_neighbours(x, train)
    xs, ys = [], []
    # tiny random steps
    for scale in (1e-6, 1e-4):
        u = rng.standard_normal(x.shape)
        xs.append(x)
        ys.append((x + scale * u / np.linalg.norm(u, axis=1, keepdims=True)).astype(np.float32))
    # steps along the gradient of the mean distance: the mean of the unit vectors from
    # the k nearest neighbours to x (d grows fastest along it)
    near = train[order[:, :K]].astype(np.float64)
    grad = ((x[:, None] - near) / np.linalg.norm(x[:, None] - near, axis=2, keepdims=True)).mean(1)
    for scale in (1e-7, 1e-6, 1e-5):
        xs.append(x)
        ys.append((x + scale * grad / np.linalg.norm(grad, axis=1, keepdims=True)).astype(np.float32))
    # straddling a swap of the k-th and (k+1)-th neighbours a, b: on the segment from x
    # to b, the bisector of a and b is crossed at t* (solved in float64)
    a, b = (train[order[:, j]].astype(np.float64) for j in (K - 1, K))
    x64 = x.astype(np.float64)
    t = (((b * b).sum(1) - (a * a).sum(1) - 2 * (x64 * (b - a)).sum(1))
         / (2 * ((b - x64) * (b - a)).sum(1)))[:, None]
    for h in (1e-7, 1e-5):
        xs.append((x64 + (t - h) * (b - x64)).astype(np.float32))
        ys.append((x64 + (t + h) * (b - x64)).astype(np.float32))
    return np.concatenate(xs), np.concatenate(ys), ds.x_train


def check(x, y, train, distance, rate, m, slack, sigma_max=None):
    """The number of pairs violating |log s(x) - log s(y)| <= r |x - y| + slack(x)."""
    dx, dy = distance(x, train, K), distance(y, train, K)
    sx, sy = (sigma_as_sampled(sigma_from_distance(d, SIGMA_B, rate, m, sigma_max))
              for d in (dx, dy))
    gap = np.abs(np.log(sx) - np.log(sy))
    bound = rate * np.linalg.norm(x.astype(np.float64) - y.astype(np.float64), axis=1)
    return int((gap > bound + slack(dx, sx, rate, m)).sum()), len(gap)


def certificate_slack(d, s, rate, m):
    """The slack that idrs.engine.smoothing.certify hands to idrs_radius for these inputs."""
    return log_sigma_slack(d, s, rate, m, 784, K) + 2 * SIGMA_ROUNDING


def no_slack(d, s, rate, m):
    return 0.0


@pytest.mark.parametrize("rate,sigma_max", [(0.01, None), (0.5, None), (0.5, 0.3)])
def test_sigma_as_computed_is_semi_elastic_up_to_the_certified_slack(pairs, rate, sigma_max):
    x, y, train = pairs
    m = 6.0  # about the median test distance of this subset
    bad, total = check(x, y, train, knn_mean_distance, rate, m, certificate_slack, sigma_max)
    assert bad == 0, f"{bad} of {total} pairs break the certified slack"


def test_the_check_fails_without_the_slack(pairs):
    """Each part of the slack is needed: FAISS's float32 distances break it, and so does
    the rounding of sigma to float32, when the slack is 0."""
    x, y, train = pairs
    rate, m = 0.5, 6.0
    old, _ = check(x, y, train, float32_faiss_distance, rate, m, no_slack)
    assert old > 0
    rounding, _ = check(x, y, train, knn_mean_distance, rate, m, no_slack)
    assert rounding > 0
    # and the float32 distances break even the kNN part of the slack (rounding covered)
    kinds = check(x, y, train, float32_faiss_distance, rate, m,
                  lambda d, s, r, mm: log_sigma_slack(d, s, r, mm, 784, K) + 2 * SIGMA_ROUNDING)
    assert kinds[0] > 0


def test_distances_are_within_the_stated_bound(pairs, rng):
    """Against an exact reference (mpmath-free: float64 differences summed with fsum)."""
    import math
    x, _, train = pairs
    ref = train.reshape(len(train), -1).astype(np.float64)
    for queries, exclude_self in ((x[:12], False), (train[:12], True)):
        got = knn_mean_distance(queries if not exclude_self else train, train, K,
                                exclude_self=exclude_self)[:12]
        for i, q in enumerate(queries.reshape(len(queries), -1).astype(np.float64)):
            d = np.array([math.sqrt(math.fsum((q - r) ** 2)) for r in ref])
            if exclude_self:
                d[i] = np.inf
            exact = math.fsum(np.sort(d)[:K]) / K
            assert abs(got[i] - exact) <= distance_error_bound(got[i], 784, K)


def test_training_time_sigma_is_semi_elastic(pairs):
    """sigma(x_i) of training points, self excluded, over pairs of nearest training
    points: excluding the point itself keeps the mean distance 1-Lipschitz (each point
    swaps the other in for itself), up to the rounding bound."""
    _, _, train = pairs
    flat = train.reshape(len(train), -1)
    d = knn_mean_distance(train, train, K, exclude_self=True)
    nearest = exact_neighbours(flat[:100], flat)[:, 1]
    gap = np.abs(d[:100] - d[nearest])
    dist = np.linalg.norm(flat[:100].astype(np.float64) - flat[nearest], axis=1)
    assert (gap <= dist + distance_error_bound(d[:100], 784, K)
            + distance_error_bound(d[nearest], 784, K)).all()


def test_fallback_search_is_exact_when_distances_concentrate(rng, monkeypatch):
    """Uniform random points in high dimension: the float32 candidates cannot be proven
    complete for many queries, which then go through the float64 exhaustive search."""
    ref = rng.random((3000, 512), dtype=np.float32)
    q = rng.random((50, 512), dtype=np.float32)
    fallback = []

    def counted(q64, reference, reference_sq, k, rows, *args):
        fallback.extend(rows)
        return exhaustive(q64, reference, reference_sq, k, rows, *args)
    exhaustive = knn_module._exhaustive
    monkeypatch.setattr(knn_module, "_exhaustive", counted)
    got = knn_mean_distance(q, ref, 10, margin=1, backend="torch")
    assert 0 < len(fallback) < len(q)
    d = np.sqrt(((q.astype(np.float64)[:, None] - ref[None]) ** 2).sum(-1))
    np.testing.assert_allclose(got, np.sort(d, axis=1)[:, :10].mean(1), rtol=1e-12)

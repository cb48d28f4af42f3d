"""sigma(x) at high dimension (idrs.engine.features): the maps have operator norm <= 1, the
computed features stay within their error bound, and sigma(x) as computed stays
r-semi-elastic within the certificate's slack, on real MNIST images."""

import numpy as np
import pytest

from idrs.certify.sigma import log_sigma_slack, sigma_from_distance
from idrs.engine.data import mnist_subset
from idrs.engine.features import FeatureMap, feature_error
from idrs.engine.knn import knn_mean_distance

K = 10


@pytest.fixture(scope="module")
def mnist():
    ds = mnist_subset()
    return ds.x_train[:2000], ds.x_test[:200]


@pytest.mark.parametrize("kind, options", [("pool", {"factor": 4}), ("pca", {"dim": 32}),
                                           ("none", {"reference": 500})])
def test_maps_are_1_lipschitz_on_random_pairs(mnist, rng, kind, options):
    train, test = mnist
    fmap = FeatureMap(kind, **options).fit(train)
    x = test[:100].astype(np.float64)  # float32 images, as the pipeline stores them
    y = (x + rng.normal(size=x.shape) * rng.uniform(0.01, 1.0, (len(x), 1, 1, 1))).astype(
        np.float32).astype(np.float64)
    fx, fy = fmap.transform(x).astype(np.float64), fmap.transform(y).astype(np.float64)
    moved = np.linalg.norm((x - y).reshape(len(x), -1), axis=1)
    err = feature_error(x, 0.0, fmap.coefficient) + feature_error(y, 0.0, fmap.coefficient)
    assert np.all(np.linalg.norm(fx - fy, axis=1) <= moved + err)
    # and the mean kNN distance of the features: |d(x) - d(y)| <= |x - y| (+ roundings)
    ref = fmap.transform(train[fmap.reference_indices(len(train))])
    dx = knn_mean_distance(fmap.transform(x), ref, K, use_gpu=False)
    dy = knn_mean_distance(fmap.transform(y), ref, K, use_gpu=False)
    assert np.all(np.abs(dx - dy) <= moved + err + 1e-9 * (dx + dy))


def test_projections_have_orthonormal_rows_and_norm_at_most_one(mnist):
    train, _ = mnist
    w = FeatureMap("pca", dim=32).fit(train).weights
    assert np.linalg.svd(w, compute_uv=False).max() < 1.0
    np.testing.assert_allclose(w @ w.T, np.eye(32), atol=1e-9)
    # sum pooling / f on one f x f block is the unit vector 1/f: norm 1 exactly
    block = np.zeros((1, 1, 4, 4))
    block[0, 0] = 1.0
    assert FeatureMap("pool", factor=4).transform(block)[0, 0] == pytest.approx(4.0)
    assert np.linalg.norm(block) == 4.0


def test_computed_features_are_within_their_error_bound(mnist):
    """float32 features against an extended-precision (long double) reference."""
    train, test = mnist
    for fmap in (FeatureMap("pca", dim=32).fit(train), FeatureMap("pool", factor=2)):
        got = fmap.transform(test).astype(np.longdouble)
        x = test.astype(np.longdouble)
        if fmap.kind == "pca":
            exact = x.reshape(len(x), -1) @ fmap.weights.astype(np.longdouble).T
        else:
            n, c, h, w = x.shape
            exact = (x.reshape(n, c, h // 2, 2, w // 2, 2).sum(axis=(3, 5)) / 2).reshape(n, -1)
        deviation = np.sqrt(((got - exact) ** 2).sum(axis=1)).astype(np.float64)
        bound = feature_error(test, 0.0, fmap.coefficient)
        assert np.all(deviation <= bound) and np.all(deviation > 0)


def test_sigma_of_features_is_semi_elastic_within_the_slack(mnist, rng):
    """Nearby pairs of real images: |log s(x0) - log s(x1)| <= r |x0 - x1| + slack, with
    the slack from the kNN and feature roundings (what certify_job adds)."""
    train, test = mnist
    rate, m, sigma_b = 0.5, 5.0, 0.25
    for fmap in (FeatureMap("pca", dim=32, reference=1000).fit(train),
                 FeatureMap("pool", factor=4, reference=1000)):
        ref_x = train[fmap.reference_indices(len(train))]
        ref = fmap.transform(ref_x)
        ref_norm = float(np.linalg.norm(ref_x.reshape(len(ref_x), -1), axis=1).max())
        x0 = test[:100]
        x1 = (x0 + rng.normal(size=x0.shape) * 1e-3).astype(np.float32)
        d0, d1 = (knn_mean_distance(fmap.transform(x), ref, K, use_gpu=False)
                  for x in (x0, x1))
        s0, s1 = (sigma_from_distance(d, sigma_b, rate, m) for d in (d0, d1))
        slack = log_sigma_slack(d0, s0, rate, m, ref.shape[1], K,
                                feature_error(x0, ref_norm, fmap.coefficient),
                                fmap.coefficient)
        moved = np.linalg.norm((x0.astype(np.float64) - x1).reshape(len(x0), -1), axis=1)
        assert np.all(np.abs(np.log(s0) - np.log(s1)) <= rate * moved + slack)

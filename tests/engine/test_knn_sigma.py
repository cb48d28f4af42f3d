"""kNN distances against brute force, stored distances, and Theorem 4.1's semi-elasticity."""

import numpy as np
import pytest

from idrs.certify.sigma import log_sigma_slack, sigma_from_distance
from idrs.engine.knn import DistanceMismatchError, knn_mean_distance, load_distances, save_distances


def brute_force(queries, reference, k, exclude_self=False):
    d = np.sqrt(((queries[:, None, :].astype(np.float64) - reference[None]) ** 2).sum(-1))
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, :k].mean(axis=1)


@pytest.mark.parametrize("backend", ["faiss", "torch"])
def test_matches_brute_force_to_float64_accuracy(rng, backend):
    reference = rng.random((1500, 40)).astype(np.float32)
    queries = rng.random((333, 40)).astype(np.float32)
    for k in (1, 5, 20):
        got = knn_mean_distance(queries, reference, k, batch_size=100, backend=backend)
        np.testing.assert_allclose(got, brute_force(queries, reference, k), rtol=1e-13)
        got = knn_mean_distance(reference, reference, k, exclude_self=True, backend=backend)
        np.testing.assert_allclose(got, brute_force(reference, reference, k, True), rtol=1e-13)


def test_self_is_excluded_but_a_duplicate_counts(rng):
    reference = rng.random((50, 3)).astype(np.float32)
    reference[7] = reference[3]  # an exact duplicate of point 3
    d = knn_mean_distance(reference, reference, 1, exclude_self=True)
    assert d[3] == 0 and d[7] == 0  # each one's nearest other point is its twin
    assert (np.delete(d, [3, 7]) > 0).all()


def test_image_shaped_inputs_and_bad_k(rng):
    images = rng.random((30, 1, 4, 4)).astype(np.float32)
    assert knn_mean_distance(images, images, 3).shape == (30,)
    with pytest.raises(ValueError, match=r"k == 30, must be in \[1, 29\]"):
        knn_mean_distance(images, images, 30, exclude_self=True)


def test_stored_distances_know_where_they_came_from(tmp_path):
    path = tmp_path / "d.parquet"
    save_distances(path, np.arange(5.0), dataset="digits", split="test", k=20,
                   train_fingerprint="abc")
    got = load_distances(path, dataset="digits", split="test", k=20, train_fingerprint="abc", n=5)
    np.testing.assert_array_equal(got, np.arange(5.0))
    for wrong, message in [(dict(k=10), "k is '20', expected '10'"),
                           (dict(train_fingerprint="xyz"), "train_fingerprint"),
                           (dict(split="train"), "split"), (dict(n=6), "expected 6")]:
        args = dict(dataset="digits", split="test", k=20, train_fingerprint="abc") | wrong
        with pytest.raises(DistanceMismatchError, match=message):
            load_distances(path, **args)
    path.write_bytes(b"not parquet")
    with pytest.raises(DistanceMismatchError, match="not a readable"):
        load_distances(path, dataset="digits", split="test", k=20, train_fingerprint="abc")


@pytest.mark.parametrize("rate,sigma_max", [(0.01, None), (0.5, None), (2.0, 0.3)])
def test_sigma_is_r_semi_elastic_theorem_4_1(rng, rate, sigma_max):
    train = rng.random((400, 10)).astype(np.float32)
    near = rng.random((300, 10)).astype(np.float32)
    far = (rng.standard_normal((300, 10)) * 50).astype(np.float32)  # far outside the data
    x0 = np.concatenate([near, far, near])
    x1 = np.concatenate([near[::-1], far[::-1], far])
    d0, d1 = (knn_mean_distance(x, train, 20) for x in (x0, x1))
    s0, s1 = (sigma_from_distance(d, 0.25, rate, 1.5, sigma_max) for d in (d0, d1))
    gap = np.abs(np.log(s0) - np.log(s1))
    bound = rate * np.linalg.norm(x0.astype(np.float64) - x1, axis=1)
    assert (gap <= bound * (1 + 1e-5) + 1e-6).all()
    assert gap.max() > 0


def test_sigma_formula():
    np.testing.assert_allclose(sigma_from_distance([1.5, 2.5], 0.25, 0.01, 1.5),
                               [0.25, 0.25 * np.exp(0.01)], rtol=1e-15)
    assert sigma_from_distance(100.0, 0.5, 1.0, 0.0, sigma_max=2.5) == 2.5
    with pytest.raises(ValueError, match="sigma_b == 0.0"):
        sigma_from_distance(1.0, 0.0, 0.01, 1.5)


def test_sigma_mean_is_calibrated_on_the_capped_sigma(rng):
    from idrs.certify.sigma import calibrate_sigma_b
    d = rng.gamma(2.0, 1.0, 500)
    for cap in (None, 2.0, 0.9):
        sigma_b = calibrate_sigma_b(d, 0.6, 1.0, 0.5, cap)
        realised = sigma_from_distance(d, sigma_b, 1.0, 0.5, cap)
        assert realised.mean() == pytest.approx(0.6, rel=1e-10)
    # the cap binds: the capped calibration needs a larger sigma_b than the uncapped one
    assert calibrate_sigma_b(d, 0.6, 1.0, 0.5, 0.9) > calibrate_sigma_b(d, 0.6, 1.0, 0.5)
    # m cancels
    assert calibrate_sigma_b(d, 0.6, 1.0, 3.0, 2.0) * np.exp(-3.0) == pytest.approx(
        calibrate_sigma_b(d, 0.6, 1.0, 0.0, 2.0), rel=1e-10)
    with pytest.raises(ValueError, match="averages below its cap"):
        calibrate_sigma_b(d, 0.6, 1.0, 0.5, 0.6)


def test_jobs_read_the_training_fingerprint_from_the_dataset_summary(tmp_path, monkeypatch):
    """The fingerprint written by `idrs data` is read, not recomputed; a summary of other
    data is refused with the fix named."""
    from idrs.workflow import jobs
    spec = {"name": "digits"}
    summary = tmp_path / "digits.txt"
    summary.write_text("".join(f"{k}: {v}\n" for k, v in jobs.data_job(spec).items()))
    jobs.knn_job(spec, "test", 3, tmp_path / "d.parquet", use_gpu=False,
                 dataset_summary=summary)

    def no_hashing(x):
        raise AssertionError("the training set was hashed again")
    monkeypatch.setattr(jobs, "fingerprint", no_hashing)
    ds = jobs._dataset(spec)
    assert jobs.train_fingerprint(ds, summary) == summary.read_text().split(
        "train_fingerprint: ")[1].strip()
    assert len(jobs._distances(ds, tmp_path / "d.parquet", "test", 3, summary)) == len(ds.x_test)
    other = tmp_path / "other.txt"
    other.write_text(summary.read_text().replace("dataset: digits", "dataset: mnist"))
    with pytest.raises(ValueError, match="rerun `idrs data`"):
        jobs.train_fingerprint(ds, other)


def test_knn_job_with_a_feature_map_stores_its_error_and_certify_adds_it(tmp_path):
    """Digits pooled 2x2 against a 300-point reference subset: the file says so, the
    training split excludes each reference point from its own neighbours, and the
    certificate's slack grows by the feature error."""
    from idrs.workflow import jobs
    spec = {"name": "digits"}
    features = {"kind": "pool", "factor": 2, "reference": 300, "seed": 1}
    test_file, train_file = tmp_path / "test.parquet", tmp_path / "train.parquet"
    jobs.knn_job(spec, "test", 5, test_file, use_gpu=False, features=features)
    jobs.knn_job(spec, "train", 5, train_file, use_gpu=False, features=features)
    ds = jobs._dataset(spec)
    d, info = jobs._distances(ds, test_file, "test", 5, with_info=True)
    assert info["knn_dim"] == 16 and info["feature_coefficient"] > 0
    assert np.all(info["feature_error"] > 0) and np.all(info["feature_error"] < 1e-5)
    train_d = jobs._distances(ds, train_file, "train", 5)
    assert len(train_d) == len(ds.x_train) and np.all(train_d > 0)
    idx = np.arange(10)
    *_, slack = jobs._evaluation_sigma(ds, idx, 0.25, 0.5, test_file, 5, 2.0, None, None)
    plain = log_sigma_slack(d[idx], sigma_from_distance(d[idx], 0.25, 0.5, 2.0), 0.5, 2.0,
                            16, 5)
    assert np.all(slack > plain)

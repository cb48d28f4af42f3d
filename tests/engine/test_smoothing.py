"""CERTIFY and PREDICT against a linear base classifier, whose smoothed probabilities are
known in closed form: P(f(x + eps) = A) = Phi(distance to the hyperplane / sigma)."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import special

from idrs.certify.sigma import sigma_from_distance
from idrs.engine.smoothing import ABSTAIN, certify, predict, sample_counts
from idrs.results.aggregate import certified_accuracy

DIM = 10


class Halfspace(torch.nn.Module):
    """Class 1 where w.x > b, class 0 elsewhere; |w| = 1."""

    def __init__(self, w, b):
        super().__init__()
        self.w, self.b = torch.as_tensor(w, dtype=torch.float32), float(b)

    def forward(self, x):
        margin = x.flatten(1) @ self.w - self.b
        return torch.stack([-margin, margin], dim=1)


@pytest.fixture
def halfspace_inputs(rng):
    w = rng.standard_normal(DIM)
    w /= np.linalg.norm(w)
    distance = rng.uniform(0.05, 0.6, 300)
    base = rng.standard_normal((300, DIM))
    base -= np.outer(base @ w, w)  # on the hyperplane (b = 0) ...
    x = base + distance[:, None] * w  # ... then moved to the A side by `distance`
    return Halfspace(w, 0.0), torch.as_tensor(x, dtype=torch.float32), distance


def test_counts_follow_the_closed_form(halfspace_inputs):
    model, x, distance = halfspace_inputs
    counts = sample_counts(model, x[:20], np.full(20, 0.25), np.arange(20), 20000, seed=0,
                           stage=1, num_classes=2, batch_size=3000)
    assert (counts.sum(axis=1) == 20000).all()
    p = special.ndtr(distance[:20] / 0.25)
    z = (counts[:, 1] / 20000 - p) / np.sqrt(p * (1 - p) / 20000)
    assert np.abs(z).max() < 4.5


@pytest.mark.slow
def test_constant_sigma_certificate_is_sound_and_tight(halfspace_inputs):
    model, x, distance = halfspace_inputs
    labels = np.ones(len(x), dtype=np.int64)
    idx = np.arange(len(x))
    alpha = 0.01
    mean_ratio = []
    for n in (100, 1000, 100_000):
        rec = certify(model, x, labels, idx, 0.25, n0=100, n=n, alpha=alpha, num_classes=2,
                      batch_size=20000)
        # the true robust radius of the smoothed halfspace is the distance itself:
        # exceeding it is a failure of the certificate, allowed with probability alpha
        violations = int((rec.radius.to_numpy() > distance + 1e-12).sum())
        assert violations <= 8  # P(Binomial(300, 0.01) > 8) < 0.005
        mean_ratio.append(float((rec.radius / distance).mean()))
    assert mean_ratio[0] < mean_ratio[1] < mean_ratio[2] and mean_ratio[2] > 0.95


@pytest.mark.slow
def test_input_dependent_certificate_is_sound(halfspace_inputs, rng):
    model, x, distance = halfspace_inputs
    # sigma(x) of Equation 1 from kNN-like distances: r-semi-elastic by construction
    anchors = rng.standard_normal((50, DIM))
    knn = np.linalg.norm(x.numpy()[:, None] - anchors[None], axis=2).min(axis=1)
    rate = 0.2
    sigma = sigma_from_distance(knn, 0.25, rate, float(np.median(knn)))
    rec = certify(model, x, np.ones(len(x), dtype=np.int64), np.arange(len(x)), sigma, n0=100,
                  n=100_000, alpha=0.01, num_classes=2, rate=rate, batch_size=20000)
    # g is the same halfspace whatever sigma(x) is, so the distance bounds every radius
    assert int((rec.radius.to_numpy() > distance + 1e-12).sum()) <= 8
    cohen = certify(model, x, np.ones(len(x), dtype=np.int64), np.arange(len(x)), sigma, n0=100,
                    n=100_000, alpha=0.01, num_classes=2, rate=0.0, batch_size=20000)
    assert (rec.radius <= cohen.radius + 1e-12).all() and rec.radius.mean() > 0.5 * cohen.radius.mean()


def test_records_do_not_depend_on_shards_or_batch_size(halfspace_inputs):
    model, x, _ = halfspace_inputs
    x = x[:100]
    labels, idx = np.ones(100, dtype=np.int64), np.arange(100)
    kwargs = dict(n0=50, n=700, alpha=0.001, num_classes=2, seed=5)
    whole = certify(model, x, labels, idx, 0.5, batch_size=1000, **kwargs)
    parts = pd.concat([certify(model, x[s:s + 25], labels[s:s + 25], idx[s:s + 25], 0.5,
                               batch_size=333, **kwargs) for s in range(0, 100, 25)],
                      ignore_index=True)
    columns = ["idx", "predict", "radius", "count_top", "p_a", "correct"]
    pd.testing.assert_frame_equal(whole[columns], parts[columns])
    again = certify(model, x, labels, idx, 0.5, batch_size=64, **kwargs)
    pd.testing.assert_frame_equal(whole[columns], again[columns])
    other_seed = certify(model, x, labels, idx, 0.5, batch_size=1000, **{**kwargs, "seed": 6})
    assert not whole.count_top.equals(other_seed.count_top)


def test_abstain_and_predict_on_the_boundary(halfspace_inputs):
    model, _, _ = halfspace_inputs
    on_boundary = torch.zeros(4, DIM)  # p = 1/2 exactly: no decision can be certified
    rec = certify(model, on_boundary, np.ones(4, dtype=np.int64), np.arange(4), 0.25, n0=100,
                  n=2000, alpha=0.001, num_classes=2)
    assert (rec.predict == ABSTAIN).all() and (rec.radius == 0).all() and not rec.correct.any()
    pred = predict(model, on_boundary, np.ones(4, dtype=np.int64), np.arange(4), 0.25, n=2000,
                   alpha=0.001, num_classes=2)
    assert (pred.predict == ABSTAIN).all()
    far = torch.ones(3, DIM) * 10 * model.w
    pred = predict(model, far, np.ones(3, dtype=np.int64), np.arange(3), 0.25, n=100,
                   alpha=0.001, num_classes=2)
    assert (pred.predict == 1).all() and pred.correct.all()


def test_certified_accuracy_is_cohens_definition():
    records = pd.DataFrame({"correct": [True, True, False, True], "radius": [0.5, 0.1, 0.9, 0.0]})
    np.testing.assert_allclose(certified_accuracy(records, [0.0, 0.1, 0.2, 1.0]),
                               [0.75, 0.5, 0.25, 0.0])


def test_smoothed_class_of_a_halfspace_is_the_halfspace(rng):
    """Smoothing a linear classifier with any sigma keeps its decision: points clearly on
    one side keep their class (the decision regions of Figure 1 rely on this function)."""
    from idrs.engine.smoothing import smoothed_class
    w = np.array([0.6, 0.8])
    x = rng.uniform(-3, 3, (200, 2))
    x = x[np.abs(x @ w) > 0.3]
    sigma = rng.uniform(0.1, 1.0, len(x))
    got = smoothed_class(Halfspace(w, 0.0), torch.as_tensor(x, dtype=torch.float32), sigma,
                         n=2000, num_classes=2)
    np.testing.assert_array_equal(got, (x @ w > 0).astype(int))


def test_the_papers_clamp_is_an_evaluation_option(halfspace_inputs):
    """radius: paper_clamp certifies with Appendix D's clamp: never a larger radius, and
    the clamp is recorded (its own run in the aggregation)."""
    model, x, _ = halfspace_inputs
    x = x[:40]
    kwargs = dict(n0=100, n=2000, alpha=0.001, num_classes=2, rate=0.01, batch_size=4000)
    exact = certify(model, x, np.ones(40, dtype=np.int64), np.arange(40), 0.25, **kwargs)
    clamped = certify(model, x, np.ones(40, dtype=np.int64), np.arange(40), 0.25,
                      clamp="cifar10", **kwargs)
    assert (clamped.radius <= exact.radius * (1 + 1e-6)).all()
    assert (clamped.radius < exact.radius).any()
    np.testing.assert_array_equal(clamped.predict, exact.predict)


@pytest.mark.parametrize("m,n,batch,chunk", [(1, 1, 1, 1), (3, 5, 4, 2), (4, 7, 3, 10),
                                             (2, 100, 16, 7), (5, 3, 100, 1)])
def test_packing_puts_every_sample_in_one_row_and_fills_every_batch_but_the_last(
        m, n, batch, chunk):
    from idrs.engine.smoothing import Copy, Draw, Forward, packing
    rows, seen, forwards, drawn = [], {s: [] for s in range(m)}, [], None
    for step in packing(m, n, batch, chunk):
        if isinstance(step, Draw):
            assert step.size <= chunk and step.first == (not seen[step.slot])
            drawn, offset = step, len(seen[step.slot])
        elif isinstance(step, Copy):
            assert step.slot == drawn.slot and 0 <= step.lo < step.hi <= drawn.size
            assert step.row == len(rows)  # contiguous within the batch
            rows += [step.slot] * (step.hi - step.lo)
            seen[step.slot] += list(range(offset + step.lo, offset + step.hi))
        else:
            assert isinstance(step, Forward) and step.rows == len(rows)
            forwards.append(step.rows)
            rows = []
    assert all(v == list(range(n)) for v in seen.values())  # each sample once, in order
    assert sum(forwards) == m * n and all(r == batch for r in forwards[:-1])
    assert 0 < forwards[-1] <= batch and rows == []

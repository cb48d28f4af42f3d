import numpy as np
import pytest

from idrs.certify._bracket import last_passing


def test_finds_the_last_passing_point_of_smooth_and_kinked_functions():
    roots = np.array([0.1, 1.0, 3.7, 9.99])
    for h in (lambda x, i: x - roots[i], lambda x, i: np.tanh(5 * (x - roots[i])),
              lambda x, i: np.where(x < roots[i], (x - roots[i]) * 1e-3, x - roots[i])):
        lo = last_passing(h, np.zeros(4), np.full(4, 10.0), h(np.zeros(4), np.arange(4)),
                          np.full(4, np.inf), rtol=1e-9)
        assert (lo <= roots).all()
        np.testing.assert_allclose(lo, roots, rtol=1e-9)


def test_nan_counts_as_failing():
    h = lambda x, i: np.where(x > 2.0, np.nan, x - 5.0)  # noqa: E731
    lo = last_passing(h, np.zeros(1), np.full(1, 10.0), np.full(1, -5.0), np.full(1, 5.0))
    assert lo[0] <= 2.0 and lo[0] == pytest.approx(2.0, rel=1e-6)


def test_nothing_passing_converges_to_the_lower_end_and_maxiter_raises():
    nowhere = lambda x, i: np.full(np.shape(x), np.nan)  # noqa: E731
    assert (last_passing(nowhere, np.zeros(2), np.ones(2), -np.ones(2), np.ones(2)) == 0).all()
    with pytest.raises(RuntimeError, match="did not converge"):
        last_passing(lambda x, i: x - 0.5, np.zeros(1), np.ones(1), -np.ones(1),
                     np.ones(1), rtol=1e-30, maxiter=5)

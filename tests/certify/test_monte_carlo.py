"""Theorem 2.2's worst-case regions by direct sampling in R^N.

Points are drawn from N(x1, sigma1^2 I) (and N(x0, sigma0^2 I)) in the full space and
tested against the ball of Theorem 2.2, whose radius comes from SciPy's quantile; the
hit fraction must agree with xi (and with p_B) within 4 standard errors.
"""

import numpy as np
import pytest
from scipy import special
from scipy.special._ufuncs import _ncx2_isf

from idrs.certify.radius import xi_greater, xi_smaller


def _fraction_inside(rng, centre, radius2, mean, sd, n, chunk=20000):
    dim, hits, done = centre.size, 0, 0
    while done < n:
        m = min(chunk, n - done)
        x = mean + sd * rng.standard_normal((m, dim))
        hits += int((((x - centre) ** 2).sum(axis=1) <= radius2).sum())
        done += m
    return hits / n


@pytest.mark.slow
@pytest.mark.parametrize("dim,alpha,kappa,p_b,n", [
    (2, 1.0, 0.7, 0.1, 400000), (2, 0.5, 1.3, 0.1, 400000), (10, 1.0, 0.8, 0.1, 400000),
    (10, 1.0, 1.2, 0.05, 400000), (784, 1.0, 0.99, 0.1, 100000),
    (784, 0.5, 1.01, 0.1, 100000)])
def test_worst_case_ball_mass_matches_xi_and_p_b(rng, dim, alpha, kappa, p_b, n):
    sigma0, sigma1 = 1.0, kappa
    x0 = np.zeros(dim)
    delta = np.zeros(dim)
    delta[0] = alpha
    x1 = x0 + delta
    diff = sigma0 ** 2 - sigma1 ** 2
    lam0 = (sigma0 * alpha / diff) ** 2
    if kappa < 1:  # B is the ball centred at x0 + sigma0^2/(sigma0^2 - sigma1^2) delta
        centre = x0 + sigma0 ** 2 / diff * delta
        radius2 = sigma0 ** 2 * special.chndtrix(p_b, dim, lam0)
        in_b = lambda mean, sd: _fraction_inside(rng, centre, radius2, mean, sd, n)  # noqa
        xi = float(xi_greater(alpha, sigma0, sigma1, dim, p_b))
    else:  # B is the complement of the ball centred at x0 - sigma0^2/(s1^2 - s0^2) delta
        centre = x0 + sigma0 ** 2 / diff * delta
        radius2 = sigma0 ** 2 * _ncx2_isf(p_b, dim, lam0)
        in_b = lambda mean, sd: 1 - _fraction_inside(rng, centre, radius2, mean, sd, n)  # noqa
        xi = float(xi_smaller(alpha, sigma0, sigma1, dim, 1 - p_b))
    for estimate, expected in ((in_b(x1, sigma1), xi), (in_b(x0, sigma0), p_b)):
        standard_error = np.sqrt(expected * (1 - expected) / n)
        assert abs(estimate - expected) <= 4 * standard_error

"""xi_> and xi_< against the mpmath Poisson-series reference (tests/certify/mp_reference).

Tolerance: 1e-9 absolute, the accuracy required of xi (tests/REFERENCES.md); the
measured error is about 1e-13.
It must stay well below idrs.certify.radius.XI_ALLOWANCE (1e-7), the allowance of the
conservative mode, which is asserted separately.
"""

import itertools

import numpy as np
import pytest
from scipy import special

from idrs.certify.radius import XI_ALLOWANCE, xi_greater, xi_smaller

from . import mp_reference as ref

DIMS = [2, 10, 784, 3072, 150528]
RATIOS = [0.9, 0.99, 0.999, 0.9999, 1.0001, 1.001, 1.01]
P_B = [0.4, 1e-2, 1e-5]
TOL = 1e-9


def _alpha(kappa):
    # Distances that keep lambda0 = alpha^2 / (1 - kappa^2)^2 <= 2.25e4, where the
    # Poisson series takes a fraction of a second; larger lambda0 is covered below.
    return min(1.0, 150 * abs(1 - kappa ** 2))


def _ours(alpha, kappa, dim, p_b):
    if kappa < 1:
        return float(xi_greater(alpha, 1.0, kappa, dim, p_b))
    return float(xi_smaller(alpha, 1.0, kappa, dim, 1 - p_b))


@pytest.mark.slow
@pytest.mark.parametrize("dim", DIMS)
def test_xi_matches_high_precision_reference(dim):
    errors = []
    for kappa, p_b in itertools.product(RATIOS, P_B):
        alpha = _alpha(kappa)
        exact = float(ref.xi(alpha, kappa, dim, p_b))
        errors.append(abs(_ours(alpha, kappa, dim, p_b) - exact))
    assert max(errors) <= TOL
    assert max(errors) * 100 <= XI_ALLOWANCE  # the allowance dwarfs the measured error


@pytest.mark.slow
@pytest.mark.parametrize("dim,kappa,alpha,p_b", [
    (3072, 0.995, 2.3, 1e-5),    # lambda0 ~ 5e5: near the end of a CIFAR10 search
    (784, 1.005, 1.2, 0.1),
    (150528, 0.9995, 0.5, 0.01),  # lambda0 ~ 2.5e5 at ImageNet size
])
def test_xi_at_large_noncentrality(dim, kappa, alpha, p_b):
    exact = float(ref.xi(alpha, kappa, dim, p_b))
    assert abs(_ours(alpha, kappa, dim, p_b) - exact) <= TOL


@pytest.mark.slow
@pytest.mark.parametrize("dim", [10, 784, 150528])
def test_ball_probability_of_the_worst_case_region_is_p_b(dim):
    # The quantile behind xi: the worst-case ball (or its complement) has P0-mass p_B.
    from scipy.special import chndtrix
    from scipy.special._ufuncs import _ncx2_isf
    for kappa, p_b in [(0.99, 1e-5), (0.999, 0.4), (1.01, 1e-2), (1.001, 1e-5)]:
        lam0 = (_alpha(kappa) / (1 - kappa ** 2)) ** 2
        if kappa < 1:
            mass = float(ref.ncx2_cdf(chndtrix(p_b, dim, lam0), dim, lam0))
        else:
            mass = float(1 - ref.ncx2_cdf(_ncx2_isf(p_b, dim, lam0), dim, lam0))
        assert abs(mass - p_b) <= 1e-12


def test_equal_sigmas_give_cohen_half_space():
    a, p_b = np.array([0.0, 0.3, 2.0]), 0.01
    expected = special.ndtr(special.ndtri(p_b) + a / 0.5)
    np.testing.assert_allclose(xi_greater(a, 0.5, 0.5, 3072, p_b), expected, rtol=1e-14)
    np.testing.assert_allclose(xi_smaller(a, 0.5, 0.5, 3072, 1 - p_b), expected, rtol=1e-14)


def test_ratio_arbitrarily_close_to_one_is_finite_and_decides_soundly():
    # lambda0 would be ~1e23: the value at the nearest admissible ratio is returned. It is
    # within 1e-3 of the limit (Cohen's half-space).
    for dim in (784, 150528):
        for p_b in (0.01, 0.45):
            cohen = special.ndtr(special.ndtri(p_b) + 1.0)
            below = float(xi_greater(1.0, 1.0, 1 - 1e-12, dim, p_b))
            above = float(xi_smaller(1.0, 1.0, 1 + 1e-12, dim, 1 - p_b))
            for value in (below, above):
                assert np.isfinite(value) and abs(value - cohen) <= 1e-3


@pytest.mark.parametrize("dim,alpha,p,kappa_end", [
    (784, 1.0, 0.01, 0.99), (3072, 2.0, 1e-4, 0.995), (10, 0.5, 0.1, 0.9),
    (150528, 0.3, 0.01, 0.9995), (3072, 0.05, 0.3, 0.9999),
    (784, 1.0, 0.45, 0.99), (3072, 1.5, 0.1, 0.999), (150528, 1.0, 0.2, 0.9999)])
def test_xi_peaks_at_an_end_of_the_sigma1_band(dim, alpha, p, kappa_end):
    # The separate-p_B certificate bounds each xi term over the band [kappa_end, 1] (and
    # [1, 2 - kappa_end]) by its values at the two ends (idrs_radius docstring): check
    # densely, with values below and above 1/2.
    for band in (np.geomspace(kappa_end, 1.0, 400), np.geomspace(1.0, 2.0 - kappa_end, 400)):
        if band[0] < 1:
            values = xi_greater(alpha, 1.0, band, dim, p)
        else:
            values = xi_smaller(alpha, 1.0, band, dim, 1 - p)
        assert values.max() <= max(values[0], values[-1]) + 1e-12


@pytest.mark.parametrize("dim,a,p_b", [(10, 0.5, 0.2), (784, 0.5, 0.1), (3072, 1.2, 0.05),
                                       (150528, 0.2, 0.01)])
def test_theorem_3_1_decision_monotone_in_sigma1(dim, a, p_b):
    # Theorem 3.1: for sigma2 between sigma0 and sigma1, xi(sigma2) > 1/2 implies
    # xi(sigma1) > 1/2. Going outward from sigma0, "not certified" never turns back into
    # "certified". (The values themselves are not monotone; see the band test above.)
    outward_down = np.geomspace(1.0, 0.5, 2000)[1:]
    outward_up = np.geomspace(1.0, 2.0, 2000)[1:]
    for flags in (xi_greater(a, 1.0, outward_down, dim, p_b) > 0.5,
                  xi_smaller(a, 1.0, outward_up, dim, 1 - p_b) > 0.5):
        assert flags.any() and not flags.all()  # the grid crosses 1/2
        first = np.argmax(flags)
        assert flags[first:].all()


def test_xi_increases_with_distance():
    a = np.linspace(0.0, 3.0, 50)
    assert np.all(np.diff(xi_greater(a, 1.0, 0.995, 3072, 0.01)) > 0)
    assert np.all(np.diff(xi_smaller(a, 1.0, 1.005, 3072, 0.99)) > 0)


@pytest.mark.parametrize("call,message", [
    (lambda: xi_greater(1.0, 1.0, 1.1, 784, 0.1), "sigma1 <= sigma0"),
    (lambda: xi_smaller(1.0, 1.0, 0.9, 784, 0.9), "sigma1 >= sigma0"),
    (lambda: xi_greater(-1.0, 1.0, 0.9, 784, 0.1), "a == -1.0"),
    (lambda: xi_greater(1.0, 1.0, 0.9, 78.5, 0.1), "dim == 78.5"),
    (lambda: xi_greater(1.0, 0.0, 0.9, 784, 0.1), "sigma0 == 0.0"),
])
def test_xi_rejects_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()

"""The certified radius: exactness against the mpmath reference, and the paper's
properties (reduction to Cohen, monotonicity, Theorem B.6, scale invariance)."""

import numpy as np
import pytest
from scipy import special

import idrs.certify.radius
from idrs.certify.radius import RADIUS_RTOL, cohen_radius, idrs_radius, radii

from . import mp_reference as ref

P_A = np.array([0.6, 0.9, 0.99, 0.9999, 0.99993])
SIGMA = np.array([0.12, 0.25, 0.5])
RATE = np.array([0.005, 0.01, 0.02])


def _grid(dim):
    p_a, sigma, rate = np.meshgrid(P_A, SIGMA, RATE, indexing="ij")
    return p_a.ravel(), sigma.ravel(), rate.ravel(), dim


def test_cohen_radius_closed_forms():
    assert cohen_radius(0.9, 0.5) == pytest.approx(0.5 * 1.2815515655446004, rel=1e-15)
    assert cohen_radius(0.9, 0.5, p_b=0.05) == pytest.approx(
        0.25 * (special.ndtri(0.9) - special.ndtri(0.05)), rel=1e-15)
    np.testing.assert_array_equal(cohen_radius([0.5, 0.3, 0.7], 1.0, [0.1, 0.1, 0.8]), 0.0)
    assert cohen_radius(1.0, 1.0) == np.inf
    with pytest.raises(ValueError, match="sigma == -1.0"):
        cohen_radius(0.9, -1.0)


@pytest.mark.parametrize("dim", [2, 784, 3072, 150528])
def test_rate_zero_is_exactly_cohen(dim):
    p_a, sigma, _, _ = _grid(dim)
    np.testing.assert_array_equal(idrs_radius(p_a, sigma, 0.0, dim), cohen_radius(p_a, sigma))
    p_b = (1 - p_a) / 3
    np.testing.assert_array_equal(idrs_radius(p_a, sigma, 0.0, dim, p_b=p_b),
                                  cohen_radius(p_a, sigma, p_b))


@pytest.mark.parametrize("dim", [784, 3072, 150528, 3 * 256 * 256])
def test_never_above_cohen_never_nan_and_positive_up_to_imagenet_size(dim):
    p_a, sigma, rate, _ = _grid(dim)
    radius = idrs_radius(p_a, sigma, rate, dim)
    assert np.isfinite(radius).all()
    assert (radius > 0).all()  # no clamp: ImageNet-sized inputs keep their certificates
    assert (radius <= cohen_radius(p_a, sigma)).all()  # Theorem B.6


def test_matches_independent_stable_evaluator():
    # T = R / sigma0 (p_A, rho = r sigma0, N, T) from an independent stable quadrature
    # evaluator, printed to 4 decimals: an implementation that shares nothing with ours.
    # Values and method: tests/REFERENCES.md, "Radii of an independent evaluator".
    cases = [(0.99, 0.0025, 3072, 2.2828), (0.9, 6e-4, 150528, 1.2173),
             (0.6, 0.01, 150528, 0.0454), (0.6, 6e-4, 784, 0.2533),
             (0.99999, 0.01, 3072, 3.3424), (0.9999, 0.005, 784, 3.6474)]
    for p_a, rho, dim, t in cases:
        assert float(idrs_radius(p_a, 1.0, rho, dim, conservative=False)) == pytest.approx(
            t, abs=6e-5)


def test_no_certificate_at_or_below_one_half():
    assert (idrs_radius([0.0, 0.3, 0.5], 0.25, 0.01, 3072) == 0).all()
    assert idrs_radius(0.7, 0.25, 0.01, 3072, p_b=0.7) == 0


def test_decreases_in_rate_and_increases_in_p_a():
    rates = np.array([0, 1e-5, 1e-4, 1e-3, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5])
    for dim in (784, 3072, 150528):
        for p_a in (0.6, 0.99):
            radius = idrs_radius(p_a, 0.25, rates, dim)
            assert np.all(np.diff(radius) <= RADIUS_RTOL * radius[:-1])
    p_a = np.linspace(0.51, 0.99993, 60)
    for dim in (784, 150528):
        radius = idrs_radius(p_a, 0.5, 0.01, dim)
        assert np.all(np.diff(radius) > 0)


def test_scale_invariance():
    p_a, sigma, rate, dim = _grid(3072)
    base = idrs_radius(p_a, sigma, rate, dim)
    for c in (0.5, 2.0, 7.0):
        np.testing.assert_allclose(idrs_radius(p_a, c * sigma, rate / c, dim), c * base,
                                   rtol=1e-9)


@pytest.mark.parametrize("clamp", ["mnist", "cifar10", 0.999])
def test_clamp_never_gives_a_larger_radius(clamp):
    for dim in (784, 3072, 150528):
        p_a, sigma, rate, _ = _grid(dim)
        clamped = idrs_radius(p_a, sigma, rate, dim, clamp=clamp)
        # equal where the clamp is inactive at the radius, up to the search tolerance
        assert (clamped <= idrs_radius(p_a, sigma, rate, dim) * (1 + 2 * RADIUS_RTOL)).all()
    # the clamp is what destroys ImageNet-sized certificates: at p_A = 0.6 its
    # sigma_t = 0.9989 lies below the practical threshold 0.99954 (tests/REFERENCES.md)
    assert idrs_radius(0.6, 0.25, 0.01, 150528, clamp="cifar10") == 0


@pytest.mark.parametrize("clamp", [None, "mnist"])
def test_radii_of_a_shard_are_each_inputs_own_bit_for_bit(rng, clamp):
    """CERTIFY searches a shard's radii in one vectorised call: each input's radius must be
    the one it gets alone, whatever its neighbours (records must not depend on shards)."""
    m = 300
    p_a = np.concatenate([rng.uniform(0.3, 1.0, m - 4), [0.5, 0.4999, 1.0, 0.99993]])
    sigma = rng.uniform(0.1, 1.0, m).astype(np.float32).astype(float)
    slack = rng.choice([0.0, 1e-6, 1e-3], m)
    together, seconds = radii(p_a, sigma, 0.05, 784, slack, clamp)
    alone = [radii(p_a[i:i + 1], sigma[i], 0.05, 784, slack[i], clamp)[0][0] for i in range(m)]
    assert np.array_equal(together, alone)
    assert (together[p_a < 0.5] == 0).all() and (together[p_a > 0.6] > 0).mean() > 0.9
    assert seconds.shape == (m,) and (seconds == seconds[0]).all() and seconds[0] > 0
    cohen, _ = radii(p_a, sigma, 0.0, 784, slack)  # rate 0: Cohen's, to the last bit
    assert np.array_equal(cohen, np.where(p_a < 0.5, 0, cohen_radius(p_a, sigma)))


def test_conservative_mode_costs_at_most_a_thousandth():
    for dim in (784, 3072, 150528):
        p_a, sigma, rate, _ = _grid(dim)
        exact = idrs_radius(p_a, sigma, rate, dim, conservative=False)
        safe = idrs_radius(p_a, sigma, rate, dim, conservative=True)
        assert (safe <= exact).all()
        assert ((exact - safe) / exact).max() <= 1e-3


def test_tiny_rates_and_ratios_near_one_do_not_break():
    # rate * sigma0 -> 0: noncentralities ~ 1/(4 rho^2) would overflow SciPy; the radius
    # must tend to Cohen's from below, finite and never NaN.
    cohen = cohen_radius(0.9, 0.25)
    for dim in (784, 150528):
        radius = idrs_radius(0.9, 0.25, np.array([1e-9, 1e-7, 1e-5]), dim)
        assert np.isfinite(radius).all() and (radius <= cohen).all()
        assert (radius >= 0.99 * cohen).all()


def test_nan_from_the_evaluator_means_not_certified(monkeypatch):
    # A search written as `if xi >= 0.5: break` continues on NaN and certifies. Ours must
    # stop: NaN beyond alpha = 0.3 caps the radius there; NaN everywhere gives 0.
    real_xi = idrs.certify.radius._xi

    def nan_beyond(limit):
        def xi(alpha, log_kappa, dim, p_b):
            value = real_xi(alpha, log_kappa, dim, p_b)
            return np.where(np.asarray(alpha) > limit, np.nan, value)
        return xi

    monkeypatch.setattr(idrs.certify.radius, "_xi", nan_beyond(0.3))
    radius = idrs_radius([0.9, 0.99], 1.0, 0.01, 3072)
    assert np.isfinite(radius).all() and (radius <= 0.3).all() and (radius > 0.29).all()
    monkeypatch.setattr(idrs.certify.radius, "_xi", nan_beyond(0.0))
    assert (idrs_radius([0.9, 0.99], 1.0, 0.01, 3072) == 0).all()


def test_separate_p_b():
    # p_b = 1 - p_a reproduces the default (up to the band bound's tiny extra caution)
    base = idrs_radius(0.9, 0.5, 0.01, 3072)
    assert idrs_radius(0.9, 0.5, 0.01, 3072, p_b=0.1) == pytest.approx(base, rel=1e-5)
    # a smaller runner-up bound can only help, and stays below Cohen's separate radius
    better = idrs_radius(0.9, 0.5, 0.01, 3072, p_b=0.01)
    assert base < better < cohen_radius(0.9, 0.5, 0.01)


def test_broadcasting_and_bad_input():
    radius = idrs_radius(np.array([[0.9], [0.99]]), np.array([0.12, 0.25, 0.5]), 0.01, 784)
    assert radius.shape == (2, 3)
    for kwargs, message in [(dict(p_a=1.2), "p_a == 1.2"), (dict(rate=-0.1), "rate == -0.1"),
                            (dict(dim=0), "dim == 0"), (dict(clamp="imagenet"), "clamp")]:
        args = dict(p_a=0.9, sigma0=0.25, rate=0.01, dim=784) | kwargs
        with pytest.raises(ValueError, match=message):
            idrs_radius(**args)


@pytest.mark.slow
@pytest.mark.parametrize("p_a,sigma0,rate,dim", [
    (0.9, 0.25, 0.01, 784), (0.99, 0.5, 0.01, 3072), (0.6, 0.12, 0.02, 3072),
    (0.999, 0.5, 0.01, 150528)])
def test_radius_against_high_precision_crossing(p_a, sigma0, rate, dim):
    rho = rate * sigma0
    for conservative, slack in ((False, 1e-5), (True, 1e-3)):
        alpha = float(idrs_radius(p_a, sigma0, rate, dim, conservative=conservative)) / sigma0
        assert ref.theorem32_statistic(alpha, rho, dim, p_a) < 0.5
        assert ref.theorem32_statistic(alpha * (1 + slack), rho, dim, p_a) > 0.5


@pytest.mark.slow
def test_separate_p_b_radius_against_high_precision():
    p_a, p_b, sigma0, rate, dim = 0.9, 0.02, 0.25, 0.01, 3072
    alpha = float(idrs_radius(p_a, sigma0, rate, dim, p_b=p_b)) / sigma0
    rho = rate * sigma0
    assert ref.theorem32_statistic(alpha, rho, dim, p_a, p_b) < 0.5
    assert ref.theorem32_statistic(alpha * 1.001, rho, dim, p_a, p_b) > 0.5


def test_slack_widens_the_band_of_sigma1():
    """A slack delta in log sigma (sigma(x) as computed) gives a smaller radius that
    still passes the decision at sigma1 = sigma0 e^{-(rR + delta)} (and above)."""
    from idrs.certify.radius import xi_greater, xi_smaller
    p_a, sigma0, rate, dim = np.array([0.7, 0.99, 0.9999]), 0.25, 0.01, 3072
    base = idrs_radius(p_a, sigma0, rate, dim)
    np.testing.assert_array_equal(idrs_radius(p_a, sigma0, rate, dim, slack=0.0), base)
    previous = base
    for delta in (1.2e-7, 1e-5, 1e-3):
        radius = idrs_radius(p_a, sigma0, rate, dim, slack=delta)
        assert (radius <= previous).all() and (radius > 0).all()
        log_k = rate * radius + delta
        assert (xi_greater(radius, sigma0, sigma0 * np.exp(-log_k), dim, 1 - p_a) < 0.5).all()
        assert (xi_smaller(radius, sigma0, sigma0 * np.exp(log_k), dim, p_a) < 0.5).all()
        previous = radius
    assert (idrs_radius(p_a, sigma0, rate, dim, slack=1e-3) < base).all()
    # constant sigma with a slack: a band [e^-delta, e^delta], below Cohen's radius
    assert (idrs_radius(p_a, sigma0, 0.0, dim, slack=1e-3) < cohen_radius(p_a, sigma0)).all()
    with pytest.raises(ValueError, match="slack"):
        idrs_radius(0.9, 0.25, 0.01, 3072, slack=-1e-9)

r"""Certified L2 radii of Gaussian randomized smoothing, constant and input-dependent.

Notation (Súkeník et al. 2022, Sections 2-3): the smoothed classifier uses noise
:math:`\mathcal N(0, \sigma(x)^2 I)` in dimension :math:`N`; :math:`\sigma_0 =
\sigma(x_0)` at the certified input and :math:`\sigma_1 = \sigma(x_1)` at a candidate
adversarial input at distance :math:`a = \lVert x_1 - x_0 \rVert`;
:math:`\chi^2_N(\lambda, x)` is the noncentral chi-squared CDF and
:math:`\chi^2_{N,qf}(\lambda, p)` its quantile. Every function here works in the
scale-free variables :math:`\alpha = a/\sigma_0`, :math:`\kappa = \sigma_1/\sigma_0`,
:math:`\rho = r\sigma_0`, since the certificate depends on nothing else (so
:math:`R(p_A, c\sigma_0, r/c) = c\,R(p_A, \sigma_0, r)` holds by construction).

Numerics
--------
The noncentral chi-squared CDF, survival function and quantiles are SciPy's
Boost-based ufuncs, accurate to about 1e-10 absolute along the radius search (tested
against an mpmath Poisson series in ``tests/certify``). Two things keep them sound:

* The noncentralities :math:`\lambda_0 = \alpha^2/(1-\kappa^2)^2` are computed with
  ``expm1`` of :math:`2\log\kappa`, so nothing cancels as :math:`\kappa \to 1`. Along
  the Theorem 3.2 curve :math:`\kappa = e^{\mp\rho\alpha}` they tend to
  :math:`1/(4\rho^2)` and stay bounded. Where :math:`\lambda_0` would exceed
  :data:`LAMBDA_MAX` (Boost returns NaN beyond about 4e10 and slows down as
  :math:`\sqrt\lambda`), :math:`\kappa` is moved away from 1 until it does not: by
  Theorem 3.1 a more extreme :math:`\sigma_1` can only turn "certified"
  (:math:`\xi < 1/2`) into "not certified", never the reverse, so the certificate
  stays sound. (Theorem 3.1 is about that decision only: :math:`\xi` itself is not
  monotone in :math:`\sigma_1`, it dips slightly as :math:`\kappa` leaves 1.)
* NaN from any evaluation means "not certified at this radius". The search keeps a
  bracket whose lower end has *passed* the test and returns that end.

With ``conservative=True`` the test is :math:`\xi + \epsilon < 1/2` with the allowance
:data:`XI_ALLOWANCE` (1e-7, 300x the largest error measured along the search and 100x
the 1e-9 the tests enforce), which costs about :math:`2.5\cdot 10^{-7}\sigma_0` of
radius (below 1e-6 relative for :math:`p_A \ge 0.6`, 0.1% at :math:`p_A = 0.5001`).

References
----------
.. [1] V. Súkeník, A. Kuvshinov and S. Günnemann, "Intriguing properties of
   input-dependent randomized smoothing", ICML 2022.
.. [2] J. Cohen, E. Rosenfeld and J. Z. Kolter, "Certified adversarial robustness via
   randomized smoothing", ICML 2019.
"""

from __future__ import annotations

import numbers
import time

import numpy as np
from scipy import special

from .._validation import check_array, check_option
from ._bracket import last_passing

__all__ = ["cohen_radius", "xi_greater", "xi_smaller", "idrs_radius", "radii",
           "clamp_sigma_t", "LAMBDA_MAX", "XI_ALLOWANCE", "CLAMP_CONSTANTS", "ALPHA_MAX"]

#: Largest noncentrality handed to SciPy; beyond it kappa is moved away from 1 (sound).
LAMBDA_MAX = 1e9
#: Allowance added to xi before the comparison with 1/2 in conservative mode.
XI_ALLOWANCE = 1e-7
#: Appendix D constants c of sigma_t = c + 0.001 log10(p_B).
CLAMP_CONSTANTS = {"cifar10": 0.9993, "mnist": 0.9988}
#: Relative tolerance of the radius search, 10x finer than the 1e-6 required of radii.
RADIUS_RTOL = 1e-7
#: The radius search never looks beyond ALPHA_MAX * sigma0 (radii are capped there).
ALPHA_MAX = 40.0

try:  # Boost's ncx2 survival function and its inverse, as ufuncs (SciPy >= 1.13)
    from scipy.special._ufuncs import _ncx2_isf as _ncx2_isf_ufunc
    from scipy.special._ufuncs import _ncx2_sf as _ncx2_sf_ufunc
except ImportError:  # pragma: no cover - same functions, more per-call overhead
    from scipy import stats
    _ncx2_sf_ufunc, _ncx2_isf_ufunc = stats.ncx2.sf, stats.ncx2.isf


def cohen_radius(p_a, sigma, p_b=None):
    r"""Certified radius of constant-noise Gaussian smoothing (Cohen et al. [2]_).

    Parameters
    ----------
    p_a : array_like
        Lower confidence bound of the top-class probability, in [0, 1].
    sigma : array_like
        Noise level, > 0.
    p_b : array_like, optional
        Upper confidence bound of the runner-up probability, in [0, 1]; default
        :math:`1 - \underline{p_A}`.

    Returns
    -------
    ndarray of float
        The radius, the broadcast shape of the arguments: 0 where
        :math:`\underline{p_A} \le 1/2` or :math:`\underline{p_A} \le \overline{p_B}`
        (abstain); ``inf`` where ``p_a = 1`` or ``p_b = 0``.

    Raises
    ------
    ValueError
        If ``p_a`` or ``p_b`` is outside [0, 1], ``sigma <= 0``, or any argument is NaN.

    See Also
    --------
    idrs_radius : the radius of an input-dependent :math:`\sigma(x)`; equal to this one
        for ``rate = 0``.

    Notes
    -----
    Cohen et al.'s Theorem 1: the smoothed classifier's prediction is constant within
    :math:`\ell_2` distance

    .. math:: R = \frac{\sigma}{2}\left(\Phi^{-1}(\underline{p_A}) -
              \Phi^{-1}(\overline{p_B})\right),

    which for the default :math:`\overline{p_B} = 1 - \underline{p_A}` is
    :math:`R = \sigma\,\Phi^{-1}(\underline{p_A})`.

    Examples
    --------
    >>> from idrs.certify.radius import cohen_radius
    >>> round(float(cohen_radius(0.99, 0.25)), 6)
    0.581587
    """
    p_a = check_array(p_a, "p_a", low=0, high=1)
    sigma = check_array(sigma, "sigma", low=0, low_inclusive=False)
    if p_b is None:
        return np.where(p_a > 0.5, sigma * special.ndtri(np.maximum(p_a, 0.5)), 0.0)
    p_b = check_array(p_b, "p_b", low=0, high=1)
    ok = (p_a > 0.5) & (p_a > p_b)
    with np.errstate(invalid="ignore"):
        r = 0.5 * sigma * (special.ndtri(p_a) - special.ndtri(p_b))
    return np.where(ok, r, 0.0)


def _xi(alpha, log_kappa, dim, p_b):
    r"""Worst-case :math:`\xi` in scale-free variables; the side follows the sign of
    ``log_kappa`` (< 0: :math:`\xi_>`, > 0: :math:`\xi_<`, = 0: Cohen's half-space).

    ``p_b`` is the :math:`P_0`-mass of the adversarial class region. NaN where SciPy
    fails (callers treat it as "not certified").
    """
    alpha, log_kappa, dim, p_b = np.broadcast_arrays(
        np.asarray(alpha, float), np.asarray(log_kappa, float),
        np.asarray(dim, float), np.asarray(p_b, float))
    with np.errstate(over="ignore"):  # inf: sigma1/sigma0 overflows, NaN below: "not certified"
        s = np.expm1(2.0 * log_kappa)  # kappa^2 - 1, accurate as kappa -> 1
    # Keep lambda0 = (alpha/s)^2 <= LAMBDA_MAX by pushing kappa away from 1, which keeps
    # the decision xi < 1/2 sound (Theorem 3.1); never past kappa^2 = 1/2 below.
    s_min = alpha / np.sqrt(LAMBDA_MAX)
    s = np.where(s < 0, np.minimum(s, -np.minimum(s_min, 0.5)),
                 np.where(s > 0, np.maximum(s, s_min), 0.0))
    kappa2 = 1.0 + s
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lam0 = np.where(s != 0, (alpha / s) ** 2, 0.0)
        lam1 = kappa2 * lam0
        out = np.empty(alpha.shape)
        g = s < 0  # sigma1 < sigma0: the worst case is a ball around x0 + .../(1-k^2) d
        out[g] = special.chndtr(special.chndtrix(p_b[g], dim[g], lam0[g]) / kappa2[g],
                                dim[g], lam1[g])
        l = s > 0  # sigma1 > sigma0: the worst case is the complement of a ball
        out[l] = _ncx2_sf_ufunc(_ncx2_isf_ufunc(p_b[l], dim[l], lam0[l]) / kappa2[l],
                                dim[l], lam1[l])
        e = s == 0  # sigma1 == sigma0: half-space, Cohen et al.
        out[e] = special.ndtr(special.ndtri(p_b[e]) + alpha[e])
    return out


def _check_xi_args(a, sigma0, sigma1, dim):
    a = check_array(a, "a", low=0)
    sigma0 = check_array(sigma0, "sigma0", low=0, low_inclusive=False)
    sigma1 = check_array(sigma1, "sigma1", low=0, low_inclusive=False)
    dim = check_array(dim, "dim", low=1, integer=True)
    # log1p of the relative difference keeps every digit of sigma1/sigma0 near 1.
    return a / sigma0, np.log1p((sigma1 - sigma0) / sigma0), dim


def xi_greater(a, sigma0, sigma1, dim, p_b):
    r"""Worst-case :math:`\xi_>(a)` for :math:`\sigma_1 \le \sigma_0` (Theorem 2.3 [1]_).

    The largest :math:`P_1`-probability of a class whose :math:`P_0`-probability is at
    most ``p_b``, where :math:`P_i = \mathcal N(x_i, \sigma_i^2 I)`.
    :math:`x_1` is certified iff :math:`\xi_>(a) < 1/2` with :math:`p_B = 1 -
    \underline{p_A}`.

    Parameters
    ----------
    a : array_like
        Distance :math:`\lVert x_1 - x_0\rVert \ge 0`.
    sigma0, sigma1 : array_like
        Noise levels at :math:`x_0` and :math:`x_1`, ``0 < sigma1 <= sigma0``.
    dim : array_like of int
        Input dimension :math:`N \ge 1`.
    p_b : array_like
        Upper bound of the class's :math:`P_0`-probability, in [0, 1].

    Returns
    -------
    ndarray
        :math:`\xi_>`, the broadcast shape of the arguments; NaN only where SciPy's
        evaluation fails. Where :math:`\sigma_1/\sigma_0` is so close to 1 that the
        noncentrality would exceed :data:`LAMBDA_MAX`, the value at the nearest
        admissible ratio (further from 1) is returned: by Theorem 3.1, if it is below
        1/2, so is the exact value.

    Raises
    ------
    ValueError
        If ``sigma1 > sigma0`` anywhere (use :func:`xi_smaller`), ``a < 0``, a noise
        level is not positive, ``dim`` is not an integer >= 1, ``p_b`` is outside
        [0, 1], or any argument is NaN.

    Notes
    -----
    .. math:: \xi_>(a) = \chi^2_N\!\left(\frac{\sigma_1^2 a^2}{(\sigma_0^2 -
              \sigma_1^2)^2},\; \frac{\sigma_0^2}{\sigma_1^2}\, \chi^2_{N,qf}\!\left(
              \frac{\sigma_0^2 a^2}{(\sigma_0^2-\sigma_1^2)^2},\, p_B\right)\right)

    The worst-case class region is the ball of :math:`P_0`-mass :math:`p_B` centred at
    :math:`x_0 + \sigma_0^2/(\sigma_0^2-\sigma_1^2)\,(x_1-x_0)` (Theorem 2.2). For
    :math:`\sigma_1 = \sigma_0` it is Cohen's half-space and :math:`\xi_>(a) =
    \Phi(\Phi^{-1}(p_B) + a/\sigma)`. Only :math:`a/\sigma_0` and
    :math:`\sigma_1/\sigma_0` matter; the noncentralities are computed from
    ``expm1`` of :math:`2\log(\sigma_1/\sigma_0)` (see the module's Numerics).

    Examples
    --------
    >>> from idrs.certify.radius import xi_greater
    >>> float(xi_greater(0.0, 1.0, 1.0, 3072, 0.01))  # a = 0, sigma1 = sigma0: p_B
    0.01
    >>> round(float(xi_greater(0.5, 1.0, 0.99, 3072, 0.01)), 4)
    0.0798
    """
    alpha, log_kappa, dim = _check_xi_args(a, sigma0, sigma1, dim)
    if np.any(log_kappa > 0):
        raise ValueError("xi_greater needs sigma1 <= sigma0; use xi_smaller for "
                         "sigma1 > sigma0.")
    p_b = check_array(p_b, "p_b", low=0, high=1)
    return _xi(alpha, log_kappa, dim, p_b)


def xi_smaller(a, sigma0, sigma1, dim, p_a):
    r"""Worst-case :math:`\xi_<(a)` for :math:`\sigma_1 \ge \sigma_0`.

    The largest :math:`P_1`-probability of a class with :math:`P_0`-probability at most
    :math:`1 - p_A`, where :math:`P_i = \mathcal N(x_i, \sigma_i^2 I)` [1]_. :math:`x_1`
    is certified iff :math:`\xi_<(a) < 1/2`.

    Parameters
    ----------
    a : array_like
        Distance :math:`\lVert x_1 - x_0\rVert \ge 0`.
    sigma0, sigma1 : array_like
        Noise levels at :math:`x_0` and :math:`x_1`, ``0 < sigma0 <= sigma1``.
    dim : array_like of int
        Input dimension :math:`N \ge 1`.
    p_a : array_like
        Lower bound of the top class's :math:`P_0`-probability, in [0, 1]. With a
        separate runner-up bound pass ``p_a = 1 - p_b``.

    Returns
    -------
    ndarray
        :math:`\xi_<`, the broadcast shape of the arguments; NaN only where SciPy's
        evaluation fails. Ratios too close to 1 are handled as in :func:`xi_greater`.

    Raises
    ------
    ValueError
        If ``sigma1 < sigma0`` anywhere (use :func:`xi_greater`), ``a < 0``, a noise
        level is not positive, ``dim`` is not an integer >= 1, ``p_a`` is outside
        [0, 1], or any argument is NaN.

    Notes
    -----
    .. math:: \xi_<(a) = 1 - \chi^2_N\!\left(\frac{\sigma_1^2 a^2}{(\sigma_1^2 -
              \sigma_0^2)^2},\; \frac{\sigma_0^2}{\sigma_1^2}\, \chi^2_{N,qf}\!\left(
              \frac{\sigma_0^2 a^2}{(\sigma_1^2-\sigma_0^2)^2},\, p_A\right)\right)

    The worst-case class region is the complement of a ball centred at :math:`x_0 -
    \sigma_0^2/(\sigma_1^2-\sigma_0^2)\,(x_1-x_0)` (Theorem 2.2). Computed with the
    survival function and its inverse at level :math:`1 - p_A`, so the upper tail keeps
    its digits. For :math:`\sigma_1 = \sigma_0` it is Cohen's
    :math:`\Phi(\Phi^{-1}(1 - p_A) + a/\sigma)`.

    Examples
    --------
    >>> from idrs.certify.radius import xi_smaller
    >>> round(float(xi_smaller(0.5, 1.0, 1.01, 3072, 0.99)), 4)
    0.0827
    """
    alpha, log_kappa, dim = _check_xi_args(a, sigma0, sigma1, dim)
    if np.any(log_kappa < 0):
        raise ValueError("xi_smaller needs sigma1 >= sigma0; use xi_greater for "
                         "sigma1 < sigma0.")
    p_a = check_array(p_a, "p_a", low=0, high=1)
    return _xi(alpha, log_kappa, dim, 1.0 - p_a)


def clamp_sigma_t(p_b, clamp):
    r"""The paper's Appendix D clamp :math:`\sigma_t = c + 0.001\log_{10} p_B`.

    For comparison only: :func:`idrs_radius` with ``clamp`` certifies with it to
    reproduce the paper's numbers.

    Parameters
    ----------
    p_b : array_like
        Upper bound :math:`p_B` of the runner-up probability (:math:`1 - \underline{p_A}`
        by default), in (0, 1].
    clamp : {'mnist', 'cifar10'} or float
        ``"mnist"`` (c = 0.9988), ``"cifar10"`` (c = 0.9993) or a number c in (0, 1].

    Returns
    -------
    ndarray of float
        :math:`\sigma_t`, clipped to [0.001, 1].

    Raises
    ------
    ValueError
        If ``clamp`` is another string, not a number, or a number outside (0, 1].

    Notes
    -----
    The certificate then uses :math:`\sigma_1 \le \sigma_t\sigma_0` below and
    :math:`\sigma_1 \ge \sigma_0/\sigma_t` above (:data:`CLAMP_CONSTANTS` holds the
    paper's c). By Theorem 3.1 a more extreme :math:`\sigma_1` can only turn "certified"
    into "not certified", so the clamp is sound, but it gives away radius where the
    natural band :math:`[\sigma_0 e^{-rR}, \sigma_0 e^{rR}]` is narrower.

    Examples
    --------
    >>> from idrs.certify.radius import clamp_sigma_t
    >>> round(float(clamp_sigma_t(0.1, "cifar10")), 6)
    0.9983
    """
    if isinstance(clamp, str):
        check_option(clamp, "clamp", CLAMP_CONSTANTS)
        c = CLAMP_CONSTANTS[clamp]
    elif isinstance(clamp, numbers.Real) and 0 < clamp <= 1:
        c = float(clamp)
    else:
        raise ValueError(f"clamp == {clamp!r}, must be None, 'mnist', 'cifar10' or a "
                         "number in (0, 1].")
    sigma_t = c + 0.001 * np.log10(p_b)
    return np.clip(sigma_t, 1e-3, 1.0)


def _band_max(xi_extreme, p, alpha):
    """A term of the separate-p_B statistic bounded over sigma1's whole band: the larger
    of its value at the band's far end and at kappa = 1 (Cohen's half-space).
    ``np.maximum`` propagates NaN, which must mean "not certified"."""
    return np.maximum(xi_extreme, special.ndtr(special.ndtri(p) + alpha))


def _side_statistic(alpha, side, rho, delta, log_sigma_t, dim, p_a, p_b, threshold):
    """The statistic of :func:`idrs_radius` at radius ``alpha`` (units of sigma0) on one
    side of sigma0: negative where certified, >= 0 where not, NaN where SciPy's functions
    fail (it propagates, and a NaN is never taken for certified).

    ``side`` +1: sigma1 = sigma0 e^{+rho alpha + delta}, clamped to sigma0 / sigma_t;
    -1: sigma1 = sigma0 e^{-rho alpha - delta}, clamped to sigma_t sigma0 (``log_sigma_t``
    is log sigma_t, 0 without a clamp). ``p_b`` None: p_B = 1 - p_A (Theorem 3.2);
    otherwise each term is bounded by its values at the band's ends (Appendix B.5).
    Arrays broadcast.
    """
    if side < 0:
        log_kappa = np.minimum(-rho * alpha - delta, log_sigma_t)
    else:
        log_kappa = np.maximum(rho * alpha + delta, -log_sigma_t)
    xi = _xi(alpha, log_kappa, dim, 1.0 - p_a)
    if p_b is not None:
        xi_b = _band_max(_xi(alpha, log_kappa, dim, p_b), p_b, alpha)
        xi = 0.5 * (xi_b + np.maximum(_band_max(xi, 1.0 - p_a, alpha), 0.5))
    return special.ndtri(xi) - threshold


def idrs_radius(p_a, sigma0, rate, dim, p_b=None, clamp=None, conservative=True, slack=0.0):
    r"""Certified radius of input-dependent smoothing with an r-semi-elastic :math:`\sigma(x)`.

    Theorem 3.2 [1]_: the largest :math:`R` such that every :math:`x_1` within distance
    :math:`R` of :math:`x_0` is certified for every :math:`\sigma(x)` that is
    r-semi-elastic with :math:`\sigma(x_0) = \sigma_0`. Computed to :data:`RADIUS_RTOL`
    relative, from below: the radius returned has passed the test.

    Parameters
    ----------
    p_a : array_like
        Lower confidence bound of the top-class probability, in [0, 1]. No certificate
        (radius 0) where ``p_a <= 1/2`` or ``p_a <= p_b``.
    sigma0 : array_like
        :math:`\sigma(x_0) > 0`.
    rate : array_like
        Semi-elasticity :math:`r \ge 0` of :math:`\sigma(x)`; 0 gives exactly
        :func:`cohen_radius`.
    dim : array_like of int
        Input dimension :math:`N \ge 1`.
    p_b : array_like, optional
        Separate upper confidence bound of the runner-up probability, in [0, 1].
    clamp : {None, 'mnist', 'cifar10'} or float, optional
        The paper's Appendix D workaround, for comparison only (see
        :func:`clamp_sigma_t`): sound, often a smaller radius, never a larger one beyond
        the search's :data:`RADIUS_RTOL` (each is the last radius its own test passed).
    conservative : bool, default True
        Decide :math:`\xi + \epsilon < 1/2` with :math:`\epsilon` = :data:`XI_ALLOWANCE`
        instead of :math:`\xi < 1/2`, robust to SciPy's evaluation error.
    slack : array_like, default 0
        :math:`\delta \ge 0` for a :math:`\sigma` that is r-semi-elastic only up to an
        additive slack, :math:`|\log\sigma(x_0) - \log\sigma(x_1)| \le r\lVert x_0 -
        x_1\rVert + \delta`, as every :math:`\sigma(x)` computed in floating point is
        (see Notes). The engine (:func:`idrs.engine.smoothing.certify`) always passes
        the slack of :math:`\sigma(x)` as it computes it
        (:func:`idrs.certify.sigma.log_sigma_slack` plus the rounding to float32).

    Returns
    -------
    ndarray of float
        The radius, in the units of :math:`\sigma_0`, the broadcast shape of the
        arguments; never NaN.

    Raises
    ------
    ValueError
        If ``p_a`` or ``p_b`` is outside [0, 1], ``sigma0 <= 0``, ``rate < 0``,
        ``slack < 0``, ``dim`` is not an integer >= 1, or any argument is NaN; or, where
        a radius is searched, ``clamp`` is not one :func:`clamp_sigma_t` accepts.
    RuntimeError
        If the bracketing search does not converge
        (:func:`idrs.certify._bracket.last_passing`), which signals a statistic that is
        not monotone in the radius.

    See Also
    --------
    cohen_radius : the constant-:math:`\sigma` radius, an upper bound of this one.
    xi_greater, xi_smaller : the two worst-case probabilities tested.

    Notes
    -----
    **The certificate (Theorem 3.2).**

    .. math:: CR(x_0) = \sup\{R \ge 0:\ \xi_>(R, \sigma_0 e^{-rR}) < \tfrac12
              \text{ and } \xi_<(R, \sigma_0 e^{rR}) < \tfrac12\}.

    :math:`r`-semi-elasticity, :math:`|\log\sigma(x_0) - \log\sigma(x_1)| \le r
    \lVert x_0-x_1\rVert`, bounds :math:`\sigma_1` within distance :math:`R` to
    :math:`[\sigma_0 e^{-rR}, \sigma_0 e^{rR}]`; both :math:`\xi` grow with :math:`a` and
    with the distance of :math:`\sigma_1` from :math:`\sigma_0` (Theorem 3.1), so the two
    extreme values at :math:`a = R` are the worst cases.

    **The search.** A bracketing regula falsi on :math:`\Phi^{-1}(\xi)` (nearly linear
    in :math:`R`) in :math:`[0, R_\text{Cohen}]` (the radius never exceeds Cohen's at
    :math:`\sigma_0`, Theorem B.6), to :data:`RADIUS_RTOL` relative, for each side
    (:math:`\sigma_1` below and above :math:`\sigma_0`); the radius is the smaller of
    the two, and each is the last radius that passed the test. It works in the
    scale-free :math:`\alpha = R/\sigma_0`, :math:`\rho = r\sigma_0`, never beyond
    :data:`ALPHA_MAX`.

    **Separate** :math:`\overline{p_B}` **(Appendix B.5).** Let :math:`A` be the top
    class, :math:`P_0(A) \ge \underline{p_A}`, and :math:`B` any other class,
    :math:`P_0(B) \le \overline{p_B}`. The smoothed prediction at :math:`x_1` is still
    :math:`A` iff :math:`P_1(A) > P_1(B)` for every :math:`B`. The worst-case classifier
    maximises :math:`P_1(B)` subject to :math:`P_0(B) \le \overline{p_B}`, giving
    :math:`\xi(\overline{p_B})`, and independently minimises :math:`P_1(A)` subject to
    :math:`P_0(A) \ge \underline{p_A}`, i.e. maximises :math:`P_1(A^c)` subject to
    :math:`P_0(A^c) \le 1-\underline{p_A}`, giving :math:`1 - \xi(1-\underline{p_A})`
    (Neyman-Pearson, the same worst-case regions as Theorem 2.2). Hence the condition
    for one :math:`(a, \sigma_1)` is

    .. math:: \xi(\overline{p_B}) + \xi(1-\underline{p_A}) < 1,

    not :math:`\xi(\overline{p_B}) < 1/2` (which is unsound with more than two classes).
    It reduces to :math:`2\xi(1-\underline{p_A}) < 1` for :math:`\overline{p_B} =
    1-\underline{p_A}`, and at :math:`\sigma_1=\sigma_0` to Cohen's
    :math:`\frac{\sigma}{2}(\Phi^{-1}(\underline{p_A})-\Phi^{-1}(\overline{p_B}))`.

    **The band of** :math:`\sigma_1` **with a separate** :math:`\overline{p_B}`.
    Theorem 3.1 reduces the band of :math:`\sigma_1` to its extreme only for decisions
    at level 1/2 (:math:`\xi` itself is not monotone in :math:`\sigma_1`: as
    :math:`\kappa` leaves 1 it first dips slightly under its :math:`\kappa = 1` value,
    then rises). A sum of two terms is not such a decision, so each term is bounded over
    the whole band :math:`\kappa \in [e^{-\rho\alpha}, 1]` (likewise above) by the
    larger of its values at the band's two ends, :math:`\max(\xi(\kappa_\text{ext};
    p), \Phi(\Phi^{-1}(p) + \alpha))`, before they are added. That the maximum over
    the band lies at an end follows from the dip-then-rise shape, which the tests check
    on dense grids in both directions; it is not proven. The :math:`1-\underline{p_A}`
    term is further floored at 1/2, which Theorem 3.1's proof justifies on its own for
    :math:`\sigma_1 < \sigma_0` (a value above 1/2 inside the band forces a larger one
    at the extreme) and which costs nothing near the radius, where that term exceeds
    1/2. The default :math:`\overline{p_B} = 1 - \underline{p_A}` does not rely on it:
    there the decision is at level 1/2 and Theorem 3.1 applies as stated.

    **Slack.** With ``slack`` :math:`= \delta` the band becomes
    :math:`[\sigma_0 e^{-rR-\delta}, \sigma_0 e^{rR+\delta}]`, which Theorem 3.1 makes a
    sound (smaller) certificate; with ``rate = 0`` and ``slack > 0`` the band is
    :math:`\sigma_0 [e^{-\delta}, e^{\delta}]`.

    **Clamp.** With ``clamp``, :math:`\sigma_1` is moved out to at most
    :math:`\sigma_t\sigma_0` below and at least :math:`\sigma_0/\sigma_t` above
    (:func:`clamp_sigma_t`); where the test fails even at :math:`R = 0` the radius
    is 0.

    Examples
    --------
    >>> from idrs.certify.radius import idrs_radius, cohen_radius
    >>> float(idrs_radius(0.99, 0.25, 0.0, 3072)) == float(cohen_radius(0.99, 0.25))
    True
    >>> round(float(idrs_radius(0.99, 0.25, 0.01, 3072)), 4)  # Cohen: 0.5816
    0.5707
    """
    p_a = check_array(p_a, "p_a", low=0, high=1)
    sigma0 = check_array(sigma0, "sigma0", low=0, low_inclusive=False)
    rate = check_array(rate, "rate", low=0)
    dim = check_array(dim, "dim", low=1, integer=True)
    slack = check_array(slack, "slack", low=0)
    separate = p_b is not None
    if separate:
        p_b = check_array(p_b, "p_b", low=0, high=1)
    p_a, sigma0, rate, dim, slack, p_b_arr = np.broadcast_arrays(
        p_a, sigma0, rate, dim, slack, p_b if separate else 1.0 - p_a)
    shape = p_a.shape
    cohen = cohen_radius(p_a, 1.0, p_b_arr if separate else None)
    # exact Cohen where rate == 0 or nothing is certified
    out = np.array(cohen * sigma0, dtype=float)
    todo = np.flatnonzero(((rate > 0) | (slack > 0)) & (cohen > 0))
    if todo.size == 0:
        return out
    # Lowering p_a / raising p_b is conservative; it keeps the Cohen bracket finite.
    pa = np.minimum(p_a.ravel()[todo], np.nextafter(1.0, 0.0))
    pb = np.maximum(p_b_arr.ravel()[todo], 1e-300)
    rho = (rate * sigma0).ravel()[todo]
    delta = slack.ravel()[todo]
    n = dim.ravel()[todo]
    log_sigma_t = (np.log(clamp_sigma_t(pb, clamp)) if clamp is not None
                   else np.zeros_like(pb))
    allowance = XI_ALLOWANCE if conservative else 0.0
    threshold = special.ndtri(0.5 - allowance)

    def h(alpha, idx, side):
        return _side_statistic(alpha, side, rho[idx], delta[idx], log_sigma_t[idx], n[idx],
                               pa[idx], pb[idx] if separate else None, threshold)

    everything = np.arange(todo.size)
    lo = np.zeros(todo.size)
    alpha = np.maximum(np.minimum(cohen.ravel()[todo], ALPHA_MAX), np.finfo(float).tiny)
    for side in (+1, -1):  # the radius is the smaller of the two sides' radii
        h_lo = h(lo, everything, side)
        h_hi = h(alpha, everything, side)
        # Already certified at the bracket's top: keep it. Not even at 0 (possible with
        # a clamp): no certificate. Otherwise search in between.
        alpha = np.where(h_hi < 0, alpha, np.where(h_lo < 0, alpha, 0.0))
        sel = np.flatnonzero(~(h_hi < 0) & (h_lo < 0))
        if sel.size:
            alpha[sel] = last_passing(lambda x, i, side=side, sel=sel: h(x, sel[i], side),
                                      lo[sel], alpha[sel], h_lo[sel], h_hi[sel],
                                      rtol=RADIUS_RTOL)
    out.reshape(-1)[todo] = sigma0.ravel()[todo] * alpha
    return out.reshape(shape)


def radii(p_a, sigma, rate, dim, slack, clamp=None):
    """Every input's certified radius from its Clopper-Pearson bound: all of CERTIFY
    after the sampling, so another radius of the same samples (the paper's clamp)
    needs no new ones (:func:`idrs.workflow.jobs.reradius_job`). Shared by
    :func:`idrs.engine.smoothing.certify` and that job, so both give the same radius.

    Parameters
    ----------
    p_a : array_like, shape (m,)
        Lower confidence bounds of the selected class's probability.
    sigma : array_like, shape (m,)
        sigma(x) as sampled (float32 values).
    rate : float
        Semi-elasticity r; 0: Cohen's radius.
    dim : int
        Input dimension N.
    slack : array_like, shape (m,)
        The delta of :func:`idrs_radius`: the slack of sigma(x) as
        computed plus its float32 rounding (the ``sigma_slack`` column of
        :func:`idrs.engine.smoothing.certify`'s records).
    clamp : {None, "mnist", "cifar10"}, optional
        The paper's Appendix D clamp instead of the exact radius.

    Returns
    -------
    (ndarray, ndarray)
        The radius (0 where ``p_a < 1/2``: CERTIFY abstains) and each input's share of
        the seconds of the radius computation. All inputs are searched in one vectorised
        call (17x faster than one at a time on make run's 14,190 IDRS inputs): each
        input keeps its own bracket (:func:`idrs.certify._bracket.last_passing`), so its
        radius is the one it gets alone, bit for bit (tested).
    """
    p_a = np.asarray(p_a, dtype=np.float64)
    begun = time.perf_counter()
    radius = (cohen_radius(p_a, sigma) if rate == 0 else
              idrs_radius(p_a, sigma, rate, dim, slack=slack, clamp=clamp))
    radius_time = np.full(len(p_a), (time.perf_counter() - begun) / max(1, len(p_a)))
    return np.where(p_a < 0.5, 0.0, radius), radius_time

r"""The input-dependent noise level of Equation 1 (Súkeník et al. 2022).

.. math:: \sigma(x) = \sigma_b \exp\big(r\,(\bar d_k(x) - m)\big),

with :math:`\bar d_k(x)` the mean distance to the k nearest training points
(:func:`idrs.engine.knn.knn_mean_distance`). :math:`\bar d_k` is 1-Lipschitz, so
:math:`\log\sigma` is r-Lipschitz: :math:`\sigma` is r-semi-elastic (Theorem 4.1), which
is what :func:`idrs.certify.radius.idrs_radius` needs. Capping at ``sigma_max`` (Appendix A.5
caps at :math:`5\sigma_b`) keeps the semi-elasticity, as a minimum of r-Lipschitz
functions in log space is r-Lipschitz.

As computed, :math:`\sigma` is semi-elastic only up to an additive slack
(:func:`log_sigma_slack`): the kNN distance carries a rounding error, and so does
Equation 1 itself. The certificate widens its band of :math:`\sigma_1` by that slack.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_array
from .radius import ALPHA_MAX
from .rounding import U64, distance_error_bound

__all__ = ["sigma_from_distance", "calibrate_sigma_b", "log_sigma_slack"]


def sigma_from_distance(mean_distance, sigma_b, rate, m, sigma_max=None):
    r""":math:`\sigma(x)` of Equation 1 from stored mean kNN distances.

    Parameters
    ----------
    mean_distance : array_like
        Mean distance :math:`\bar d_k(x) \ge 0` to the k nearest training points
        (:func:`idrs.engine.knn.knn_mean_distance`).
    sigma_b : array_like
        Base noise level :math:`\sigma_b > 0`.
    rate : array_like
        Rate :math:`r \ge 0`; ``rate = 0`` gives ``sigma_b``.
    m : float
        Reference distance :math:`m` of Equation 1.
    sigma_max : array_like, optional
        Cap :math:`\sigma_\text{max} > 0` (Appendix A.5 caps at :math:`5\sigma_b`).

    Returns
    -------
    ndarray of float
        :math:`\sigma(x)`, the broadcast shape of the arguments.

    Raises
    ------
    ValueError
        If ``mean_distance < 0``, ``sigma_b <= 0``, ``rate < 0``, ``sigma_max <= 0``, or
        any of them is NaN.

    Notes
    -----
    .. math:: \sigma(x) = \min\big(\sigma_b \exp\big(r\,(\bar d_k(x) - m)\big),\;
              \sigma_\text{max}\big),

    without the minimum where ``sigma_max`` is None. r-semi-elastic (Theorem 4.1), with
    or without the cap (see the module docstring).

    Examples
    --------
    >>> from idrs.certify.sigma import sigma_from_distance
    >>> sigma_from_distance([1.5, 2.5], 0.25, 0.01, 1.5).round(6).tolist()
    [0.25, 0.252513]
    """
    d = check_array(mean_distance, "mean_distance", low=0)
    sigma_b = check_array(sigma_b, "sigma_b", low=0, low_inclusive=False)
    rate = check_array(rate, "rate", low=0)
    sigma = sigma_b * np.exp(rate * (d - m))
    if sigma_max is not None:
        sigma = np.minimum(sigma, check_array(sigma_max, "sigma_max", low=0,
                                              low_inclusive=False))
    return sigma


def calibrate_sigma_b(mean_distance, sigma_mean, rate, m, sigma_max=None):
    r""":math:`\sigma_b` such that the capped :math:`\sigma(x)` averages ``sigma_mean``.

    The mean is taken over ``mean_distance``: Figure 1's "equal in average to the
    constant sigma", with :math:`\sigma(x)` *capped* at ``sigma_max``.

    Parameters
    ----------
    mean_distance : array_like
        Mean kNN distances :math:`\bar d_k(x_i) \ge 0` of the points averaged over.
    sigma_mean : float
        Target mean of :math:`\sigma(x)`, > 0.
    rate : float
        Rate :math:`r \ge 0` of Equation 1.
    m : float
        Reference distance :math:`m` of Equation 1.
    sigma_max : float, optional
        Cap of :math:`\sigma(x)`, greater than ``sigma_mean``.

    Returns
    -------
    float
        :math:`\sigma_b`.

    Raises
    ------
    ValueError
        If ``sigma_max <= sigma_mean`` (a capped :math:`\sigma(x)` averages below its
        cap), a distance is negative or NaN, or ``rate < 0``.

    Notes
    -----
    Without a cap, :math:`\sigma_b = \bar\sigma / \operatorname{mean}_i
    e^{r(\bar d_k(x_i) - m)}` with :math:`\bar\sigma` = ``sigma_mean``. With one, the
    capped mean

    .. math:: \frac1n \sum_i \min\big(\sigma_b e^{r(\bar d_k(x_i) - m)},\,
              \sigma_\text{max}\big)

    is continuous and increasing in :math:`\sigma_b`, from the uncapped solution up to
    ``sigma_max`` (every point capped), so a root bracket is known (Brent's method,
    relative tolerance 1e-12). ``m`` cancels (:math:`\sigma_b` absorbs
    :math:`e^{-rm}`) and is kept only so that :math:`\sigma_b` means what it means in
    Equation 1.

    Examples
    --------
    >>> from idrs.certify.sigma import calibrate_sigma_b, sigma_from_distance
    >>> d = [1.0, 2.0, 3.0]
    >>> sigma_b = calibrate_sigma_b(d, 0.5, 1.0, 2.0)
    >>> round(float(sigma_from_distance(d, sigma_b, 1.0, 2.0).mean()), 12)
    0.5
    """
    from scipy.optimize import brentq
    d = check_array(mean_distance, "mean_distance", low=0)
    scale = sigma_from_distance(d, 1.0, rate, m)
    low = sigma_mean / float(scale.mean())
    if sigma_max is None:
        return low
    if sigma_max <= sigma_mean:
        raise ValueError(f"sigma_max == {sigma_max} cannot give a mean sigma(x) of "
                         f"{sigma_mean}: a capped sigma(x) averages below its cap. Raise "
                         "sigma_max or lower sigma_mean.")
    high = sigma_max / float(scale.min())

    def excess(sigma_b):
        return float(np.minimum(sigma_b * scale, sigma_max).mean()) - sigma_mean
    if excess(low) >= 0:  # nothing is capped at the uncapped solution
        return low
    return brentq(excess, low, high, xtol=1e-14, rtol=1e-12)


def log_sigma_slack(mean_distance, sigma, rate, m, dim, k, feature_error=0.0,
                    feature_coefficient=0.0):
    r"""Slack :math:`\delta` of the semi-elasticity of :math:`\sigma(x)` as computed here.

    "As computed": float64 kNN distances of :func:`idrs.engine.knn.knn_mean_distance`,
    then :func:`sigma_from_distance` in float64. At the certified input :math:`x_0`,

    .. math:: |\log\tilde\sigma(x_0) - \log\tilde\sigma(x_1)| \le r\lVert x_0 - x_1\rVert
              + \delta \quad\text{for } \lVert x_1 - x_0\rVert \le
              \text{ALPHA\_MAX}\,\sigma(x_0),

    the reach of the radius search (:data:`idrs.certify.radius.ALPHA_MAX`). The
    rounding of :math:`\sigma` to the sampler's float32 is added by
    :func:`idrs.engine.smoothing.certify`.

    Parameters
    ----------
    mean_distance, sigma : array_like
        :math:`\tilde d(x_0)` and :math:`\sigma(x_0)` per input.
    rate, m : float
        r and m of Equation 1.
    dim, k : int
        Input dimension (the features' dimension with a feature map) and k of the kNN
        distances.
    feature_error : array_like, default 0
        Bound on the error of distances between computed features
        (:mod:`idrs.engine.features`) at :math:`x_0`.
    feature_coefficient : float, default 0
        Growth of that bound per unit of input norm.

    Returns
    -------
    ndarray of float64
        The slack in log space; 0 where ``rate = 0`` (a constant is exact).

    Raises
    ------
    ValueError
        If ``mean_distance < 0``, ``sigma <= 0``, or either is NaN.

    Notes
    -----
    With :math:`\epsilon(d)` = :func:`idrs.certify.rounding.distance_error_bound`,
    :math:`|\tilde d(x_i) - \bar d(x_i)| \le \epsilon_i` and :math:`\bar d` is
    1-Lipschitz, so

    .. math:: |r\tilde d(x_0) - r\tilde d(x_1)| \le r\lVert x_0-x_1\rVert
              + r(\epsilon_0 + \epsilon_1),

    where :math:`\tilde d(x_1) \le \tilde d(x_0) + \epsilon_0 + \text{reach}` bounds
    :math:`\epsilon_1`. Equation 1 in float64 adds, per end, :math:`2u` from ``d - m``
    and the product with r (relative to :math:`|r(d-m)|`), at most :math:`4u` from
    ``exp`` and :math:`u` from the product with :math:`\sigma_b` (``min`` with
    ``sigma_max`` is exact): we take :math:`8u + 3u\,r(\tilde d + |m|)` per end, with
    :math:`u = 2^{-53}`, so :math:`16u + 3u\,r(\tilde d_0 + \tilde d_1 + 2|m|)` for the
    two. Distances between computed features (:mod:`idrs.engine.features`) add
    ``feature_error`` at :math:`x_0` and, at :math:`x_1` (whose norm exceeds
    :math:`x_0`'s by at most the reach), ``feature_error + feature_coefficient *
    reach``, both to :math:`\epsilon_i` and to the bound on :math:`\tilde d(x_1)`.
    ``rate = 0`` gives 0: a constant is exact.

    Examples
    --------
    >>> from idrs.certify.sigma import log_sigma_slack
    >>> float(log_sigma_slack(6.0, 0.25, 0.5, 6.0, 784, 20))  # MNIST-sized, k = 20
    9.929...e-13
    """
    d0 = check_array(mean_distance, "mean_distance", low=0)
    sigma = check_array(sigma, "sigma", low=0, low_inclusive=False)
    reach = ALPHA_MAX * sigma
    fe0 = np.asarray(feature_error, dtype=np.float64)
    eps0 = distance_error_bound(d0, dim, k) + fe0
    fe1 = fe0 + feature_coefficient * reach
    d1 = d0 + eps0 + reach + fe1
    eps1 = distance_error_bound(d1, dim, k) + fe1
    equation_1 = 16 * U64 + 3 * U64 * rate * (d0 + d1 + 2 * abs(m))
    return np.where(rate > 0, rate * (eps0 + eps1) + equation_1, 0.0)

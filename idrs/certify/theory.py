r"""The curse of dimensionality of input-dependent smoothing (Section 2.3 [1]_).

All three functions return thresholds on the noise ratio :math:`\sigma_1/\sigma_0 < 1`:
below the threshold no :math:`x_1` can be certified, however close to :math:`x_0`,
because :math:`\xi_>(0) \ge 1/2` already. They broadcast over ``p_a`` and ``dim``.

References
----------
.. [1] V. Súkeník, A. Kuvshinov and S. Günnemann, "Intriguing properties of
   input-dependent randomized smoothing", ICML 2022.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .._validation import check_array

__all__ = ["table1_threshold", "practical_threshold", "corollary_threshold"]


def _check(p_a, dim):
    p_a = check_array(p_a, "p_a", low=0, high=1, high_inclusive=False)
    dim = check_array(dim, "dim", low=1, integer=True)
    return np.broadcast_arrays(p_a, dim.astype(np.float64))


def table1_threshold(p_a, dim):
    r"""Theorem 2.4's threshold :math:`\sqrt{s}`, the ratio printed in Table 1.

    Below it, no :math:`x_1` with :math:`\sigma_1 < \sigma_0` is certified [1]_.

    Parameters
    ----------
    p_a : array_like
        Lower confidence bound :math:`\underline{p_A}` of the top-class probability, in
        [0, 1).
    dim : array_like of int
        Input dimension :math:`N \ge 1`. ``p_a`` and ``dim`` broadcast.

    Returns
    -------
    ndarray of float
        The threshold on :math:`\sigma_1/\sigma_0`, the broadcast shape of the
        arguments.

    Raises
    ------
    ValueError
        If ``p_a`` is outside [0, 1), ``dim`` is not an integer >= 1, or either is NaN.

    See Also
    --------
    practical_threshold : where :math:`\xi_>(0) = 1/2` exactly, always above.
    corollary_threshold : Corollary 2.5's simpler bound, always below.

    Notes
    -----
    :math:`s = \sigma_1^2/\sigma_0^2 < 1` solves

    .. math:: \log s + 1 - s = \frac{2\log(1-p_A)}{N}.

    The left side increases on (0, 1) from :math:`-\infty` to 0, so the root is unique;
    it is :math:`s = -W_0(-e^{c-1})` with :math:`c` the right side, polished by Newton's
    method in :math:`u = 1 - s` with ``log1p`` (the Lambert W branch point at
    :math:`-1/e` loses digits when :math:`N` is large).

    Examples
    --------
    >>> from idrs.certify.theory import table1_threshold
    >>> round(float(table1_threshold(0.9, 784)), 3)
    0.946
    """
    p_a, dim = _check(p_a, dim)
    c = 2.0 * np.log1p(-p_a) / dim
    with np.errstate(under="ignore"):
        s = -special.lambertw(-np.exp(c - 1.0), 0).real
    near_one = s > 0.5
    u = np.where(near_one, np.maximum(1.0 - s, 0.5 * np.sqrt(-2.0 * c)), 0.5)
    s = np.where(near_one, 0.5, np.maximum(s, 1e-300))
    for _ in range(6):  # Newton; both functions are concave and monotone on the domain
        # near 1: f(u) = log(1-u) + u - c with u = 1 - s, well conditioned via log1p
        u = np.clip(u + (np.log1p(-u) + u - c) * (1.0 - u) / u, 1e-300, 0.5)
        # away from 1: g(s) = log s + 1 - s - c
        s = np.clip(s - (np.log(s) + 1.0 - s - c) / (1.0 / s - 1.0), 1e-300, 0.5)
    return np.sqrt(np.where(near_one, 1.0 - u, s))


def practical_threshold(p_a, dim):
    r"""The ratio :math:`\sigma_1/\sigma_0` at which :math:`\xi_>(0) = 1/2` (Figure 3).

    Below it, :math:`\xi_>(a) \ge \xi_>(0) > 1/2` for every distance :math:`a`, so no
    :math:`x_1` with that :math:`\sigma_1` is certified. Always above
    :func:`table1_threshold`.

    Parameters
    ----------
    p_a : array_like
        Lower confidence bound :math:`\underline{p_A}` of the top-class probability, in
        [0, 1).
    dim : array_like of int
        Input dimension :math:`N \ge 1`. ``p_a`` and ``dim`` broadcast.

    Returns
    -------
    ndarray of float
        The threshold on :math:`\sigma_1/\sigma_0`, the broadcast shape of the
        arguments.

    Raises
    ------
    ValueError
        If ``p_a`` is outside [0, 1), ``dim`` is not an integer >= 1, or either is NaN.

    Notes
    -----
    At :math:`a = 0` the worst-case ball is centred at :math:`x_0`, so

    .. math:: \xi_>(0) = \chi^2_N\big(\chi^2_{N,qf}(1-p_A)/s\big)

    with central :math:`\chi^2_N` and :math:`s = \sigma_1^2/\sigma_0^2`, which equals
    1/2 at

    .. math:: s = \frac{\chi^2_{N,qf}(1-p_A)}{\operatorname{median}(\chi^2_N)}.

    The ratio returned is :math:`\sqrt{s}`.

    Examples
    --------
    >>> from idrs.certify.theory import practical_threshold
    >>> round(float(practical_threshold(0.9, 784)), 4)  # Theorem 2.4: 0.9463
    0.9678
    """
    from scipy import stats  # here, not at the top: 1.5 s of every job's start-up
    p_a, dim = _check(p_a, dim)
    return np.sqrt(stats.chi2.ppf(1.0 - p_a, dim) / stats.chi2.ppf(0.5, dim))


def corollary_threshold(p_a, dim):
    r"""Corollary 2.5's simpler sufficient threshold on :math:`\sigma_1/\sigma_0`.

    Below it no :math:`x_1` with :math:`\sigma_1 < \sigma_0` is certified. Below
    :func:`table1_threshold`.

    Parameters
    ----------
    p_a : array_like
        Lower confidence bound :math:`\underline{p_A}` of the top-class probability, in
        [0, 1).
    dim : array_like of int
        Input dimension :math:`N \ge 1`. ``p_a`` and ``dim`` broadcast.

    Returns
    -------
    ndarray of float
        The threshold on :math:`\sigma_1/\sigma_0`, the broadcast shape of the
        arguments.

    Raises
    ------
    ValueError
        If ``p_a`` is outside [0, 1), ``dim`` is not an integer >= 1, or either is NaN.

    Notes
    -----
    .. math:: \frac{\sigma_1}{\sigma_0} < \sqrt{1 - 2\sqrt{-\log(1-p_A)/N}}

    implies "not certified". Where the root's argument is negative the corollary
    excludes nothing and 0 is returned.

    Examples
    --------
    >>> from idrs.certify.theory import corollary_threshold
    >>> round(float(corollary_threshold(0.9, 784)), 4)
    0.9443
    """
    p_a, dim = _check(p_a, dim)
    return np.sqrt(np.maximum(1.0 - 2.0 * np.sqrt(-np.log1p(-p_a) / dim), 0.0))

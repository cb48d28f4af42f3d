"""Binomial statistics of Monte Carlo counts, as used by Cohen et al.'s CERTIFY and PREDICT.

References
----------
.. [1] C. J. Clopper and E. S. Pearson, "The use of confidence or fiducial limits
   illustrated in the case of the binomial", Biometrika 26 (1934).
.. [2] J. Cohen, E. Rosenfeld and J. Z. Kolter, "Certified adversarial robustness via
   randomized smoothing", ICML 2019.
.. [3] J. Hung and W. Fithian, "Rank verification for exponential families",
   arXiv:1610.03944 (the two-sided test behind PREDICT).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .._validation import check_array

__all__ = ["clopper_pearson_lower", "clopper_pearson_upper", "predict_test"]


def _check_counts(k, n, alpha):
    k = check_array(k, "k", low=0, integer=True)
    n = check_array(n, "n", low=1, integer=True)
    alpha = check_array(alpha, "alpha", low=0, high=1, low_inclusive=False,
                        high_inclusive=False)
    if np.any(k > n):
        raise ValueError("k must not exceed n: a count cannot be larger than the number "
                         "of samples.")
    return np.broadcast_arrays(k.astype(np.float64), n.astype(np.float64), alpha)


def clopper_pearson_lower(k, n, alpha):
    r"""One-sided :math:`(1-\alpha)` exact lower confidence bound of a binomial proportion.

    The Clopper-Pearson bound [1]_: with probability at least :math:`1-\alpha` over the
    samples, the true proportion is at least the bound. This is Cohen et al.'s
    ``proportion_confint(k, n, alpha=2*alpha, method="beta")[0]`` [2]_.

    Parameters
    ----------
    k : array_like of int
        Successes, ``0 <= k <= n``.
    n : array_like of int
        Trials, ``n >= 1``.
    alpha : array_like of float
        Level in (0, 1). ``k``, ``n`` and ``alpha`` broadcast against each other.

    Returns
    -------
    ndarray of float
        The bound :math:`\underline{p}`, in [0, 1), with the broadcast shape of the
        arguments.

    Raises
    ------
    ValueError
        If ``k`` or ``n`` is not an integer, ``k < 0``, ``n < 1``, ``k > n``, ``alpha``
        is not in the open interval (0, 1), or any argument is NaN.

    See Also
    --------
    clopper_pearson_upper : the upper bound.

    Notes
    -----
    The bound is the beta quantile

    .. math:: \underline{p} = B^{-1}(\alpha;\, k,\, n-k+1), \qquad \underline{p} = 0
              \text{ if } k = 0,

    where :math:`B^{-1}(q; a, b)` is the :math:`q`-quantile of the
    :math:`\mathrm{Beta}(a, b)` law. Equivalently, :math:`\underline{p}` solves
    :math:`P(X \ge k \mid \underline{p}) = \alpha` for :math:`X \sim
    \mathrm{Binomial}(n, \underline{p})`, since that binomial tail is the regularized
    incomplete beta function :math:`I_{\underline{p}}(k, n-k+1)`. With all successes,
    :math:`k = n`, the bound is :math:`\alpha^{1/n}`: 0.99993 for Cohen et al.'s
    :math:`n = 10^5`, :math:`\alpha = 0.001`, the largest :math:`\underline{p_A}` a
    certificate can use.

    Examples
    --------
    >>> from idrs.certify.stats import clopper_pearson_lower
    >>> float(clopper_pearson_lower(100000, 100000, 0.001))  # the largest possible p_A
    0.99993092...
    """
    k, n, alpha = _check_counts(k, n, alpha)
    with np.errstate(invalid="ignore"):
        bound = special.betaincinv(k, n - k + 1, alpha)
    return np.where(k == 0, 0.0, bound)


def clopper_pearson_upper(k, n, alpha):
    r"""One-sided :math:`(1-\alpha)` exact upper confidence bound of a binomial proportion.

    The Clopper-Pearson bound [1]_: with probability at least :math:`1-\alpha` over the
    samples, the true proportion is at most the bound.

    Parameters
    ----------
    k : array_like of int
        Successes, ``0 <= k <= n``.
    n : array_like of int
        Trials, ``n >= 1``.
    alpha : array_like of float
        Level in (0, 1). ``k``, ``n`` and ``alpha`` broadcast against each other.

    Returns
    -------
    ndarray of float
        The bound :math:`\overline{p}`, in (0, 1], with the broadcast shape of the
        arguments.

    Raises
    ------
    ValueError
        If ``k`` or ``n`` is not an integer, ``k < 0``, ``n < 1``, ``k > n``, ``alpha``
        is not in the open interval (0, 1), or any argument is NaN.

    See Also
    --------
    clopper_pearson_lower : the lower bound, with the same parameters.

    Notes
    -----
    .. math:: \overline{p} = B^{-1}(1-\alpha;\, k+1,\, n-k), \qquad \overline{p} = 1
              \text{ if } k = n,

    the solution of :math:`P(X \le k \mid \overline{p}) = \alpha`. It is computed
    through the beta survival-function inverse, :math:`\overline{p} =
    \mathrm{isf}_{\mathrm{Beta}(k+1,\,n-k)}(\alpha)`, so that a tiny ``alpha`` keeps
    its digits. With no successes the bound is :math:`1 - \alpha^{1/n}`.

    Examples
    --------
    >>> from idrs.certify.stats import clopper_pearson_upper
    >>> float(clopper_pearson_upper(0, 100000, 0.001))  # 1 - 0.001 ** 1e-5
    6.9075...e-05
    """
    from scipy import stats  # here, not at the top: 1.5 s of every job's start-up
    k, n, alpha = _check_counts(k, n, alpha)
    with np.errstate(invalid="ignore"):
        bound = stats.beta.isf(alpha, k + 1, n - k)
    return np.where(k == n, 1.0, bound)


def predict_test(count_top, count_second, alpha):
    r"""Cohen et al.'s PREDICT decision: True where the top class may be returned.

    Where the test does not reject, PREDICT abstains. Where both counts are zero there
    is nothing to test and the answer is False.

    Parameters
    ----------
    count_top, count_second : array_like of int
        Counts of the most and second most frequent class, ``count_top >= count_second
        >= 0``; they broadcast against each other.
    alpha : float
        Level in (0, 1).

    Returns
    -------
    ndarray of bool
        True where the test rejects, with the broadcast shape of the counts.

    Raises
    ------
    ValueError
        If a count is negative, not an integer or NaN, ``count_second > count_top``, or
        ``alpha`` is not in the open interval (0, 1).

    Notes
    -----
    The two-sided exact binomial test of :math:`H_0: p = 1/2` on
    :math:`n_A` = ``count_top`` successes out of :math:`n_A + n_B` trials
    (:math:`n_B` = ``count_second``) rejects at level :math:`\alpha` where its p-value
    is :math:`\le \alpha` [2]_ [3]_. The p-value is SciPy's ``binomtest(n_A, n_A + n_B,
    0.5).pvalue``, the sum of the probabilities of all outcomes no more likely than
    :math:`n_A`; for :math:`n_B = 0` it is :math:`2 \cdot 2^{-n_A}`. Cohen et al. show
    that PREDICT returns a class other than the smoothed classifier's with probability
    at most :math:`\alpha`, by the rank-verification result of Hung and Fithian [3]_.

    Examples
    --------
    >>> from idrs.certify.stats import predict_test
    >>> predict_test([10, 8], [0, 2], 0.01).tolist()  # p = 2 / 2**10, then 0.109
    [True, False]
    """
    top = check_array(count_top, "count_top", low=0, integer=True)
    second = check_array(count_second, "count_second", low=0, integer=True)
    alpha = float(check_array(alpha, "alpha", low=0, high=1, low_inclusive=False,
                              high_inclusive=False))
    top, second = np.broadcast_arrays(top, second)
    if np.any(second > top):
        raise ValueError("count_second exceeds count_top: pass the counts of the most "
                         "and the second most frequent class, in that order.")
    from scipy import stats  # here, not at the top: 1.5 s of every job's start-up
    # binomtest is scalar; the loop is over inputs, not Monte Carlo samples.
    pvalues = np.array([stats.binomtest(int(t), int(t + s), 0.5).pvalue if t + s > 0
                        else 1.0 for t, s in zip(top.ravel(), second.ravel())])
    return (pvalues <= alpha).reshape(top.shape)

"""Floating-point rounding bounds of the kNN mean distance (Higham's gamma_n): what
sigma(x) as computed may differ from sigma(x) of the exact distances."""

from __future__ import annotations

import numpy as np

__all__ = ["U64", "U32", "gamma", "distance_error_bound"]

#: Unit roundoff of float64 and float32.
U64, U32 = 2.0 ** -53, 2.0 ** -24


def gamma(n, u):
    r"""Higham's :math:`\gamma_n = nu/(1-nu)`: the relative error bound of n roundings.

    Parameters
    ----------
    n : int or array_like
        Number of roundings, with :math:`nu < 1`.
    u : float
        Unit roundoff, e.g. :data:`U64` or :data:`U32`.

    Returns
    -------
    float or ndarray
        :math:`\gamma_n`. Meaningless (negative or infinite) where :math:`nu \ge 1`;
        nothing is checked.

    Notes
    -----
    If :math:`|\delta_i| \le u` and :math:`\rho_i = \pm 1` for :math:`i = 1, \dots, n`
    and :math:`nu < 1`, then :math:`\prod_i (1+\delta_i)^{\rho_i} = 1 + \theta_n` with
    :math:`|\theta_n| \le \gamma_n` (N. J. Higham, *Accuracy and Stability of Numerical
    Algorithms*, 2nd ed., SIAM 2002, Lemma 3.1): n roundings, each a relative error of
    at most u, compound to a relative error of at most :math:`\gamma_n`.

    Examples
    --------
    >>> from idrs.certify.rounding import U64, gamma
    >>> gamma(3075, U64)  # CIFAR10's N + 3: one float64 distance
    3.4139...e-13
    """
    return n * u / (1.0 - n * u)


def distance_error_bound(mean_distance, dim, k):
    r"""Bound :math:`\epsilon` on the rounding error of a computed kNN mean distance.

    :math:`\epsilon \ge |\tilde d_k(x) - \bar d_k(x)|` for the mean distance
    :math:`\tilde d_k` returned by :func:`idrs.engine.knn.knn_mean_distance`, with
    :math:`\bar d_k` the mean distance of the exact arithmetic.

    Parameters
    ----------
    mean_distance : array_like
        The computed mean distance :math:`\tilde d` (broadcasts).
    dim : int
        Input dimension :math:`N` (of float32 inputs).
    k : int
        Number of neighbours averaged.

    Returns
    -------
    ndarray of float64
        :math:`\epsilon`, the shape of ``mean_distance``.

    Notes
    -----
    Inputs are float32 arrays, as the pipeline stores them, so their float64 copies are
    exact; :math:`u = 2^{-53}`, :math:`\gamma_n = nu/(1-nu)` (:func:`gamma`):

    * one distance :math:`\mathrm{fl}\big(\sqrt{\sum_i (x_i-y_i)^2}\big)`: the
      subtraction and the square are 3 roundings per term; a sum of :math:`N`
      non-negative terms in any order adds at most :math:`N-1` to each term; so the
      sum of squares has relative error :math:`\le\gamma_{N+2}`, and after the square
      root :math:`\le\gamma_{N+3}`;
    * the k smallest: each computed distance lies within relative :math:`\gamma_{N+3}`
      of its exact value, and order statistics are monotone, so the j-th smallest
      computed value lies within the same relative error of the j-th smallest exact
      one: near-ties that swap order cost nothing more;
    * the neighbour set is exact: :func:`idrs.engine.knn.knn_mean_distance` proves, per
      query, that every point outside its candidate list is at least as far as the k-th
      candidate (or falls back to the whole reference set);
    * the mean of the k smallest: :math:`k-1` additions and one division.

    Hence

    .. math:: |\tilde d - \bar d| \le \gamma_{N+k+3}\,\bar d \le
              \frac{\gamma_{N+k+3}}{1-\gamma_{N+k+3}}\,\tilde d,

    about :math:`3.4\cdot10^{-13}\,\tilde d` at CIFAR10's N = 3072. The right-hand
    side is what is returned.

    Examples
    --------
    >>> from idrs.certify.rounding import distance_error_bound
    >>> float(distance_error_bound(10.0, 3072, 20))
    3.436...e-12
    """
    g = gamma(int(dim) + int(k) + 3, U64)
    return np.asarray(mean_distance, dtype=np.float64) * (g / (1.0 - g))

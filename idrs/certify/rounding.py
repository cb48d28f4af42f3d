"""Floating-point rounding bounds of the kNN mean distance (Higham's gamma_n): what
sigma(x) as computed may differ from sigma(x) of the exact distances."""

from __future__ import annotations

import numpy as np

__all__ = ["U64", "U32", "gamma", "distance_error_bound"]

#: Unit roundoff of float64 and float32.
U64, U32 = 2.0 ** -53, 2.0 ** -24


def gamma(n, u):
    """Higham's gamma_n = n u / (1 - n u): the relative error bound of n roundings."""
    return n * u / (1.0 - n * u)


def distance_error_bound(mean_distance, dim, k):
    r"""Bound :math:`\epsilon` on :math:`|\tilde d_k(x) - \bar d_k(x)|` for the mean
    distance :math:`\tilde d_k` returned by :func:`idrs.engine.knn.knn_mean_distance`.

    Derivation (inputs are float32 arrays, as the pipeline stores them, so their
    float64 copies are exact; :math:`u = 2^{-53}`, :math:`\gamma_n = nu/(1-nu)`):

    * one distance :math:`\mathrm{fl}\big(\sqrt{\sum_i (x_i-y_i)^2}\big)`: the
      subtraction and the square are 3 roundings per term; a sum of :math:`N`
      non-negative terms in any order adds at most :math:`N-1` to each term; so the
      sum of squares has relative error :math:`\le\gamma_{N+2}`, and after the square
      root :math:`\le\gamma_{N+3}`;
    * the k smallest: each computed distance lies within relative :math:`\gamma_{N+3}`
      of its exact value, and order statistics are monotone, so the j-th smallest
      computed value lies within the same relative error of the j-th smallest exact
      one: near-ties that swap order cost nothing more;
    * the neighbour set is exact: :func:`idrs.engine.knn.knn_mean_distance` proves, per query, that
      every point outside its candidate list is at least as far as the k-th candidate
      (or falls back to the whole reference set);
    * the mean of the k smallest: :math:`k-1` additions and one division.

    Hence :math:`|\tilde d - \bar d| \le \gamma_{N+k+3}\,\bar d \le
    \gamma_{N+k+3}/(1-\gamma_{N+k+3})\,\tilde d`, about :math:`3.4\cdot10^{-13}\,\tilde
    d` at CIFAR10's N = 3072. Returned for ``mean_distance`` = :math:`\tilde d`
    (broadcasts).
    """
    g = gamma(int(dim) + int(k) + 3, U64)
    return np.asarray(mean_distance, dtype=np.float64) * (g / (1.0 - g))

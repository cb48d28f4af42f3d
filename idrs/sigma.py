r"""The input-dependent noise level of Equation 1 (Súkeník et al. 2022).

.. math:: \sigma(x) = \sigma_b \exp\big(r\,(\bar d_k(x) - m)\big),

with :math:`\bar d_k(x)` the mean distance to the k nearest training points
(:func:`idrs.knn.knn_mean_distance`). :math:`\bar d_k` is 1-Lipschitz, so
:math:`\log\sigma` is r-Lipschitz: :math:`\sigma` is r-semi-elastic (Theorem 4.1), which
is what :func:`idrs.radius.idrs_radius` needs. Capping at ``sigma_max`` (Appendix A.5
caps at :math:`5\sigma_b`) keeps the semi-elasticity, as a minimum of r-Lipschitz
functions in log space is r-Lipschitz.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_array

__all__ = ["sigma_from_distance"]


def sigma_from_distance(mean_distance, sigma_b, rate, m, sigma_max=None):
    """sigma(x) from stored mean kNN distances; broadcasts. ``rate = 0`` gives ``sigma_b``."""
    d = check_array(mean_distance, "mean_distance", low=0)
    sigma_b = check_array(sigma_b, "sigma_b", low=0, low_inclusive=False)
    rate = check_array(rate, "rate", low=0)
    sigma = sigma_b * np.exp(rate * (d - m))
    if sigma_max is not None:
        sigma = np.minimum(sigma, check_array(sigma_max, "sigma_max", low=0,
                                              low_inclusive=False))
    return sigma

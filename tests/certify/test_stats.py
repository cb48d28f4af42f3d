"""Binomial statistics against mpmath's regularized incomplete beta and closed forms."""

import mpmath as mp
import numpy as np
import pytest
from scipy import stats

from idrs.certify.stats import clopper_pearson_lower, clopper_pearson_upper, predict_test


@pytest.mark.parametrize("k,n,alpha", [(1, 10, 0.05), (57, 100, 0.001), (99990, 100000, 0.001),
                                       (500, 1000, 0.2), (3, 100000, 1e-6)])
def test_clopper_pearson_is_the_exact_binomial_tail_inversion(k, n, alpha):
    # Defining property: P(X >= k | p_lo) = alpha and P(X <= k | p_hi) = alpha, with the
    # binomial tails written as regularized incomplete beta functions in 40 digits.
    lo = float(clopper_pearson_lower(k, n, alpha))
    hi = float(clopper_pearson_upper(k, n, alpha))
    with mp.workdps(40):
        tail_lo = mp.betainc(k, n - k + 1, 0, lo, regularized=True)
        tail_hi = 1 - mp.betainc(k + 1, n - k, 0, hi, regularized=True)
    assert float(tail_lo) == pytest.approx(alpha, rel=1e-9)
    assert float(tail_hi) == pytest.approx(alpha, rel=1e-9)
    assert lo < k / n < hi


def test_clopper_pearson_edges_and_broadcasting():
    n, alpha = 100000, 0.001
    # all successes: the lower bound is alpha^(1/n) (Cohen's largest p_A, 0.99993...)
    assert clopper_pearson_lower(n, n, alpha) == pytest.approx(alpha ** (1 / n), rel=1e-14)
    assert clopper_pearson_lower(0, n, alpha) == 0.0
    assert clopper_pearson_upper(n, n, alpha) == 1.0
    assert clopper_pearson_upper(0, n, alpha) == pytest.approx(1 - alpha ** (1 / n), rel=1e-9)
    k = np.array([[0, 10, 100]])
    assert clopper_pearson_lower(k, 100, np.array([[0.01], [0.001]])).shape == (2, 3)
    # a smaller alpha (more confidence) gives a smaller lower bound
    assert clopper_pearson_lower(90, 100, 0.001) < clopper_pearson_lower(90, 100, 0.01)


@pytest.mark.parametrize("k,n,alpha,message", [(5, 4, 0.1, "exceed"), (1, 0, 0.1, "n =="),
                                               (1, 2, 1.0, "alpha =="), (1.5, 2, 0.1, "integer")])
def test_clopper_pearson_rejects_bad_input(k, n, alpha, message):
    with pytest.raises(ValueError, match=message):
        clopper_pearson_lower(k, n, alpha)


def test_predict_test_matches_the_two_sided_binomial_test():
    top = np.array([10, 8, 60, 0, 527])
    second = np.array([0, 2, 40, 0, 473])
    expected = [stats.binomtest(t, t + s, 0.5).pvalue <= 0.01 if t + s else False
                for t, s in zip(top, second)]
    assert predict_test(top, second, 0.01).tolist() == expected
    # 10 of 10: p = 2 / 2^10 = 0.00195 rejects at 0.01; 8 of 10 (p = 0.109) does not
    assert predict_test(10, 0, 0.01) and not predict_test(8, 2, 0.05)
    with pytest.raises(ValueError, match="count_second exceeds"):
        predict_test(2, 3, 0.01)

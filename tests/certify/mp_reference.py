"""Independent high-precision reference: the noncentral chi-squared as a Poisson mixture
of central chi-squared laws, summed in mpmath, and the paper's xi formulas on top.

    F_N(x; lam) = sum_j  e^{-lam/2} (lam/2)^j / j!  *  P(N/2 + j, x/2)

The sum starts at the Poisson mode and runs outward with exact recurrences
(P(a+1, y) = P(a, y) - y^a e^{-y} / Gamma(a+1)); 30 digits leave ample room for the
cancellation of the upward recurrence. Nothing here shares code with idrs.certify.radius.
"""

import mpmath as mp
from scipy import special

DPS = 30


def ncx2_cdf(x, k, lam):
    with mp.workdps(DPS):
        x, k, lam = mp.mpf(x), mp.mpf(k), mp.mpf(lam)
        if x <= 0:
            return mp.mpf(0)
        y, h = x / 2, lam / 2
        if lam == 0:
            return mp.gammainc(k / 2, 0, y, regularized=True)
        j0 = int(mp.floor(h))
        a0 = k / 2 + j0
        w0 = mp.exp(-h + j0 * mp.log(h) - mp.loggamma(j0 + 1)) if j0 > 0 else mp.exp(-h)
        # lower series below the mode, upper continued fraction above (both converge)
        p0 = (mp.gammainc(a0, 0, y, regularized=True) if y < a0
              else 1 - mp.gammainc(a0, y, mp.inf, regularized=True))
        d0 = mp.exp(a0 * mp.log(y) - y - mp.loggamma(a0 + 1))  # y^a e^-y / Gamma(a+1)
        eps = mp.mpf(10) ** (-DPS)
        total = w0 * p0
        w, p, d, a, j = w0, p0, d0, a0, j0
        while True:  # upward in j
            p -= d
            d *= y / (a + 1)
            a += 1
            w *= h / (j + 1)
            j += 1
            total += w * p
            if j > h and w < eps:
                break
        w, p, a, j = w0, p0, a0, j0
        d = d0 * a0 / y  # y^(a0-1) e^-y / Gamma(a0)
        while j > 0:  # downward in j
            p += d
            a -= 1
            d *= a / y
            j -= 1
            w *= (j + 1) / h
            total += w * p
            if w < eps:
                break
        return total


def ncx2_quantile(p, k, lam, upper=False):
    """x with F(x) = p (or 1 - F(x) = p when ``upper``), by the secant method started
    at SciPy's estimate (which only seeds the search)."""
    with mp.workdps(DPS):
        target = mp.mpf(p)
        level = 1 - float(p) if upper else float(p)
        guess = float(special.chndtrix(level, float(k), float(lam)))

        def f(x):
            value = ncx2_cdf(x, k, lam)
            return (1 - value) - target if upper else value - target

        return mp.findroot(f, (mp.mpf(guess), mp.mpf(guess) * (1 + mp.mpf("1e-7"))),
                           solver="secant", tol=mp.mpf(10) ** (-2 * DPS // 3))


def xi(alpha, kappa, dim, p_b):
    """The paper's xi_> (kappa < 1) or xi_< (kappa > 1) with sigma0 = 1, a = alpha,
    sigma1 = kappa, in the paper's raw form."""
    with mp.workdps(DPS):
        alpha, kappa = mp.mpf(alpha), mp.mpf(kappa)
        if kappa == 1:
            return mp.ncdf(mp.sqrt(2) * mp.erfinv(2 * mp.mpf(p_b) - 1) + alpha)
        diff2 = (1 - kappa ** 2) ** 2
        lam0, lam1 = alpha ** 2 / diff2, kappa ** 2 * alpha ** 2 / diff2
        if kappa < 1:
            q = ncx2_quantile(p_b, dim, lam0)
            return ncx2_cdf(q / kappa ** 2, dim, lam1)
        q = ncx2_quantile(p_b, dim, lam0, upper=True)  # level 1 - p_b = p_A
        return 1 - ncx2_cdf(q / kappa ** 2, dim, lam1)


def theorem32_statistic(alpha, rho, dim, p_a, p_b=None):
    """max over the two extreme sigma1 of the certification statistic at radius alpha
    (sigma0 = 1): xi(1 - p_A), or (xi(p_B) + xi(1 - p_A)) / 2 with a separate p_B."""
    with mp.workdps(DPS):
        alpha = mp.mpf(alpha)
        levels = [1 - mp.mpf(p_a)] if p_b is None else [mp.mpf(p_b), 1 - mp.mpf(p_a)]
        worst = mp.mpf(0)
        for kappa in (mp.exp(-rho * alpha), mp.exp(rho * alpha)):
            value = sum(xi(alpha, kappa, dim, float(p)) for p in levels) / len(levels)
            worst = max(worst, value)
        return worst

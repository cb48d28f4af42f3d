"""Vectorised bracketing root search for "the last point where a test still passes".

The certified radius is a supremum: the largest ``x`` with ``h(x) < 0`` for an
increasing ``h``. A root finder that returns its best estimate of the root may land on
the wrong side of it; this one keeps, for every element, a bracket ``[lo, hi]`` with
``h(lo) < 0`` *evaluated* (never assumed, except at the caller's ``lo``) and returns
``lo``, so the answer is always a point that passed the test.
"""

from __future__ import annotations

import numpy as np


def last_passing(h, lo, hi, h_lo, h_hi, *, rtol=1e-7, maxiter=200):
    r"""Largest ``x`` in ``[lo, hi]`` with ``h(x) < 0``, to ``rtol`` relative, per element.

    Regula falsi with the Illinois modification (superlinear, and fast here because the
    functions searched are close to linear), falling back to bisection whenever a step
    fails to halve the bracket or an end value is not finite.

    Parameters
    ----------
    h : callable
        ``h(x, index) -> ndarray``: the test statistic at points ``x`` for the elements
        ``index`` (an integer array into the inputs). Increasing in ``x``; NaN or
        failure counts as "does not pass" (it is replaced by ``+inf``).
    lo, hi : ndarray
        Bracket ends; ``h(lo) < 0`` is the caller's responsibility.
    h_lo, h_hi : ndarray
        ``h`` at the ends; ``h_hi`` may be ``+inf`` when unknown.
    rtol : float
        Stop once ``hi - lo <= rtol * hi``, or once the bracket is below ``1e-12`` of
        its initial width (a root at ``lo`` itself, e.g. where nothing passes).
    maxiter : int
        Most steps per element before giving up.

    Returns
    -------
    ndarray
        ``lo`` at termination.

    Raises
    ------
    RuntimeError
        If a bracket has not converged after ``maxiter`` steps (which bisection alone
        would reach in about 60 steps, so this signals a broken ``h``).

    Notes
    -----
    Each step tries, inside the bracket :math:`[a, b]` with values :math:`f_a < 0 \le
    f_b`, the secant point

    .. math:: x = b - f_b\,\frac{b - a}{f_b - f_a},

    or the midpoint :math:`(a+b)/2` where :math:`x` is not finite or not strictly inside
    :math:`(a, b)`, or where the previous step left more than half the bracket. Where
    :math:`h(x) < 0` (evaluated, NaN counting as failure) :math:`x` becomes the new
    :math:`a`, otherwise the new :math:`b`. Illinois: when the same end survives two
    steps in a row, its stored value is halved, which pulls the next secant point across
    the root and restores superlinear convergence.

    Examples
    --------
    >>> import numpy as np
    >>> from idrs.certify._bracket import last_passing
    >>> h = lambda x, i: x ** 2 - 2.0  # passes on [0, sqrt(2))
    >>> x = last_passing(h, np.zeros(1), np.full(1, 2.0), np.full(1, -2.0), np.full(1, 2.0))
    >>> bool(x[0] ** 2 < 2.0), round(float(x[0]), 5)
    (True, 1.41421)
    """
    lo, hi = np.array(lo, dtype=float), np.array(hi, dtype=float)
    h_lo = np.array(h_lo, dtype=float)
    h_hi = np.where(np.isnan(h_hi), np.inf, np.array(h_hi, dtype=float))
    floor = 1e-12 * (hi - lo)
    stale = np.zeros(lo.shape, dtype=np.int8)  # +1 when hi moved last, -1 when lo did
    bisect = np.zeros(lo.shape, dtype=bool)
    for _ in range(maxiter):
        idx = np.flatnonzero(hi - lo > np.maximum(rtol * hi, floor))
        if idx.size == 0:
            return lo
        a, b, fa, fb = lo[idx], hi[idx], h_lo[idx], h_hi[idx]
        width = b - a
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            x = b - fb * width / (fb - fa)
        use_mid = bisect[idx] | ~np.isfinite(x) | (x <= a) | (x >= b)
        x = np.where(use_mid, a + 0.5 * width, x)
        fx = np.asarray(h(x, idx), dtype=float)
        fx = np.where(np.isnan(fx), np.inf, fx)
        passed = fx < 0
        # Illinois: an end that survives twice in a row has its value halved, which
        # pulls the next secant point across the root.
        st = stale[idx]
        h_hi[idx] = np.where(passed & (st == -1), fb * 0.5, h_hi[idx])
        h_lo[idx] = np.where(~passed & (st == 1), fa * 0.5, h_lo[idx])
        lo[idx] = np.where(passed, x, a)
        h_lo[idx] = np.where(passed, fx, h_lo[idx])
        hi[idx] = np.where(passed, b, x)
        h_hi[idx] = np.where(passed, h_hi[idx], fx)
        stale[idx] = np.where(passed, -1, 1)
        bisect[idx] = (hi[idx] - lo[idx]) > 0.5 * width
    raise RuntimeError("certified-radius search did not converge: the test statistic is "
                       "not monotone in the radius or evaluates inconsistently.")

"""Argument checks shared by the public entry points.

Invalid arguments raise ``ValueError`` with the name, the offending value and the
allowed range, in the style of scikit-learn's ``check_scalar``; nothing is turned
silently into NaN, because a NaN that reaches a certificate is a latent bug.
"""

from __future__ import annotations

import numpy as np


def _first_bad(values: np.ndarray, bad: np.ndarray):
    return values[bad].flat[0].item()


def check_array(x, name: str, *, low=None, high=None, low_inclusive=True,
                high_inclusive=True, integer=False) -> np.ndarray:
    """Return ``x`` as a float (or int64) array after checking its range elementwise.

    Raises
    ------
    ValueError
        If any element is NaN, not an integer where one is required, or outside the
        interval; the message quotes the first offending element.
    """
    arr = np.asarray(x, dtype=np.float64)
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN; every element must be a number.")
    if integer:
        bad = arr != np.floor(arr)
        if bad.any():
            raise ValueError(f"{name} == {_first_bad(arr, bad)!r}, must be an integer.")
    bad = np.zeros(arr.shape, dtype=bool)
    if low is not None:
        bad |= arr < low if low_inclusive else arr <= low
    if high is not None:
        bad |= arr > high if high_inclusive else arr >= high
    if bad.any():
        lo = "-inf" if low is None else repr(low)
        hi = "inf" if high is None else repr(high)
        interval = ("[" if low_inclusive and low is not None else "(") + f"{lo}, {hi}" + (
            "]" if high_inclusive and high is not None else ")")
        raise ValueError(f"{name} == {_first_bad(arr, bad)!r}, must be in {interval}.")
    return arr.astype(np.int64) if integer else arr


def check_option(value, name: str, choices) -> None:
    """Raise if ``value`` is not one of ``choices``, listing them."""
    if value not in choices:
        raise ValueError(f"{name} == {value!r}, must be one of {sorted(choices)!r}.")

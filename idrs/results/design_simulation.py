"""Simulated two-method experiments over training seeds × test images, truth known.

Used to calibrate the tests of :mod:`idrs.results.comparison`
(``tests/results/test_calibration.py``,
``benchmarks/stats_calibration.py``). Whether an image is classified correctly is
Bernoulli(sigmoid(logit)) with

    logit[m, s, i] = mu + difficulty[i] + quality[m, s] + quirk[m, i] + effect * (m == a)

* ``difficulty``: each image's own difficulty, shared by every network (SD 1.5);
* ``quality``: each trained network's overall quality (SD ``tau``, the run-level
  variance that makes pooled McNemar anti-conservative);
* ``quirk``: a method × image interaction (SD ``interaction``), redrawn with the test
  images: zero on average over the image population, not on one test subset;
* ``effect``: the true advantage of method a on the logit scale (0 under the null).

With ``mu = 2`` the accuracy is about 0.8, as on CIFAR10.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["simulate_pair", "per_seed"]


def simulate_pair(rng, *, seeds=3, images=500, tau=0.2, effect=0.0, interaction=0.0,
                  mu=2.0, difficulty_sd=1.5):
    """(records of method a, records of method b): columns ``train_seed``, ``idx``,
    ``correct``, ``label``; one row per seed and image."""
    difficulty = mu + difficulty_sd * rng.standard_normal(images)
    tables = []
    for shift in (effect, 0.0):
        quality = tau * rng.standard_normal((seeds, 1))
        quirk = interaction * rng.standard_normal(images)
        logit = difficulty[None, :] + quality + quirk[None, :] + shift
        correct = rng.random((seeds, images)) < 1 / (1 + np.exp(-logit))
        tables.append(pd.DataFrame({
            "train_seed": np.repeat(np.arange(seeds), images),
            "idx": np.tile(np.arange(images), seeds),
            "label": np.tile(np.arange(images) % 10, seeds),
            "predict": 0, "correct": correct.ravel()}))
    return tables[0], tables[1]


def per_seed(records: pd.DataFrame, metric="correct") -> pd.DataFrame:
    """One row per seed: the mean of ``metric`` (a per-seed table for run-level tests)."""
    return records.groupby("train_seed", as_index=False)[metric].mean()

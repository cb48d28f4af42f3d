"""The dataset type every loader returns: a labelled train/test split as arrays, with
its fingerprint."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ArrayDataset", "DatasetUnavailableError", "fingerprint"]


class DatasetUnavailableError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable; the message says what to place where."""


@dataclass(frozen=True)
class ArrayDataset:
    """A labelled train/test split. ``x_*`` are float32 arrays of shape ``(n, *shape)``
    with values in [0, 1] (toy sets: real coordinates); ``y_*`` are int64 labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    mean: tuple = field(default=(0.0,))   # per channel, for the model's first layer
    std: tuple = field(default=(1.0,))
    augmentation: str | None = None       # "crop_flip" for CIFAR10; None otherwise

    @property
    def shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])

    @property
    def dim(self) -> int:
        return int(np.prod(self.shape))


def fingerprint(x: np.ndarray) -> str:
    """SHA-256 (first 16 hex digits) of an array's shape, dtype and bytes: identifies the
    exact data that kNN distances were computed from (a lazily read image folder
    fingerprints its files instead, see :mod:`idrs.engine.imagenet`)."""
    if hasattr(x, "fingerprint"):
        return x.fingerprint()
    h = hashlib.sha256()
    h.update(repr((x.shape, str(x.dtype))).encode())
    h.update(np.ascontiguousarray(x).tobytes())
    return h.hexdigest()[:16]

"""Your own architectures and datasets, named by a dotted path ``package.module:factory``.

* An architecture factory is called as ``factory(in_shape, num_classes)`` and returns an
  ``nn.Module`` that takes pixels in [0, 1] (the project puts its NormalizeLayer, with
  the dataset's mean and std, before it: identity for your own data).
* A dataset factory is called with no arguments (or the dataset's ``options``) and
  returns either ``(x_train, y_train, x_test, y_test)`` arrays, or ``(train, test)``
  torchvision-style datasets whose items are ``(image tensor, label)``.

The module must be importable where the jobs run (installed, or on ``PYTHONPATH``).
"""

from __future__ import annotations

import importlib

import numpy as np

__all__ = ["is_dotted", "resolve", "dataset_from_factory"]


def is_dotted(name) -> bool:
    """``package.module:factory``, as opposed to a built-in name."""
    return isinstance(name, str) and ":" in name


def resolve(path: str, what: str):
    """The callable at ``package.module:factory``; an error naming the path and the reason
    when it cannot be imported."""
    module, sep, attr = path.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"{what} {path!r} is not package.module:factory.")
    try:
        target = importlib.import_module(module)
    except Exception as err:  # ImportError, or the module's own failure on import
        raise ValueError(f"{what} {path!r}: cannot import {module!r} ({type(err).__name__}: "
                         f"{err}); install it or put its folder on PYTHONPATH.") from None
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ValueError(f"{what} {path!r}: {module!r} has no {attr!r}.")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"{what} {path!r} is not callable.")
    return target


def _arrays(split):
    """(x float32, y int64) of a torchvision-style dataset: items (image, label)."""
    xs, ys = zip(*(split[i] for i in range(len(split))))
    x = np.stack([np.asarray(getattr(v, "numpy", lambda v=v: v)(), dtype=np.float32)
                  for v in xs])
    return x, np.asarray(ys, dtype=np.int64)


def dataset_from_factory(path: str, **options):
    """``(x_train, y_train, x_test, y_test)`` of the dataset factory at ``path``."""
    out = resolve(path, "dataset")(**options)
    if isinstance(out, tuple) and len(out) == 2:
        (x_train, y_train), (x_test, y_test) = _arrays(out[0]), _arrays(out[1])
    elif isinstance(out, tuple) and len(out) == 4:
        x_train, y_train, x_test, y_test = out
    else:
        raise ValueError(f"dataset {path!r} returned {type(out).__name__}; it must return "
                         "(x_train, y_train, x_test, y_test) or (train, test) datasets.")
    x_train, x_test = (np.ascontiguousarray(a, dtype=np.float32) for a in (x_train, x_test))
    y_train, y_test = (np.asarray(a, dtype=np.int64) for a in (y_train, y_test))
    if x_train.shape[1:] != x_test.shape[1:] or len(x_train) != len(y_train) \
            or len(x_test) != len(y_test):
        raise ValueError(f"dataset {path!r}: train and test arrays do not match "
                         f"(x {x_train.shape} / {x_test.shape}, y {y_train.shape} / "
                         f"{y_test.shape}).")
    return x_train, y_train, x_test, y_test

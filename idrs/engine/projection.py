r"""Gaussian noise drawn in the k dimensions a network's linear first layer keeps.

A base classifier that starts with a linear map, ``f(x) = h(W x + b)`` with
:math:`W \in \mathbb R^{k \times N}` and :math:`k < N` (the Appendix A MLP: k = 20 on
toy data of up to N = 400 dimensions), sees its noisy input only through

.. math:: W(x + \sigma\varepsilon) + b = (W x + b) + \sigma\, W\varepsilon,
          \qquad W\varepsilon \sim \mathcal N(0,\, W W^\top).

With :math:`W^\top = Q R` (thin QR, :math:`Q^\top Q = I_k`), :math:`W\varepsilon =
R^\top (Q^\top\varepsilon)` and :math:`Q^\top\varepsilon \sim \mathcal N(0, I_k)`. So
``h(W x + b + sigma R^T z)`` with :math:`z \sim \mathcal N(0, I_k)` has exactly the
distribution of :math:`f(x + \sigma\varepsilon)`: the class counts, and with them the
Clopper-Pearson bound and the certificate, are those of the same smoothed classifier,
for k Gaussian draws and a k-by-k product per sample instead of N draws and an
N-by-k product. The radius still uses the input's dimension N (the sigma(x) theory is
about the input space). What changes is rounding only: ``W x + b`` is formed in float64
and rounded once; ``R^T z`` is a float32 product on the CPU and a float64 one on CUDA
(where TF32 may be allowed), rounded once, as folding BatchNorm changes the rounding of a
convolution (:func:`idrs.engine.models.inference_model`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from .models import NormalizeLayer

__all__ = ["LinearEntry", "linear_entry"]


class LinearEntry(NamedTuple):
    """A base classifier split as ``rest(weight @ x.flatten() + bias)``."""

    weight: torch.Tensor  #: (k, N) float64, on the flattened raw input
    bias: torch.Tensor  #: (k,) float64
    #: (k, k) R^T: factor @ factor.T = weight @ weight.T; float64 on CUDA (where TF32 may
    #: be allowed: 10-bit products), float32 elsewhere: the dtype :meth:`noise` multiplies in
    factor: torch.Tensor
    rest: nn.Module  #: the network after the linear layer

    @property
    def noise_dim(self) -> int:
        """Gaussian draws per noise sample: k."""
        return int(self.factor.shape[0])

    def inputs(self, x):
        """The linear layer's clean outputs ``W x + b`` of inputs ``x`` (m, ...), float32."""
        return (x.flatten(1).double() @ self.weight.T + self.bias).float()

    def noise(self, z):
        """Samples of :math:`W\\varepsilon` from standard normal ``z`` of shape (s, k)."""
        return (z.to(self.factor.dtype) @ self.factor.T).float()


def _in_order(module):
    """The modules a (nested) plain ``nn.Sequential`` runs, in order."""
    if type(module) is nn.Sequential:
        for child in module:
            yield from _in_order(child)
    else:
        yield module


def linear_entry(model, in_shape):
    """``model`` split at a linear first layer with fewer outputs than inputs, or None.

    Parameters
    ----------
    model : torch.nn.Module
        The base classifier, in eval mode.
    in_shape : tuple of int
        Shape of one input.

    Returns
    -------
    LinearEntry or None
        The split where ``model`` is a plain ``nn.Sequential`` (nesting allowed) that
        runs an optional :class:`~idrs.engine.models.NormalizeLayer`, then
        ``nn.Flatten()`` (optional for vector inputs), then ``nn.Linear`` with fewer
        outputs than the input has elements; None for any other network (a compiled or
        traced one included), which then draws noise in the input space.

    Examples
    --------
    >>> from idrs.engine.models import build_model
    >>> from idrs.engine.projection import linear_entry
    >>> tuple(linear_entry(build_model("mlp", (400,), 2).eval(), (400,)).factor.shape)
    (20, 20)
    >>> linear_entry(build_model("mlp", (6,), 2).eval(), (6,)) is None  # 20 >= 6: no gain
    True
    """
    in_shape = tuple(int(s) for s in in_shape)
    dim = math.prod(in_shape)
    modules = list(_in_order(model))
    first = 0
    mean = torch.zeros((1, *in_shape), dtype=torch.float64)
    std = torch.ones_like(mean)
    if modules and isinstance(modules[0], NormalizeLayer):
        mean = modules[0].mean.double().cpu().expand(1, *in_shape)
        std = modules[0].std.double().cpu().expand(1, *in_shape)
        first = 1
    flattens = (first < len(modules) and isinstance(modules[first], nn.Flatten)
                and modules[first].start_dim == 1 and modules[first].end_dim == -1)
    if flattens:
        first += 1
    elif len(in_shape) != 1:  # without Flatten a Linear mixes the last axis only
        return None
    if first >= len(modules) or type(modules[first]) is not nn.Linear:
        return None
    linear = modules[first]
    if linear.in_features != dim or linear.out_features >= dim:
        return None
    device = linear.weight.device
    weight = linear.weight.detach().double().cpu() / std.reshape(1, -1)
    bias = (linear.bias.detach().double().cpu() if linear.bias is not None
            else torch.zeros(linear.out_features, dtype=torch.float64))
    bias = bias - weight @ mean.reshape(-1)
    factor = torch.linalg.qr(weight.T).R.T
    factor = factor.to(device, torch.float64 if device.type == "cuda" else torch.float32)
    return LinearEntry(weight.to(device), bias.to(device), factor,
                       nn.Sequential(*modules[first + 1:]))

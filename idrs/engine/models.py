"""Base classifiers by name. Every model starts with a :class:`NormalizeLayer`, so it
takes inputs in [0, 1] pixel units and noise is added before normalisation (Cohen et al.).

* ``cifar_resnet110``, ``cifar_resnet20``: the CIFAR ResNets of Cohen et al.'s code
  (bearpaw's BasicBlock ResNet, depth 6n + 2, widths 16/32/64, He initialisation).
* ``cnn``: a small CNN for MNIST-like and digits inputs (see :class:`SmallCNN`).
* ``mlp``: the Appendix A fully connected 3-layer ReLU network of width 20, for toy sets.
* ``resnet50``: torchvision's ResNet-50 (Cohen et al.'s ImageNet model).
"""

from __future__ import annotations

import copy
import logging
import math

import torch
from torch import nn

from .plugins import is_dotted, resolve
from .train_config import compile_mode

__all__ = ["NormalizeLayer", "StencilConv2d", "build_model", "inference_model", "replace_modules",
           "engine_settings", "engine_options", "bf16_autocast", "ARCHITECTURES"]


log = logging.getLogger(__name__)


class NormalizeLayer(nn.Module):
    """(x - mean) / std per channel, as the first layer (buffers move with the model)."""

    def __init__(self, mean, std, ndim):
        super().__init__()
        shape = (1, -1) + (1,) * (ndim - 1)  # channels first; toy vectors: one "channel"
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(shape))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(shape))

    def forward(self, x):
        return (x - self.mean) / self.std


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class CifarResNet(nn.Module):
    """bearpaw's CIFAR ResNet as used by Cohen et al. (``depth`` = 6n + 2)."""

    def __init__(self, depth, num_classes=10):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"depth == {depth}, must be 6n + 2 (20, 32, 44, 56, 110).")
        n = (depth - 2) // 6
        self.inplanes = 16
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(16, n)
        self.layer2 = self._make_layer(32, n, stride=2)
        self.layer3 = self._make_layer(64, n, stride=2)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        # global average pool as a mean: AdaptiveAvgPool2d's CUDA backward has no
        # deterministic kernel, which deterministic training needs
        return self.fc(x.mean((2, 3)))


class SmallCNN(nn.Module):
    """Two 3x3 conv + ReLU + 2x2 max-pool stages (32, 64 channels), a 128-unit hidden
    layer and dropout 0.25: the classic Keras/PyTorch MNIST example network, which reaches
    about 99.2% on MNIST, close to the paper's 99.1%. Pooling stages adapt to 8x8 digits."""

    def __init__(self, in_shape, num_classes):
        super().__init__()
        c, h, w = in_shape
        self.features = nn.Sequential(
            nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * (h // 4) * (w // 4), 128), nn.ReLU(),
            nn.Dropout(0.25), nn.Linear(128, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def _mlp(in_shape, num_classes, width=20):
    d = math.prod(in_shape)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, width), nn.ReLU(), nn.Linear(width, width),
                         nn.ReLU(), nn.Linear(width, num_classes))


ARCHITECTURES = ("cifar_resnet110", "cifar_resnet20", "cnn", "mlp", "resnet50")


def build_model(arch, in_shape, num_classes, mean=(0.0,), std=(1.0,)) -> nn.Module:
    """``NormalizeLayer`` followed by the named network, for inputs of ``in_shape``."""
    in_shape = tuple(in_shape)
    if arch in ("cifar_resnet110", "cifar_resnet20"):
        if len(in_shape) != 3 or in_shape[0] != 3:
            raise ValueError(f"{arch} needs 3-channel images, got input shape {in_shape}.")
        net = CifarResNet(int(arch.removeprefix("cifar_resnet")), num_classes)
    elif arch == "cnn":
        if len(in_shape) != 3:
            raise ValueError(f"cnn needs (channels, height, width) inputs, got {in_shape}.")
        net = SmallCNN(in_shape, num_classes)
    elif arch == "mlp":
        net = _mlp(in_shape, num_classes)
    elif is_dotted(arch):  # your own architecture (idrs.engine.plugins)
        net = resolve(arch, "architecture")(in_shape, num_classes)
    elif arch == "resnet50":
        if len(in_shape) != 3 or in_shape[0] != 3:
            raise ValueError(f"resnet50 needs 3-channel images, got input shape {in_shape}.")
        from torchvision.models import resnet50
        net = resnet50(weights=None, num_classes=num_classes)
    else:
        raise ValueError(f"arch == {arch!r}, must be one of {list(ARCHITECTURES)} or "
                         "package.module:factory.")
    return nn.Sequential(NormalizeLayer(mean, std, len(in_shape)), net)


#: The most input taps (channels x kernel area) :class:`StencilConv2d` takes: a first
#: layer of one channel (MNIST, 9 taps) or three (CIFAR10, ImageNet's 3 x 3: 27).
STENCIL_MAX_TAPS = 27


class StencilConv2d(nn.Module):
    """A convolution of an image (at most 3 channels) with few input taps (channels x
    kernel area, at most :data:`STENCIL_MAX_TAPS`) as a sum of shifted input slices, each
    scaled per output channel.

    The same function as the convolution, rounded differently (float32 products summed
    tap by tap; under autocast the result is cast to its dtype, as the convolution's
    output is). A GEMM-based convolution of one input channel has K = 9 and wastes its
    tiles, and it writes its whole output before the ReLU and pooling read it back;
    this form is pointwise, so ``torch.compile`` can fuse it with the bias, ReLU and
    pooling after it into one kernel. The H200 profile spent 53% of the MNIST CNN's GPU
    time in its first convolution (1 to 32 channels). Eager, it is slower than the
    convolution: it is meant to be compiled.
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.weight, self.bias = conv.weight, conv.bias
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        self.train(conv.training)

    @staticmethod
    def applies_to(module) -> bool:
        return (type(module) is nn.Conv2d and module.groups == 1
                and module.padding_mode == "zeros" and not isinstance(module.padding, str)
                and module.in_channels <= 3  # reads the image, not features
                and module.in_channels * math.prod(module.kernel_size) <= STENCIL_MAX_TAPS)

    def forward(self, x):
        (ph, pw), (sh, sw), (dh, dw) = self.padding, self.stride, self.dilation
        x = nn.functional.pad(x, (pw, pw, ph, ph)) if ph or pw else x
        c_out, c_in, kh, kw = self.weight.shape
        rows = (x.shape[-2] - dh * (kh - 1) - 1) // sh + 1
        cols = (x.shape[-1] - dw * (kw - 1) - 1) // sw + 1
        out = None
        for c in range(c_in):
            for i in range(kh):
                for j in range(kw):
                    tap = x[:, c:c + 1, i * dh:i * dh + (rows - 1) * sh + 1:sh,
                            j * dw:j * dw + (cols - 1) * sw + 1:sw]
                    term = tap * self.weight[:, c, i, j].view(1, c_out, 1, 1)
                    out = term if out is None else out + term
        out = out if self.bias is None else out + self.bias.view(1, c_out, 1, 1)
        kind = x.device.type
        # products in float32, one rounding to the dtype the convolution would return
        return out.to(torch.get_autocast_dtype(kind)) if torch.is_autocast_enabled(kind) \
            else out


def inference_model(model: nn.Module, *, fold_batchnorm=True, compile_mode=None,
                    stencil=False) -> nn.Module:
    """``model`` (in eval mode) as certification runs it; the argument is left as it is.

    ``fold_batchnorm``: each BatchNorm is folded into the convolution before it
    (``torch.fx``): the same function in exact arithmetic, one memory pass less per
    layer. A model that ``torch.fx`` cannot trace is kept unfolded. ``stencil``: each
    convolution of the image with few taps becomes a :class:`StencilConv2d`, for the
    compiler to fuse. ``compile_mode`` (a ``torch.compile`` mode, or None): fuses the remaining
    elementwise layers, and in the max-autotune modes picks each convolution's fastest
    kernel (a one-off compilation per batch shape, about a minute for ResNet-110). Each
    changes the base classifier's rounding, not what it computes; the certificate is for
    the classifier as evaluated, whichever it is.
    """
    model, copied = model.eval(), False
    if fold_batchnorm and any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
        from torch.fx.experimental.optimization import fuse
        try:
            model, copied = fuse(model), True
        except Exception as err:  # data-dependent control flow and the like
            log.warning("BatchNorm not folded: torch.fx cannot trace the model (%s)", err)
    if stencil and any(StencilConv2d.applies_to(m) for m in model.modules()):
        model = model if copied else copy.deepcopy(model)  # the modules are replaced
        replace_modules(model, StencilConv2d.applies_to, StencilConv2d)
    return model if compile_mode is None else torch.compile(model, mode=compile_mode)


def replace_modules(model: nn.Module, applies, replacement) -> nn.Module:
    """``model`` with every submodule ``m`` for which ``applies(m)`` replaced, in place, by
    ``replacement(m)``."""
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if applies(child):
                setattr(parent, name, replacement(child))
    return model


def bf16_autocast(requested, device, what: str) -> bool:
    """Whether bfloat16 autocast runs: on CUDA only, where asked. On a CPU it is slower
    than float32, so a request falls back to float32 with a warning naming ``what``."""
    cuda = torch.device(device).type == "cuda"
    if requested and not cuda:
        log.warning("%s ignored: bfloat16 autocast runs on CUDA only; using fp32", what)
    return bool(requested) and cuda


def engine_settings(model, device, amp=None, compile=None):
    """The base classifier as certification runs it, with the settings that made it.

    Parameters
    ----------
    model : torch.nn.Module
        The base classifier in eval mode, on ``device``.
    device : str or torch.device
    amp : bool or None
        bfloat16 autocast; None: on CUDA only.
    compile : str or None
        One of :data:`~idrs.engine.train_config.COMPILE_MODES`' names; None:
        ``"max-autotune"`` on CUDA, ``"none"`` on a CPU.

    Returns
    -------
    (torch.nn.Module, bool, str)
        The model as :func:`inference_model` makes it (BatchNorm folded, compiled as
        asked), whether autocast runs, and the compile mode's name.

    Notes
    -----
    The defaults are the fastest path ``benchmarks/gpu_check.sh`` measured: on an H200,
    0.436 s per CIFAR10 image at n = 100,000 with bf16 and max-autotune against 0.85 s
    compiled in the default mode and 2.4 s in fp32
    (``benchmarks/results/gpu_check_h200_2026-11-28_profile.md``).
    """
    amp, compile = engine_options(device, amp, compile)
    mode = compile_mode(compile, torch.device(device).type)
    return inference_model(model, compile_mode=mode), amp, compile


def engine_options(device, amp=None, compile=None) -> tuple[bool, str]:
    """Whether autocast runs and the compile mode's name, as :func:`engine_settings`
    resolves ``amp`` and ``compile`` on ``device``."""
    kind = torch.device(device).type
    amp = kind == "cuda" if amp is None else bf16_autocast(amp, device, "amp")
    return amp, ("max-autotune" if kind == "cuda" else "none") if compile is None else compile

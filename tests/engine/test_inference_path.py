"""The base classifier as certification runs it: full forward passes, BatchNorm folded,
the device's default precision and compilation recorded in every record."""

import numpy as np
import pytest
import torch

from idrs.engine.models import StencilConv2d, build_model, engine_settings, inference_model
from idrs.engine.smoothing import ESTIMATION, sample_counts


def test_every_forward_pass_is_full_but_the_last():
    torch.manual_seed(0)
    model = build_model("cnn", (1, 8, 8), 10).eval()
    sizes = []
    model.register_forward_pre_hook(lambda _, args: sizes.append(len(args[0])))
    x = torch.rand((5, 1, 8, 8))
    # 5 inputs x 700 samples in chunks of 700 against batches of 1000
    sample_counts(model, x, np.full(5, 0.5), np.arange(5), 700, seed=0, stage=ESTIMATION,
                  num_classes=10, batch_size=1000)
    assert sizes == [1000, 1000, 1000, 500]


def test_folding_batchnorm_keeps_the_function():
    torch.manual_seed(1)
    model = build_model("cifar_resnet20", (3, 32, 32), 10, (0.5,) * 3, (0.25,) * 3)
    model.train()
    with torch.no_grad():  # non-trivial running statistics
        for _ in range(3):
            model(torch.rand(64, 3, 32, 32))
    model.eval()
    folded = inference_model(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # untouched
    x = torch.rand(16, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("c_in,kernel,stride,padding,dilation,bias", [
    (1, 3, 1, 1, 1, True), (3, 3, 1, 1, 1, False), (1, 5, 2, 2, 1, True),
    (2, (3, 1), (1, 2), (0, 1), (2, 1), True)])
def test_a_stencil_convolution_is_the_convolution(c_in, kernel, stride, padding, dilation, bias):
    """Shifted slices scaled per output channel, summed tap by tap: the convolution up to
    float32 rounding, for strides, paddings, dilations and non-square kernels."""
    torch.manual_seed(2)
    conv = torch.nn.Conv2d(c_in, 8, kernel, stride, padding, dilation, bias=bias)
    x = torch.randn(4, c_in, 13, 11)
    with torch.no_grad():
        torch.testing.assert_close(StencilConv2d(conv)(x), conv(x), rtol=1e-5, atol=1e-5)


def test_a_stencil_convolution_returns_the_autocast_dtype():
    """Under autocast the convolution returns bfloat16; so does the stencil, rounded once
    from its float32 sum."""
    torch.manual_seed(2)
    conv, x = torch.nn.Conv2d(1, 8, 3, padding=1), torch.randn(4, 1, 9, 9)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        ours, theirs = StencilConv2d(conv)(x), conv(x)
    assert ours.dtype == theirs.dtype == torch.bfloat16
    torch.testing.assert_close(ours.float(), theirs.float(), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("arch,shape", [("cnn", (1, 28, 28)), ("cifar_resnet20", (3, 32, 32))])
def test_stencil_replaces_the_few_tap_first_convolution_only(arch, shape):
    torch.manual_seed(3)
    model = build_model(arch, shape, 10, (0.5,) * shape[0], (0.25,) * shape[0]).eval()
    net = inference_model(model, stencil=True)
    stencils = [m for m in net.modules() if isinstance(m, StencilConv2d)]
    assert len(stencils) == 1 and not stencils[0].training
    assert not any(isinstance(m, StencilConv2d) for m in model.modules())  # untouched
    x = torch.rand(8, *shape)
    with torch.no_grad():
        torch.testing.assert_close(net(x), model(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("conv", [
    torch.nn.Conv2d(3, 8, 7),                          # 147 taps
    torch.nn.Conv2d(16, 8, 1),                         # features, not the image
    torch.nn.Conv2d(2, 8, 3, groups=2),
    torch.nn.Conv2d(1, 8, 3, padding=1, padding_mode="reflect"),
    torch.nn.Conv2d(1, 8, 3, padding="same")])
def test_stencil_leaves_other_convolutions_alone(conv):
    net = inference_model(torch.nn.Sequential(conv).eval(), stencil=True)
    assert not any(isinstance(m, StencilConv2d) for m in net.modules())


def test_cpu_defaults_are_fp32_uncompiled():
    model = build_model("mlp", (2,), 2)
    net, amp, compile = engine_settings(model, "cpu")
    assert (amp, compile) == (False, "none")
    assert engine_settings(model, "cpu", amp=True)[1] is False  # autocast is CUDA-only
    assert isinstance(net, torch.nn.Module) and not hasattr(net, "_orig_mod")

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


@pytest.mark.parametrize("arch,shape,replaced", [("cnn", (1, 28, 28), 1),
                                                 ("cifar_resnet20", (3, 32, 32), 1)])
def test_stencil_replaces_the_few_tap_first_convolution_only(arch, shape, replaced):
    torch.manual_seed(3)
    model = build_model(arch, shape, 10, (0.5,) * shape[0], (0.25,) * shape[0]).eval()
    net = inference_model(model, stencil=True)
    assert sum(isinstance(m, StencilConv2d) for m in net.modules()) == replaced
    assert not any(isinstance(m, StencilConv2d) for m in model.modules())  # untouched
    x = torch.rand(8, *shape)
    with torch.no_grad():
        torch.testing.assert_close(net(x), model(x), rtol=1e-4, atol=1e-4)


def test_cpu_defaults_are_fp32_uncompiled():
    model = build_model("mlp", (2,), 2)
    net, amp, compile = engine_settings(model, "cpu")
    assert (amp, compile) == (False, "none")
    assert engine_settings(model, "cpu", amp=True)[1] is False  # autocast is CUDA-only
    assert isinstance(net, torch.nn.Module) and not hasattr(net, "_orig_mod")

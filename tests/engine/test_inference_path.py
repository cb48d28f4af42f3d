"""The base classifier as certification runs it: full forward passes, BatchNorm folded,
the device's default precision and compilation recorded in every record."""

import numpy as np
import torch

from idrs.engine.models import build_model, engine_settings, inference_model
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


def test_cpu_defaults_are_fp32_uncompiled():
    model = build_model("mlp", (2,), 2)
    net, amp, compile = engine_settings(model, "cpu")
    assert (amp, compile) == (False, "none")
    assert engine_settings(model, "cpu", amp=True)[1] is False  # autocast is CUDA-only
    assert isinstance(net, torch.nn.Module) and not hasattr(net, "_orig_mod")

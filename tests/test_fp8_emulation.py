"""benchmarks/fp8_emulation.py's rounding: float8_e4m3fn values, torchao's scalings, and
which of them classify each sample on its own."""

import pytest
import torch
from torch import nn


@pytest.fixture
def fp8(benchmark_script):
    return benchmark_script("fp8_emulation")


def test_e4m3_rounding_by_hand(fp8):
    """e4m3 has 3 mantissa bits: 0.3 lies between 0.28125 and 0.3125 and rounds to the
    nearer; 1000 at scale 1 saturates at 448; at scale 1000/448, 1000 is exact."""
    one = torch.tensor(1.0)
    assert fp8.to_e4m3(torch.tensor([0.3, 1.0, 1000.0]), one).tolist() == [0.3125, 1.0, 448.0]
    scale = torch.tensor(1000.0) / fp8.E4M3_MAX
    assert fp8.to_e4m3(torch.tensor(1000.0), scale).item() == pytest.approx(1000.0, rel=1e-6)
    assert fp8.to_e4m3(torch.zeros(3), torch.tensor(0.0)).tolist() == [0.0, 0.0, 0.0]


def test_per_tensor_scaling_couples_the_samples_of_a_batch(fp8):
    """Alone, [1.1, 0] is scaled onto 448 exactly; beside a sample of 1000 the scale is
    1000/448, 1.1 becomes 0.4928 of it, e4m3 (steps of 1/32 there) makes that 0.5, so
    1.1161, and the bf16 output 1.1172: per tensor, a sample's output depends on its
    batch; per row and with a static scale it does not."""
    layer = nn.Linear(2, 2, bias=False)
    layer.weight.data = torch.eye(2)
    small, batch = torch.tensor([[1.1, 0.0]]), torch.tensor([[1.1, 0.0], [1000.0, 0.0]])
    for granularity in ("tensor", "row", "static"):
        rounded = fp8.Rounded(layer, granularity)
        rounded.amax = torch.tensor(1000.0)
        alone, together = rounded(small)[0], rounded(batch)[0]
        assert (alone == together).all() == (granularity != "tensor"), granularity
    assert fp8.Rounded(layer, "tensor")(batch)[0, 0].item() == 1.1171875


def test_rounded_model_changes_the_arithmetic_only(fp8):
    """Every convolution and linear layer is replaced (in a copy), and the outputs stay
    within fp8's few per cent; per row and static, samples are classified on their own."""
    torch.manual_seed(0)
    from idrs.engine.models import build_model
    model = build_model("cnn", (1, 12, 12), 3).eval()
    x = torch.rand(6, 1, 12, 12)
    with torch.no_grad():
        exact = model(x)
        for granularity in ("bf16", *fp8.GRANULARITIES):
            rounded = fp8.rounded_model(model, granularity)
            if granularity == "static":
                fp8.calibrate(rounded, x[:2], 0.25, samples=50)
            wrapped = [m.layer for m in rounded.modules() if isinstance(m, fp8.Rounded)]
            bare = [m for m in rounded.modules() if type(m) in (nn.Conv2d, nn.Linear)]
            assert len(wrapped) == 4 and all(any(m is w for w in wrapped) for m in bare)
            error = (rounded(x) - exact).abs().max() / exact.abs().max()
            assert 0 < error < (0.02 if granularity == "bf16" else 0.15), granularity
            if granularity != "tensor":
                assert fp8.batch_dependence(rounded, x[:2], 0.25, samples=20) == 0
    assert all(type(m) is not fp8.Rounded for m in model.modules())

"""benchmarks/fp8_emulation.py's rounding: float8_e4m3fn values, torchao's scalings and
layers, which scalings classify each sample on its own, and the table's counts."""

import pandas as pd
import pytest
import torch
from torch import nn


@pytest.fixture
def fp8(benchmark_script):
    return benchmark_script("fp8_emulation")


def identity_layer(weight):
    layer = nn.Linear(2, 2, bias=False)
    layer.weight.data = torch.tensor(weight)
    return layer


def test_e4m3_rounding_by_hand(fp8):
    """e4m3 has 3 mantissa bits: 0.3 lies between 0.28125 and 0.3125 and rounds to the
    nearer; 1000 at scale 1 saturates at 448; at scale 1000/448 it maps onto 448 (up to
    the float32 rounding of the scale)."""
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
    layer = identity_layer([[1.0, 0.0], [0.0, 1.0]])
    small, batch = torch.tensor([[1.1, 0.0]]), torch.tensor([[1.1, 0.0], [1000.0, 0.0]])
    for granularity in ("tensor", "row", "static"):
        rounded = fp8.Rounded(layer, granularity)
        rounded.amax = torch.tensor(1000.0)
        alone, together = rounded(small)[0], rounded(batch)[0]
        assert (alone == together).all() == (granularity != "tensor"), granularity
    assert fp8.Rounded(layer, "tensor")(batch)[0, 0].item() == 1.1171875


def test_weights_are_scaled_per_output_channel_or_per_tensor(fp8):
    """Output 0 of weight rows [1.1, 0] and [1000, 0] on [1, 0]: its own row's scale keeps
    1.1 (bf16: 1.1016); the tensor's scale, 1000/448, rounds it to 1.1172 as above."""
    layer, x = identity_layer([[1.1, 0.0], [1000.0, 0.0]]), torch.tensor([[1.0, 0.0]])
    outputs = {}
    for granularity in ("tensor", "row", "static"):
        rounded = fp8.Rounded(layer, granularity)
        rounded.amax = torch.tensor(1.0)
        outputs[granularity] = rounded(x)[0, 0].item()
    assert outputs == {"tensor": 1.1171875, "row": 1.1015625, "static": 1.1015625}


def test_static_scale_must_be_calibrated(fp8):
    with pytest.raises(RuntimeError, match="calibrate"):
        fp8.Rounded(identity_layer([[1.0, 0.0], [0.0, 1.0]]), "static")(torch.ones(1, 2))


def test_rounded_model_keeps_torchaos_layers_and_samples_apart(fp8):
    """Every convolution and linear layer is replaced in a copy (only the 32-to-64
    convolution and the 3136-to-128 layer are torchao's: the others have 1 input channel or
    3 outputs); the outputs stay near the float32 model's; per row and static, samples
    are classified on their own, per tensor they are not."""
    torch.manual_seed(0)
    from idrs.engine.models import build_model
    model = build_model("cnn", (1, 28, 28), 3).eval()
    x = torch.rand(6, 1, 28, 28)
    with torch.no_grad():
        exact = model(x)
        for granularity in ("bf16", *fp8.GRANULARITIES):
            for torchao_layers in (False, True):
                rounded = fp8.rounded_model(model, granularity, torchao_layers)
                if granularity == "static":
                    fp8.calibrate(rounded, x[:2], 0.25, samples=50)
                wrapped = [m.layer for m in rounded.modules() if isinstance(m, fp8.Rounded)]
                assert [tuple(m.weight.shape[:2]) for m in wrapped] == (
                    [(64, 32), (128, 3136)] if torchao_layers else
                    [(32, 1), (64, 32), (128, 3136), (3, 128)])
                error = (rounded(x) - exact).abs().max() / exact.abs().max()
                assert 0 < error < 0.5, granularity
            if granularity in ("row", "static"):
                assert fp8.batch_dependence(rounded, x[:2], 0.25, 20, 20) == (0, 40)
    assert all(type(m) is not fp8.Rounded for m in model.modules())


def test_batch_dependence_and_disagreement_count_samples(fp8):
    """A classifier that centres each batch changes classes with the batch, and one that
    negates the logits disagrees with the identity wherever the top class is not tied."""
    def centred(batch):
        flat = batch.flatten(1)
        return flat - flat.mean(0)
    x = torch.rand(3, 1, 2, 2)
    changed, total = fp8.batch_dependence(centred, x, 0.5, 40, 10)
    assert total == 120 and changed > 0
    assert fp8.batch_dependence(lambda b: b.flatten(1), x, 0.5, 40, 10) == (0, 120)
    assert fp8.sample_disagreement(lambda b: -b.flatten(1), lambda b: b.flatten(1), x, 0.5,
                                   40, 10) == (120, 120)


def test_summary_counts_abstentions_as_uncertified(fp8):
    reference = pd.DataFrame({"label": [0, 1, 2], "predict": [0, 1, -1],
                              "radius": [0.3, 0.6, 0.0]})
    records = reference.assign(predict=[0, 2, -1], radius=[0.2, 0.6, 0.0])
    assert fp8.summary(records, reference, (0.1, 0.25, 0.5)) == [
        "0.333", "0.333", "0.000", "0.000", "1", "0.0333", "0.1000"]
    assert fp8.share((3, 400)) == "3 of 400 (0.750%)"
    assert fp8.summary(reference, reference, (0.1,))[-3:] == ["0", "0.0000", "0.0000"]

"""Noise drawn in the k dimensions of a linear first layer: the split computes the same
network, its noise has the covariance W W^T, the counts have the distribution of the
input-space sampler's, and the certificate keeps the input's dimension."""

import numpy as np
import pytest
import torch
from torch import nn

from idrs.certify.radius import idrs_radius
from idrs.engine.models import NormalizeLayer, build_model
from idrs.engine.projection import linear_entry
from idrs.engine.smoothing import ESTIMATION, SIGMA_ROUNDING, certify, sample_counts


def _mlp(dim, seed=0):
    torch.manual_seed(seed)
    return build_model("mlp", (dim,), 2, mean=(0.3,), std=(1.7,)).eval()


def test_split_computes_the_same_network():
    model = _mlp(60)
    entry = linear_entry(model, (60,))
    x = torch.randn(32, 60) * 3
    with torch.no_grad():
        torch.testing.assert_close(entry.rest(entry.inputs(x)), model(x), rtol=1e-5, atol=1e-5)
    torch.manual_seed(1)  # images: per-channel normalisation folded into the flattened weight
    image = nn.Sequential(NormalizeLayer((0.4, 0.5, 0.6), (0.2, 0.3, 0.4), 3),
                          nn.Sequential(nn.Flatten(), nn.Linear(48, 7), nn.ReLU(),
                                        nn.Linear(7, 3))).eval()
    entry = linear_entry(image, (3, 4, 4))
    x = torch.rand(16, 3, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(entry.rest(entry.inputs(x)), image(x), rtol=1e-5, atol=1e-5)


def test_noise_has_the_covariance_of_w_eps():
    entry = linear_entry(_mlp(400), (400,))
    k = entry.factor.shape[0]
    columns = entry.noise(torch.eye(k)).double()  # W eps = R^T z: rows are R's
    torch.testing.assert_close(columns.T @ columns, entry.weight @ entry.weight.T,
                               rtol=1e-5, atol=1e-6)
    assert entry.noise_dim == 20


@pytest.mark.parametrize("model, shape", [
    (build_model("mlp", (20,), 2), (20,)),  # k = 20 outputs of 20 inputs: nothing to gain
    (build_model("cnn", (1, 8, 8), 10), (1, 8, 8)),
    (nn.Sequential(nn.Linear(4, 2)), (3, 4)),  # a Linear on the last axis only
    (torch.fx.symbolic_trace(build_model("mlp", (60,), 2)), (60,)),
])
def test_other_networks_sample_in_the_input_space(model, shape):
    assert linear_entry(model.eval(), shape) is None


def test_counts_have_the_distribution_of_input_space_noise():
    model, n = _mlp(400, seed=2), 40_000
    x = torch.randn(12, 400) * 3
    with torch.no_grad():  # inputs near the boundary, where the counts say most
        margin = model(x).diff(dim=1).squeeze(1)
    x = x[margin.abs().argsort()[:6]]
    kwargs = dict(seed=0, stage=ESTIMATION, num_classes=2, batch_size=10_000)
    projected = sample_counts(model, x, np.full(6, 0.5), np.arange(6), n, **kwargs)
    direct = sample_counts(model, x, np.full(6, 0.5), np.arange(6), n,
                           project_noise=False, **kwargs)
    p1, p2 = projected[:, 1] / n, direct[:, 1] / n
    pooled = (p1 + p2) / 2
    z = (p1 - p2) / np.sqrt(np.maximum(pooled * (1 - pooled), 1e-12) * 2 / n)
    assert np.sum((pooled > 0.1) & (pooled < 0.9)) >= 2 and np.all(np.abs(z) < 4.5), (p1, p2, z)


def test_certificate_keeps_the_input_dimension_and_is_reproducible_by_index():
    model, x = _mlp(180, seed=3), torch.randn(6, 180) * 3
    kwargs = dict(n0=50, n=2000, alpha=0.001, num_classes=2, rate=0.01, seed=4)
    sigma = np.linspace(0.4, 0.6, 6)
    whole = certify(model, x, np.zeros(6), np.arange(6), sigma, batch_size=700, **kwargs)
    parts = [certify(model, x[s], np.zeros(3), np.arange(6)[s], sigma[s], batch_size=512,
                     **kwargs) for s in (slice(0, 3), slice(3, 6))]
    for column in ("count_top", "radius", "predict"):
        np.testing.assert_array_equal(whole[column], np.concatenate([p[column] for p in parts]))
    assert set(whole.noise_dim) == {20}
    direct = certify(model, x[:1], np.zeros(1), [0], sigma[:1], project_noise=False, **kwargs)
    assert set(direct.noise_dim) == {180}
    certified = whole[whole.predict >= 0]
    assert len(certified)
    expected = [idrs_radius(p, s, 0.01, 180, slack=2 * SIGMA_ROUNDING)
                for p, s in zip(certified.p_a, certified.sigma)]
    np.testing.assert_allclose(certified.radius, expected, rtol=1e-12)

"""Certification on CUDA (``-m gpu``; skipped without a CUDA device, run by
``benchmarks/gpu_check.sh``).

* Records do not depend on the shard split or the batch size, as on the CPU.
* CPU and CUDA records agree statistically, not bitwise: torch draws CPU noise from
  MT19937 and CUDA noise from Philox, so the same seed gives independent noise on the
  two devices and the counts of the top class are two independent binomial draws. They
  must agree within 5 standard deviations of their difference.
* Noise drawn through a linear first layer keeps its covariance with TF32 allowed.
* bf16 autocast changes the base classifier, not the smoothing: the model receives the
  float32 ``x + sigma * eps`` it receives without autocast, so the certificate is the
  exact one for the bf16 classifier. A Monte Carlo check near a linear boundary (where
  Cohen's radius is tight) confirms it.
* The first convolution as a compiled stencil computes the same CNN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from idrs.engine.models import build_model
from idrs.engine.smoothing import ESTIMATION, certify, sample_counts

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(),
                                                  reason="needs a CUDA device")]
CUDA = torch.device("cuda")
SHAPE = (1, 8, 8)


@pytest.fixture
def exact_cuda():
    """cuDNN's deterministic algorithms and no TF32, restored afterwards."""
    saved = (torch.backends.cudnn.deterministic, torch.backends.cudnn.allow_tf32,
             torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    (torch.backends.cudnn.deterministic, torch.backends.cudnn.allow_tf32,
     torch.backends.cuda.matmul.allow_tf32) = saved


def cnn_and_inputs(m=4, seed=0):
    torch.manual_seed(seed)
    model = build_model("cnn", SHAPE, 10, (0.5,), (0.25,)).eval()
    x = torch.rand((m, *SHAPE))
    return model, x, np.arange(m) % 10, np.arange(m) * 3


def records(model, x, labels, idx, device, **kw):
    out = certify(model.to(device), x.to(device), labels, idx, 0.5, n0=100, n=1000,
                  alpha=0.001, num_classes=10, seed=7, channels_last=False, **kw)
    return out.drop(columns=["time", "radius_time"])


def test_cuda_records_do_not_depend_on_shards_or_batch(exact_cuda):
    model, x, labels, idx = cnn_and_inputs()
    whole = records(model, x, labels, idx, CUDA, batch_size=1000)
    for batch in (37, 4096):
        assert records(model, x, labels, idx, CUDA, batch_size=batch).equals(whole), batch
    shards = [records(model, x[s], labels[s], idx[s], CUDA, batch_size=256)
              for s in (slice(0, 1), slice(1, 4))]
    assert pd.concat(shards, ignore_index=True).equals(whole)


def test_cpu_and_cuda_counts_agree_within_binomial_noise():
    model, x, labels, idx = cnn_and_inputs(m=6, seed=1)
    n = 20_000
    counts = {}
    for device in ("cpu", CUDA):
        model = model.to(device)
        counts[str(device)] = sample_counts(model, x.to(device), np.full(6, 0.5), idx, n,
                                            seed=3, stage=ESTIMATION, num_classes=10)
    cpu, gpu = counts["cpu"], counts["cuda"]
    assert not np.array_equal(cpu, gpu), "the devices' noise streams are expected to differ"
    p = (cpu + gpu) / (2 * n)
    sd = np.sqrt(2 * n * p * (1 - p))
    assert np.all(np.abs(cpu - gpu) <= 5 * sd + 2), (cpu, gpu)


def test_bf16_model_receives_the_float32_noisy_input():
    model, x, labels, idx = cnn_and_inputs()
    model = model.to(CUDA)
    seen = {}

    def capture(key):
        def hook(_, args):
            seen.setdefault(key, []).append(args[0].detach().clone().contiguous())
        return hook

    for amp in (False, True):
        handle = model.register_forward_pre_hook(capture(amp))
        sample_counts(model, x.to(CUDA), np.full(4, 0.5), idx, 500, seed=1, stage=ESTIMATION,
                      num_classes=10, amp=amp, channels_last=False, batch_size=300)
        handle.remove()
    assert all(t.dtype == torch.float32 for t in seen[True])
    assert len(seen[True]) == len(seen[False])
    assert all(torch.equal(a, b) for a, b in zip(seen[True], seen[False]))


def test_bf16_certificate_holds_near_a_linear_boundary():
    """f(x) = [w.x < b]: p_A(x') = Phi(Phi^-1(p_A(x)) - |x' - x| / sigma) toward the
    boundary, so 0.9 R toward it must still be class A by a clear majority."""
    torch.manual_seed(2)
    dim, sigma, distance = 64, 0.25, 0.5
    w = torch.nn.functional.normalize(torch.randn(dim), dim=0)
    linear = nn.Linear(dim, 2).to(CUDA)
    with torch.no_grad():
        linear.weight.copy_(torch.stack([-w, w]))
        linear.bias.zero_()
    model = nn.Sequential(nn.Flatten(), linear).eval()
    x = (0.5 * torch.ones(dim) + distance * w).reshape(1, dim).to(CUDA)  # class 1 side
    offset = float(w @ (0.5 * torch.ones(dim)))
    with torch.no_grad():
        linear.bias.copy_(torch.tensor([offset, -offset]))
    out = certify(model, x, np.array([1]), np.array([0]), sigma, n0=100, n=100_000,
                  alpha=0.001, num_classes=2, amp=True)
    radius = float(out.radius[0])
    assert out.predict[0] == 1 and 0.4 < radius <= distance
    moved = x - 0.9 * radius * w.to(CUDA)
    n = 200_000
    counts = sample_counts(model, moved, [sigma], [1], n, seed=5, stage=ESTIMATION,
                           num_classes=2, amp=True)
    assert counts[0, 1] / n > 0.5 + 5 * 0.5 / np.sqrt(n), counts


def test_certify_job_on_cuda_takes_the_fast_path_and_agrees_with_the_cpu(tmp_path):
    """The default CUDA path (bf16, BN folded, torch.compile max-autotune) on a trained
    digits model: records say so, and the smoothed predictions agree with fp32 on the
    CPU (they may differ where the two base classifiers differ, rarely)."""
    from idrs.engine.data import digits
    from idrs.engine.train import train
    from idrs.engine.train_config import TrainConfig
    from idrs.workflow.jobs import certify_job
    from idrs.workflow.registry import Evaluation
    model = train(digits(), tmp_path / "m", TrainConfig(arch="cnn", epochs=10, batch_size=64,
                                                        lr=0.05, sigma_train=0.25),
                  device="cuda", progress=False)
    spec = {"name": "digits"}
    common = dict(evaluation=Evaluation(sigma=0.25, n0=100, n=2000), stop=60)
    gpu = certify_job(model, spec, tmp_path / "gpu.parquet", device="cuda", **common)
    cpu = certify_job(model, spec, tmp_path / "cpu.parquet", device="cpu", **common)
    assert set(gpu.precision) == {"bf16"} and set(gpu.compile) == {"max-autotune"}
    assert set(cpu.precision) == {"fp32"} and set(cpu.compile) == {"none"}
    assert gpu.correct.mean() > 0.7
    assert (gpu.predict == cpu.predict).mean() >= 0.9


@pytest.mark.parametrize("compile", ["none", "cudagraphs"])
def test_bf16_training_is_recorded_and_bitwise_reproducible_when_deterministic(tmp_path,
                                                                               compile):
    """bf16 training runs with channels_last on CUDA and says so in the model file;
    with ``deterministic=True`` two runs on one device give bitwise the same weights
    (crop/flip augmentation and the ResNet's pooling included), eager or compiled and
    replayed as CUDA graphs (config/paper.yaml's recipe)."""
    from idrs.engine.data import ArrayDataset
    from idrs.engine.train import load_model, train
    from idrs.engine.train_config import TrainConfig
    rng = np.random.default_rng(0)
    shape = (3, 32, 32)
    ds = ArrayDataset("random", rng.random((256, *shape), dtype=np.float32),
                      rng.integers(0, 10, 256), rng.random((64, *shape), dtype=np.float32),
                      rng.integers(0, 10, 64), 10, (0.5,) * 3, (0.25,) * 3, "crop_flip")
    config = TrainConfig(arch="cifar_resnet20", epochs=2, batch_size=64, sigma_train=0.25,
                         precision="bf16", compile=compile)
    weights = []
    for run in ("a", "b"):
        path = train(ds, tmp_path / run, config, device="cuda", progress=False,
                     deterministic=True)
        model, meta = load_model(path)
        assert meta["train_precision"] == "bf16"
        weights.append(model.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not torch.are_deterministic_algorithms_enabled()  # restored afterwards


def test_cuda_graph_training_updates_batchnorm_as_eager_training_does(tmp_path):
    """``compile="cudagraphs"`` replays recorded steps: the BatchNorm running statistics
    and the weights it ends with must be those of eager bf16 training up to rounding (a
    graph that dropped the buffers' in-place updates would leave them at 0 and 1)."""
    from idrs.engine.data import ArrayDataset
    from idrs.engine.train import load_model, train
    from idrs.engine.train_config import TrainConfig
    rng = np.random.default_rng(1)
    shape = (3, 32, 32)
    ds = ArrayDataset("random", rng.random((256, *shape), dtype=np.float32),
                      rng.integers(0, 10, 256), rng.random((64, *shape), dtype=np.float32),
                      rng.integers(0, 10, 64), 10, (0.5,) * 3, (0.25,) * 3, None)
    states = {}
    for compile in ("none", "cudagraphs"):
        config = TrainConfig(arch="cifar_resnet20", epochs=1, batch_size=64, lr=0.01,
                             sigma_train=0.25, precision="bf16", compile=compile)
        states[compile] = load_model(train(ds, tmp_path / compile, config, device="cuda",
                                           progress=False))[0].state_dict()
    stats = [k for k in states["none"] if k.endswith(("running_mean", "running_var"))]
    assert stats
    for key in stats:
        eager, graphs = states["none"][key].float(), states["cudagraphs"][key].float()
        initial = torch.zeros_like(eager) if key.endswith("mean") else torch.ones_like(eager)
        moved = (eager - initial).abs().max()
        assert (graphs - initial).abs().max() > 0.5 * moved, key
        assert (graphs - eager).abs().max() <= 0.05 * moved + 1e-3, key
    for key in states["none"]:
        if key.endswith("weight"):
            torch.testing.assert_close(states["cudagraphs"][key].float(),
                                       states["none"][key].float(), rtol=0.05, atol=2e-3)


def test_projected_noise_keeps_its_covariance_with_tf32_allowed():
    from idrs.engine.projection import linear_entry
    torch.manual_seed(0)
    model = build_model("mlp", (400,), 2).eval().to(CUDA)
    entry = linear_entry(model, (400,))
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True  # a user's global choice for speed
    try:
        columns = entry.noise(torch.eye(20, device=CUDA)).double()
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved
    torch.testing.assert_close(columns.T @ columns, entry.weight @ entry.weight.T,
                               rtol=1e-5, atol=1e-6)


def test_compiled_stencil_first_convolution_is_the_cnn(exact_cuda):
    """The MNIST CNN with its first convolution as a stencil, compiled (Inductor fuses it
    with the ReLU and pooling after it), computes the eager CNN's logits up to float32
    rounding, TF32 off (gpu_check's candidates time it; benchmarks/gpu_check.py)."""
    from idrs.engine.models import StencilConv2d, inference_model
    torch.manual_seed(4)
    model = build_model("cnn", (1, 28, 28), 10, (0.5,), (0.25,)).eval().to(CUDA)
    net = inference_model(model, stencil=True, compile_mode="default")
    assert any(isinstance(m, StencilConv2d) for m in net.modules())
    x = torch.rand((512, 1, 28, 28), device=CUDA)
    with torch.no_grad():
        torch.testing.assert_close(net(x), model(x), rtol=1e-3, atol=1e-3)
        with torch.autocast("cuda", dtype=torch.bfloat16):  # the default path's precision
            ours, theirs = net(x), model(x)
    assert ours.dtype == theirs.dtype
    torch.testing.assert_close(ours.float(), theirs.float(), rtol=5e-2, atol=5e-2)

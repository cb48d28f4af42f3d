"""What fp8 arithmetic would do to certification, measured on the CPU by emulation.

Why emulation: torchao 0.18 runs fp8 convolutions only through mslk's kernel on SM 10.0
(Blackwell) GPUs (``torchao/quantization/quantize_/workflows/float8/float8_tensor.py``:
``_is_mslk_available() and is_sm_at_least_100()``, else ``NotImplementedError``). On the
H100 and H200 (SM 9.0) it has fp8 only for ``nn.Linear``, a negligible share of
ResNet-110's work (one 64 x 10 layer) and about a tenth of the MNIST CNN's multiply-adds.
So no fp8 path can be timed on the GPUs this project is lent; what can be measured is
what fp8's rounding does to the base classifier and its certificates.

Each convolution and linear layer rounds its input and weight to float8_e4m3fn, scaled as
torchao scales them, computes in float32 and rounds its output to bfloat16 (what the
f8f8bf16 kernels return):

* ``fp8 per tensor``: one scale for the whole batch of activations and one per weight,
  torchao's default granularity (``PerTensor``). The scale of a batch depends on every
  sample in it, so a sample's class depends on the rest of its batch: the counts are no
  longer independent draws of one base classifier, which Clopper-Pearson assumes. This
  script measures how often that changes a prediction.
* ``fp8 per row``: a scale per sample and per output channel (``PerRow``): every sample is
  classified on its own, so the certificate holds for the fp8 classifier as evaluated.
* ``fp8 static``: one activation scale per layer fixed beforehand from noisy training
  images (``Float8StaticActivationFloat8WeightConfig``), weights per output channel.
* ``bf16``: inputs, weights and outputs rounded to bfloat16, the CUDA default today.

Every variant certifies the same test images with the same noise as the float32 model.

    python benchmarks/fp8_emulation.py [--model results/models/mnist-*/seed0/model.pth]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import glob
import platform
import sys

import numpy as np
import torch
from torch import nn

from idrs import __version__
from idrs.engine.data import load_dataset
from idrs.engine.smoothing import certify
from idrs.engine.train import load_model

#: The largest float8_e4m3fn value: a scale maps a tensor's absolute maximum onto it.
E4M3_MAX = float(torch.finfo(torch.float8_e4m3fn).max)
GRANULARITIES = ("tensor", "row", "static")
#: The table's rows: the float32 model, then each rounding of :class:`Rounded`.
VARIANTS = {"fp32": None, "bf16": "bf16", "fp8 per tensor": "tensor", "fp8 per row": "row",
            "fp8 static": "static"}


def to_e4m3(t: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``t`` rounded to float8_e4m3fn at ``scale`` (broadcast), back in float32."""
    scale = scale.clamp_min(torch.finfo(torch.float32).tiny)
    q = (t / scale).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn)
    return q.to(torch.float32) * scale


def row_scale(t: torch.Tensor) -> torch.Tensor:
    """One scale per leading index (a sample of a batch, an output channel of a weight)."""
    amax = t.detach().abs().flatten(1).amax(1)
    return (amax / E4M3_MAX).view(-1, *([1] * (t.dim() - 1)))


def tensor_scale(t: torch.Tensor) -> torch.Tensor:
    return t.detach().abs().amax() / E4M3_MAX


def to_bf16(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.bfloat16).to(torch.float32)


class Rounded(nn.Module):
    """A convolution or linear layer computed from rounded input and weight, its output
    rounded to bfloat16. ``granularity`` is ``bf16`` or one of :data:`GRANULARITIES`;
    ``static`` records the activations' absolute maximum while :attr:`calibrating`."""

    def __init__(self, layer: nn.Conv2d | nn.Linear, granularity: str):
        super().__init__()
        self.layer, self.granularity = layer, granularity
        self.calibrating, self.amax = False, torch.tensor(0.0)

    def forward(self, x):
        w, g = self.layer.weight, self.granularity
        if self.calibrating:
            self.amax = torch.maximum(self.amax, x.detach().abs().amax().cpu())
            return self.layer(x)
        if g == "bf16":
            x, w = to_bf16(x), to_bf16(w)
        elif g == "tensor":
            x, w = to_e4m3(x, tensor_scale(x)), to_e4m3(w, tensor_scale(w))
        else:
            xs = row_scale(x) if g == "row" else (self.amax / E4M3_MAX).to(x.device)
            x, w = to_e4m3(x, xs), to_e4m3(w, row_scale(w))
        if isinstance(self.layer, nn.Linear):
            out = nn.functional.linear(x, w, self.layer.bias)
        else:
            out = self.layer._conv_forward(x, w, self.layer.bias)
        return to_bf16(out)


def rounded_model(model: nn.Module, granularity: str) -> nn.Module:
    """A copy of ``model`` whose convolutions and linear layers are :class:`Rounded`."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if type(child) in (nn.Conv2d, nn.Linear):
                setattr(parent, name, Rounded(child, granularity))
    return model


@torch.no_grad()
def calibrate(model: nn.Module, x: torch.Tensor, sigma: float, samples: int, seed=0):
    """Fix every :class:`Rounded` layer's static scale from ``samples`` noisy copies of
    each image in ``x`` (training images: the test images are not looked at)."""
    layers = [m for m in model.modules() if isinstance(m, Rounded)]
    for m in layers:
        m.calibrating = True
    gen = torch.Generator().manual_seed(seed)
    for image in x:
        batch = image.expand(samples, *image.shape)
        model(batch + sigma * torch.randn(batch.shape, generator=gen))
    for m in layers:
        m.calibrating = False


@torch.no_grad()
def sample_disagreement(model, reference, x, sigma, samples, seed=1):
    """The share of noisy samples whose class differs from ``reference``'s."""
    gen, differ = torch.Generator().manual_seed(seed), 0
    for image in x:
        batch = image.expand(samples, *image.shape)
        noisy = batch + sigma * torch.randn(batch.shape, generator=gen)
        differ += int((model(noisy).argmax(1) != reference(noisy).argmax(1)).sum())
    return differ / (len(x) * samples)


@torch.no_grad()
def batch_dependence(model, x, sigma, samples, seed=2):
    """The share of noisy samples whose class changes when they are classified in one batch
    instead of one at a time: 0 for a classifier of each sample alone."""
    gen, changed = torch.Generator().manual_seed(seed), 0
    for image in x:
        batch = image.expand(samples, *image.shape)
        noisy = batch + sigma * torch.randn(batch.shape, generator=gen)
        alone = torch.cat([model(sample[None]).argmax(1) for sample in noisy])
        changed += int((model(noisy).argmax(1) != alone).sum())
    return changed / (len(x) * samples)


def summary(records, reference, radii):
    """One row of the table: ``records`` of CERTIFY against the float32 ``reference``."""
    correct = records["predict"].to_numpy() == records["label"].to_numpy()
    radius = np.where(correct, records["radius"].to_numpy(), -1.0)
    certified = [f"{np.mean(radius >= r):.3f}" for r in radii]
    differ = int((records["predict"].to_numpy() != reference["predict"].to_numpy()).sum())
    gap = np.abs(records["radius"].to_numpy() - reference["radius"].to_numpy())
    return [f"{correct.mean():.3f}", *certified, str(differ), f"{gap.mean():.4f}",
            f"{gap.max():.4f}"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a model trained by idrs on mnist_subset (default: "
                        "seed 0 of make run's MNIST CNN, results/models/mnist-*/seed0)")
    parser.add_argument("--sigma", type=float, default=0.25, help="noise level (default "
                        "0.25, the make run model's training noise)")
    parser.add_argument("--images", type=int, default=100, help="test images certified "
                        "(default: 100)")
    parser.add_argument("--n", type=int, default=2000, help="samples per image (default: "
                        "2000)")
    parser.add_argument("--batch", type=int, default=64, help="samples per forward pass "
                        "(default: 64, near the fastest for this CNN on a CPU)")
    parser.add_argument("--probe-samples", type=int, default=1000, help="noisy samples per "
                        "image for the per-sample rows (default: 1000)")
    args = parser.parse_args(argv)
    path = args.model or next(iter(sorted(glob.glob("results/models/mnist-*/seed0/model.pth"))),
                              None)
    if path is None:
        sys.exit("No model: run `make run` first (it trains results/models/mnist-*/seed0/"
                 "model.pth), or pass --model PATH.")
    torch.manual_seed(0)
    ds = load_dataset("mnist_subset")
    model, meta = load_model(path, "cpu", dataset=ds.name)
    x = torch.as_tensor(np.asarray(ds.x_test[:args.images]))
    labels = np.asarray(ds.y_test[:args.images])
    calibration = torch.as_tensor(np.asarray(ds.x_train[:20]))
    radii = (0.1, 0.25, 0.5)
    print(f"# fp8 emulation, {datetime.date.today()}, idrs {__version__}, "
          f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads\n\nmodel {path} ({meta['arch']}, trained at "
          f"sigma {meta['config']['sigma_train']}); {args.images} test images of mnist_subset, "
          f"sigma {args.sigma}, n0 100, n {args.n}, alpha 0.001, batch {args.batch}; per-sample "
          f"rows on {min(args.images, 20)} images x {args.probe_samples} noisy samples\n")
    print("| arithmetic | accuracy of g | " + " | ".join(f"certified at {r}" for r in radii)
          + " | predictions unlike fp32 | mean, max radius gap | samples unlike fp32 "
          "| samples changed by the batch |")
    print("|" + "---|" * (6 + len(radii)))
    reference, probe = None, x[:20]
    for name, granularity in VARIANTS.items():
        net = model if granularity is None else rounded_model(model, granularity)
        if granularity == "static":
            calibrate(net, calibration, args.sigma, args.probe_samples)
        records = certify(net, x, labels, np.arange(len(x)), args.sigma, n0=100, n=args.n,
                          alpha=0.001, num_classes=meta["num_classes"], batch_size=args.batch)
        reference = records if reference is None else reference
        *row, gap_mean, gap_max = summary(records, reference, radii)
        disagree = sample_disagreement(net, model, probe, args.sigma, args.probe_samples)
        coupled = batch_dependence(net, probe, args.sigma, args.probe_samples)
        print(f"| {name} | " + " | ".join(row) + f" | {gap_mean}, {gap_max} | "
              f"{disagree:.5f} | {coupled:.5f} |")


if __name__ == "__main__":
    main()

"""What fp8 arithmetic would do to certification, measured on the CPU by emulation.

Why emulation: torchao 0.18 runs fp8 convolutions only through mslk's kernel on SM 10.0
(Blackwell) GPUs (``torchao/quantization/quantize_/workflows/float8/float8_tensor.py``:
``_is_mslk_available() and is_sm_at_least_100()``, else ``NotImplementedError``). On the
H100 and H200 (SM 9.0) it has fp8 only for ``nn.Linear``, a negligible share of
ResNet-110's work (one 64 x 10 layer) and about a tenth of the MNIST CNN's multiply-adds.
So no fp8 path can be timed on the GPUs this project is lent; what can be measured is
what fp8's rounding does to the base classifier and its certificates.

A rounded layer rounds its input and weight to float8_e4m3fn at a scale (absolute maximum
over 448), computes in float32 and rounds its output to bfloat16 (what the f8f8bf16
kernels return). The rows of the table:

* ``fp8 per tensor, torchao's layers``: what torchao 0.18 would run. A convolution takes
  only ``PerTensor`` scales (``quant_api.py``: "4D/5D tensor only supports per tensor
  activation and weight quantization"): one for the whole batch of activations, one for
  the weight. Layers whose channels or features are not multiples of 16 stay as they are
  (:func:`torchao_converts`). The scale of a batch depends on every sample in it, so a
  sample's class depends on the rest of its batch: the counts are no longer independent
  draws of one base classifier, which Clopper-Pearson assumes. The last column measures
  how often that changes a class.
* ``fp8 per tensor, every layer``: the same scaling on every convolution and linear layer.
* ``fp8 per row`` and ``fp8 static`` (every layer; torchao has neither for convolutions):
  a scale per sample, or one activation scale per layer fixed beforehand from noisy
  training images, with weights per output channel. Each sample is classified on its
  own, so the certificate holds for the fp8 classifier as evaluated.
* ``bf16``: inputs, weights and outputs rounded to bfloat16, the CUDA default today.

Every row certifies the same test images with the same noise as the float32 model, and
the per-sample columns pass the same noisy samples in batches of ``--batch``.

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
from idrs.engine.models import replace_modules
from idrs.engine.smoothing import certify
from idrs.engine.train import load_model

#: The largest float8_e4m3fn value: a scale maps a tensor's absolute maximum onto it.
E4M3_MAX = float(torch.finfo(torch.float8_e4m3fn).max)
GRANULARITIES = ("tensor", "row", "static")
#: The table's rows: the float32 model, then (granularity, only torchao's layers) of
#: :func:`rounded_model`.
VARIANTS = {"fp32": None, "bf16": ("bf16", False),
            "fp8 per tensor, torchao's layers": ("tensor", True),
            "fp8 per tensor, every layer": ("tensor", False),
            "fp8 per row, every layer (not in torchao)": ("row", False),
            "fp8 static, every layer (not in torchao)": ("static", False)}


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
            if g == "static" and not self.amax > 0:
                raise RuntimeError("a static fp8 layer has no scale: calibrate() the model "
                                   "first.")
            xs = row_scale(x) if g == "row" else (self.amax / E4M3_MAX).to(x.device)
            x, w = to_e4m3(x, xs), to_e4m3(w, row_scale(w))
        if isinstance(self.layer, nn.Linear):
            out = nn.functional.linear(x, w, self.layer.bias)
        else:
            out = self.layer._conv_forward(x, w, self.layer.bias)
        return to_bf16(out)


def torchao_converts(layer: nn.Module) -> bool:
    """Whether torchao 0.18's fp8 quantization converts ``layer``: a convolution whose
    input and output channels, or a linear layer whose features, are multiples of 16."""
    if type(layer) is nn.Conv2d:
        return layer.in_channels % 16 == 0 and layer.out_channels % 16 == 0
    return type(layer) is nn.Linear and layer.in_features % 16 == 0 \
        and layer.out_features % 16 == 0


def rounded_model(model: nn.Module, granularity: str, torchao_layers=False) -> nn.Module:
    """A copy of ``model`` whose convolutions and linear layers (with ``torchao_layers``,
    those :func:`torchao_converts`) are :class:`Rounded`."""
    def applies(m):
        return type(m) in (nn.Conv2d, nn.Linear) and (not torchao_layers or torchao_converts(m))
    return replace_modules(copy.deepcopy(model), applies,
                           lambda m: Rounded(m, granularity))


def noisy_batches(x, sigma, samples, batch, seed):
    """``samples`` noisy copies of each image of ``x``, in batches of at most ``batch``
    copies of one image, the same for every call with the same ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    for image in x:
        noisy = image + sigma * torch.randn((samples, *image.shape), generator=gen)
        yield from noisy.split(batch)


@torch.no_grad()
def calibrate(model: nn.Module, x: torch.Tensor, sigma: float, samples: int, seed=0):
    """Fix every :class:`Rounded` layer's static scale from ``samples`` noisy copies of
    each image in ``x`` (training images: the test images are not looked at)."""
    layers = [m for m in model.modules() if isinstance(m, Rounded)]
    for m in layers:
        m.calibrating = True
    for noisy in noisy_batches(x, sigma, samples, samples, seed):
        model(noisy)
    for m in layers:
        m.calibrating = False


@torch.no_grad()
def sample_disagreement(model, reference, x, sigma, samples, batch, seed=1):
    """How many noisy samples ``model`` classifies unlike ``reference``, of how many."""
    differ = sum(int((model(noisy).argmax(1) != reference(noisy).argmax(1)).sum())
                 for noisy in noisy_batches(x, sigma, samples, batch, seed))
    return differ, len(x) * samples


@torch.no_grad()
def batch_dependence(model, x, sigma, samples, batch, seed=2):
    """How many noisy samples change class when classified in batches of ``batch`` instead
    of one at a time, of how many: none for a classifier of each sample alone."""
    changed = 0
    for noisy in noisy_batches(x, sigma, samples, batch, seed):
        alone = torch.cat([model(sample[None]).argmax(1) for sample in noisy])
        changed += int((model(noisy).argmax(1) != alone).sum())
    return changed, len(x) * samples


def share(counted) -> str:
    """``(k, n)`` as "k of n (percent)"."""
    k, n = counted
    return f"{k} of {n} ({k / n:.3%})"


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
          f"columns on {min(args.images, 20)} images x {args.probe_samples} noisy samples\n")
    print("| arithmetic | accuracy of g | " + " | ".join(f"certified at {r}" for r in radii)
          + " | predictions unlike fp32 | mean, max radius gap | samples unlike fp32 "
          "| samples changed by the batch |")
    print("|" + "---|" * (6 + len(radii)))
    reference, probe = None, x[:20]
    for name, variant in VARIANTS.items():
        net = model if variant is None else rounded_model(model, *variant)
        if variant and variant[0] == "static":
            calibrate(net, calibration, args.sigma, args.probe_samples)
        # Unprojected noise: a linear first layer, once Rounded, is no longer projected on,
        # and every row must draw the same noise.
        records = certify(net, x, labels, np.arange(len(x)), args.sigma, n0=100, n=args.n,
                          alpha=0.001, num_classes=meta["num_classes"], batch_size=args.batch,
                          project_noise=False)
        reference = records if reference is None else reference
        *row, gap_mean, gap_max = summary(records, reference, radii)
        per_sample = (args.sigma, args.probe_samples, args.batch)
        print(f"| {name} | " + " | ".join(row) + f" | {gap_mean}, {gap_max} | "
              f"{share(sample_disagreement(net, model, probe, *per_sample))} | "
              f"{share(batch_dependence(net, probe, *per_sample))} |")


if __name__ == "__main__":
    main()

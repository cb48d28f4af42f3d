"""Noise samples per second of idrs.engine.smoothing against Cohen et al.'s certify loop.

The baseline is a faithful re-implementation of ``Smooth.certify`` from
locuslab/smoothing (``core.py``): one input at a time, ``x.repeat`` per batch, noise,
argmax, ``.cpu().numpy()`` per batch and a Python counting loop. Both certify the same
inputs with the same model on the same device in one run.

    python benchmarks/certify_throughput.py [--model cnn|cifar_resnet110] [--device cpu]
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
from scipy.stats import norm

from idrs.certify.stats import clopper_pearson_lower
from idrs.engine.models import build_model
from idrs.engine.smoothing import certify


class CohenSmooth:
    """locuslab/smoothing core.Smooth, certify path, as published (device made explicit)."""

    def __init__(self, base_classifier, num_classes, sigma, device):
        self.base_classifier, self.num_classes = base_classifier, num_classes
        self.sigma, self.device = sigma, device

    def certify(self, x, n0, n, alpha, batch_size):
        self.base_classifier.eval()
        counts_selection = self._sample_noise(x, n0, batch_size)
        c_a = counts_selection.argmax().item()
        counts_estimation = self._sample_noise(x, n, batch_size)
        n_a = counts_estimation[c_a].item()
        p_a = clopper_pearson_lower(n_a, n, alpha)
        if p_a < 0.5:
            return -1, 0.0
        return c_a, self.sigma * norm.ppf(p_a)

    def _sample_noise(self, x, num, batch_size):
        with torch.no_grad():
            counts = np.zeros(self.num_classes, dtype=int)
            for _ in range(int(np.ceil(num / batch_size))):
                this_batch_size = min(batch_size, num)
                num -= this_batch_size
                batch = x.repeat((this_batch_size, 1, 1, 1))
                noise = torch.randn_like(batch, device=self.device) * self.sigma
                predictions = self.base_classifier(batch + noise).argmax(1)
                counts += self._count_arr(predictions.cpu().numpy(), self.num_classes)
            return counts

    @staticmethod
    def _count_arr(arr, length):
        counts = np.zeros(length, dtype=int)
        for idx in arr:
            counts[idx] += 1
        return counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn", choices=("cnn", "cifar_resnet110",
                                                           "cifar_resnet20"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--inputs", type=int, default=8, help="inputs certified (default: 8)")
    parser.add_argument("--n", type=int, default=10_000, help="samples per input (default: 10000)")
    parser.add_argument("--batch", type=int, default=400, help="batch size (default: 400)")
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats (default: 2)")
    parser.add_argument("--amp", action="store_true", help="idrs: mixed precision (CUDA)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                        help="idrs: channels_last layout (default: idrs's own choice)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    shape = (1, 28, 28) if args.model == "cnn" else (3, 32, 32)
    device = torch.device(args.device)
    model = build_model(args.model, shape, 10, (0.5,) * shape[0], (0.25,) * shape[0])
    model = model.to(device).eval()
    x = torch.rand((args.inputs, *shape), device=device)
    n0, alpha, sigma = 100, 0.001, 0.25
    total = args.inputs * (n0 + args.n)

    baseline_model = copy.deepcopy(model)  # idrs may change the model's memory layout

    def run_cohen():
        smooth = CohenSmooth(baseline_model, 10, sigma, device)
        for i in range(args.inputs):
            smooth.certify(x[i:i + 1], n0, args.n, alpha, args.batch)

    def run_idrs():
        certify(model, x, np.zeros(args.inputs, dtype=np.int64), np.arange(args.inputs), sigma,
                n0=n0, n=args.n, alpha=alpha, num_classes=10, batch_size=args.batch,
                amp=args.amp, channels_last=args.channels_last)

    def timed(fn):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    run_idrs(), run_cohen()  # warm-up (cuDNN autotuning, allocator)
    # interleaved repeats, best of each: robust to a busy machine
    cohen_t, idrs_t = np.inf, np.inf
    for _ in range(args.repeats):
        cohen_t, idrs_t = min(cohen_t, timed(run_cohen)), min(idrs_t, timed(run_idrs))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"torch {torch.__version__}, device {name}, model {args.model}, {args.inputs} inputs "
          f"x {n0 + args.n} samples, batch {args.batch}, threads {torch.get_num_threads()}")
    print(f"Cohen et al. loop: {total / cohen_t:12.0f} samples/s ({cohen_t:.2f} s)")
    print(f"idrs.engine.smoothing:    {total / idrs_t:12.0f} samples/s ({idrs_t:.2f} s)")
    print(f"speed-up idrs/Cohen = {cohen_t / idrs_t:.2f}x")


if __name__ == "__main__":
    main()

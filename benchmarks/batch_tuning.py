"""Certification at the default batch against the batch ``batch: auto`` measures, side by side.

For each model: the search of idrs.engine.batch_tuning (its cost and every rate it
measured), then CERTIFY of the same inputs at the default batch and at the measured one,
interleaved, best of the repeats, and whether the counts are equal.

    python benchmarks/batch_tuning.py [--device cpu] [--models mlp cnn cifar_resnet20]
"""

from __future__ import annotations

import argparse
import copy
import functools
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_check import timed  # noqa: E402  (one synchronised timer for the benchmarks)

from idrs.engine.batch_tuning import measure_batch_sizes, tuned_batch_size  # noqa: E402
from idrs.engine.models import build_model, engine_settings  # noqa: E402
from idrs.engine.smoothing import certify  # noqa: E402

#: The toy MLP's 2-D inputs, the paper's MNIST CNN, a CIFAR10 ResNet.
SHAPES = {"mlp": (2,), "cnn": (1, 28, 28), "cifar_resnet20": (3, 32, 32),
          "cifar_resnet110": (3, 32, 32)}


def certify_at(net, x, batch, *, amp, n):
    """CERTIFY's records of ``x`` at ``batch``."""
    return certify(net, x, np.zeros(len(x), dtype=np.int64), np.arange(len(x)), 0.25,
                   n0=100, n=n, alpha=0.001, num_classes=10, batch_size=batch, amp=amp)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", nargs="+", choices=list(SHAPES),
                        default=["mlp", "cnn", "cifar_resnet20"])
    parser.add_argument("--inputs", type=int, default=4, help="inputs certified (default: 4)")
    parser.add_argument("--n", type=int, default=20_000, help="samples per input (default: "
                        "20000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (default: 3)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU {platform.machine()}"
    print(f"torch {torch.__version__}, device {name}, threads {torch.get_num_threads()}, "
          f"{args.inputs} inputs x {100 + args.n} samples, best of {args.repeats}")
    for arch in args.models:
        torch.manual_seed(0)
        shape = SHAPES[arch]
        model = build_model(arch, shape, 10, (0.5,) * shape[0], (0.25,) * shape[0])
        model = model.to(device).eval()
        x = torch.rand((args.inputs, *shape), device=device)
        begin = time.perf_counter()
        rates = measure_batch_sizes(model, x, device, n=args.n, num_classes=10)
        search = time.perf_counter() - begin
        tuned = tuned_batch_size(model, x, device, n=args.n, num_classes=10, cache=False)
        default = next(iter(rates))  # the search starts at the default batch
        net, amp, mode = engine_settings(copy.deepcopy(model), device)
        print(f"\n{arch}: bf16 {amp}, compile {mode}; search {search:.1f} s, samples/s by "
              f"batch: " + ", ".join(f"{b}: {r:.0f}" for b, r in rates.items()))
        print(f"  measured fastest: {tuned} (a second search); default: {default}")

        run = functools.partial(certify_at, net, x, amp=amp, n=args.n)
        at_default, at_tuned = run(default), run(tuned)  # also the warm-up
        columns = ["predict", "radius"]
        equal = np.array_equal(at_default[columns].to_numpy(), at_tuned[columns].to_numpy())
        best = {default: np.inf, tuned: np.inf}
        for _ in range(args.repeats):  # interleaved: robust to a busy machine
            for batch in best:
                best[batch] = min(best[batch], timed(functools.partial(run, batch), device))
        per_image = {b: s / len(x) for b, s in best.items()}
        print(f"  certify, default batch {default}: {per_image[default]:.4f} s/image")
        print(f"  certify, measured batch {tuned}: {per_image[tuned]:.4f} s/image")
        print(f"  speed-up measured/default = {per_image[default] / per_image[tuned]:.2f}x; "
              f"predictions and radii equal: {equal}")


if __name__ == "__main__":
    main()

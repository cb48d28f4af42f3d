"""CERTIFY with noise drawn in the input space against noise drawn in the k dimensions of
the toy MLP's first layer (idrs.engine.projection), side by side in one run.

Same untrained toy MLP (width 20), same inputs, n0 = 100, n = 100,000, batch 20,000, one
thread, per N of Table 5. Prints the seconds of each, their ratio, and how far the
selected class's counts of the two samplers are apart in binomial standard errors (they
draw from the same distribution with different streams, so the largest |z| over the
inputs is that of independent binomials).

    python benchmarks/noise_projection.py [--inputs 20] [--dims 2 18 60 180 400]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

import numpy as np
import torch

from idrs.engine.models import build_model
from idrs.engine.smoothing import certify


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", type=int, default=20)
    p.add_argument("--dims", type=int, nargs="+", default=[2, 18, 60, 180, 400])
    p.add_argument("--n", type=int, default=100_000)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    print(f"{datetime.date.today()}, {platform.processor() or platform.machine()}, one "
          f"thread, torch {torch.__version__}, Python {platform.python_version()}; "
          f"{args.inputs} inputs, n0 = 100, n = {args.n}, batch 20,000\n")
    print("| N | Gaussians per sample (input space, projected) | s input space | s projected "
          "| speed-up | largest abs z of the counts |\n|---|---|---|---|---|---|")
    for dim in args.dims:
        torch.manual_seed(dim)
        model = build_model("mlp", (dim,), 2).eval()
        x = torch.randn(args.inputs, dim) * 3
        runs = {}
        for project in (False, True):
            started = time.perf_counter()
            runs[project] = certify(model, x, np.zeros(args.inputs), np.arange(args.inputs),
                                    0.5, n0=100, n=args.n, alpha=0.001, num_classes=2,
                                    batch_size=20_000, project_noise=project)
            runs[project].attrs["seconds"] = time.perf_counter() - started
        plain, projected = runs[False], runs[True]
        p1, p2 = plain.count_top / args.n, projected.count_top / args.n
        spread = np.sqrt(np.maximum((p1 + p2) / 2 * (1 - (p1 + p2) / 2), 1e-12) * 2 / args.n)
        same = plain.predict.to_numpy() == projected.predict.to_numpy()
        z = np.abs(p1 - p2)[same] / spread[same]
        print(f"| {dim} | {plain.noise_dim[0]}, {projected.noise_dim[0]} | "
              f"{plain.attrs['seconds']:.2f} | {projected.attrs['seconds']:.2f} | "
              f"{plain.attrs['seconds'] / projected.attrs['seconds']:.1f}x | "
              f"{z.max() if len(z) else float('nan'):.2f} |", flush=True)


if __name__ == "__main__":
    main()

"""Calibrate the cone generator (Appendix A.5, Table 5) on the paper's constant-sigma rows.

For each point of a grid of generator constants, at every N of Table 5: draw the data
(idrs.engine.data.cone), train the toy recipe of config/toys.yaml (idrs.engine.train),
and measure the smoothed classifier's clean accuracy at the row's constant sigma on the
1,000 test points, with ``--n`` noise samples per point (a point counts as correct when
its true class wins more than 1/2 + 1.5/sqrt(n) of them: the n = 100,000 certificate's
abstention band, approximately). Prints one line per (constants, N) and, per constants,
the sum of squared errors against the printed accuracies over all six N and seeds. Only
the constant-sigma rows are used: the sigma(x) rows and the controls stay held out.

    python benchmarks/cone_calibration.py --scale 3 3.5 --outer-scale 1.5 2 \\
        --outer-dof-fraction 0.15 0.25 --seeds 0 1
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time

import numpy as np
import torch

from idrs.engine.data import load_dataset
from idrs.engine.smoothing import ESTIMATION, sample_counts
from idrs.engine.train import load_model, train
from idrs.engine.train_config import TrainConfig

#: Table 5's constant-sigma rows: N -> (sigma, printed clean accuracy).
ROWS = {2: (0.5, 0.943), 6: (0.5, 0.946), 18: (1.0, 0.86), 60: (1.0, 0.83),
        180: (2.0, 0.713), 400: (2.0, 0.623)}
#: config/toys.yaml's recipe and test set.
RECIPE = dict(arch="mlp", epochs=40, batch_size=50, lr=0.05, lr_step=30, sigma_train=0.0)
N_TEST = 500


def accuracy(dim, seed, n, **generator):
    """Clean accuracy of the smoothed toy model at the row's constant sigma."""
    ds = load_dataset("cone", dim=dim, seed=seed, n_test=N_TEST, radial="chi", **generator)
    with tempfile.TemporaryDirectory() as out:
        model = load_model(train(ds, out, TrainConfig(seed=seed, **RECIPE),
                                 progress=False))[0].eval()
    x = torch.as_tensor(ds.x_test)
    sigma = np.full(len(x), ROWS[dim][0])
    counts = np.asarray(sample_counts(model, x, sigma, np.arange(len(x)), n, seed=0,
                                      stage=ESTIMATION, num_classes=2))
    share = counts[np.arange(len(x)), ds.y_test] / n
    return float(np.mean(share > 0.5 + 1.5 / np.sqrt(n)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, nargs="+", default=[3.25])
    p.add_argument("--outer-scale", type=float, nargs="+", default=[None])
    p.add_argument("--outer-dof-fraction", type=float, nargs="+", default=[None])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--dims", type=int, nargs="+", default=list(ROWS))
    p.add_argument("--n", type=int, default=600, help="noise samples per test point")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    print("| scale | outer_scale | outer_dof_fraction | N | sigma | paper | ours (seeds) |"
          " seconds |\n|---|---|---|---|---|---|---|---|", flush=True)
    totals = []
    for scale, outer, fraction in itertools.product(args.scale, args.outer_scale,
                                                    args.outer_dof_fraction):
        generator = {"scale": scale, "outer_scale": outer, "outer_dof_fraction": fraction}
        errors = []
        for dim in args.dims:
            started = time.perf_counter()
            ours = [accuracy(dim, seed, args.n, **generator) for seed in args.seeds]
            errors += [(a - ROWS[dim][1]) ** 2 for a in ours]
            print(f"| {scale} | {outer} | {fraction} | {dim} | {ROWS[dim][0]} | "
                  f"{ROWS[dim][1]} | {', '.join(f'{a:.3f}' for a in ours)} | "
                  f"{time.perf_counter() - started:.0f} |", flush=True)
        totals.append((sum(errors) / len(args.seeds), scale, outer, fraction))
    print("\n| sum of squared errors (per seed) | scale | outer_scale | outer_dof_fraction |"
          "\n|---|---|---|---|")
    for sse, *constants in sorted(totals):
        print(f"| {sse:.4f} | " + " | ".join(str(c) for c in constants) + " |")


if __name__ == "__main__":
    main()

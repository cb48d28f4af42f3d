"""Calibrate the cone generator (Appendix A.5, Table 5) on the paper's constant-sigma rows.

For each point of a grid of generator constants, at every N of Table 5: draw the data
(idrs.engine.data.cone, with config/toys.yaml's other dataset options), train that
config's toy recipe (idrs.engine.train),
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
from pathlib import Path

import numpy as np
import torch
import yaml

from idrs.engine.data import load_dataset
from idrs.engine.smoothing import ESTIMATION, sample_counts
from idrs.engine.train import load_model, train
from idrs.engine.train_config import TrainConfig

#: The toy experiments whose data, recipe and printed constant-sigma rows are used.
CONFIG = Path(__file__).resolve().parents[1] / "config" / "toys.yaml"


def constant_rows(config) -> dict:
    """N -> (dataset options, recipe, sigma, printed accuracy) of Table 5's constant-sigma
    rows: the methods of an experiment on cone data with a printed accuracy and no rate."""
    rows = {}
    for exp in config["experiments"].values():
        data = config["datasets"][exp["dataset"]]
        for meth in exp["methods"]:
            if data.get("dim") and "paper" in meth and not meth.get("rate"):
                recipe = {**config["training"][exp["training"]],
                          "sigma_train": meth["sigma_train"]}
                rows[data["dim"]] = (data, recipe, meth["sigma"], meth["paper"]["accuracy"])
    return rows


def accuracy(row, seed, n, **generator):
    """Clean accuracy of the smoothed toy model at the row's constant sigma."""
    data, recipe, sigma, _ = row
    options = {k: v for k, v in data.items() if k not in ("loader", "dim")}
    chosen = {k: v for k, v in generator.items() if v is not None}  # else the config's
    ds = load_dataset("cone", dim=data["dim"], seed=seed, **{**options, **chosen})
    with tempfile.TemporaryDirectory() as out:
        model = load_model(train(ds, out, TrainConfig(seed=seed, **recipe),
                                 progress=False))[0].eval()
    x = torch.as_tensor(ds.x_test)
    counts = np.asarray(sample_counts(model, x, np.full(len(x), sigma), np.arange(len(x)), n,
                                      seed=0, stage=ESTIMATION, num_classes=2))
    share = counts[np.arange(len(x)), ds.y_test] / n
    return float(np.mean(share > 0.5 + 1.5 / np.sqrt(n)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # each constant defaults to config/toys.yaml's
    p.add_argument("--scale", type=float, nargs="+", default=[None])
    p.add_argument("--outer-scale", type=float, nargs="+", default=[None])
    p.add_argument("--outer-dof-fraction", type=float, nargs="+", default=[None])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--dims", type=int, nargs="+", default=None, help="default: every N")
    p.add_argument("--n", type=int, default=600, help="noise samples per test point")
    args = p.parse_args(argv)
    rows = constant_rows(yaml.safe_load(CONFIG.read_text()))
    torch.set_num_threads(1)
    print("| scale | outer_scale | outer_dof_fraction | N | sigma | paper | ours (seeds) |"
          " seconds |\n|---|---|---|---|---|---|---|---|", flush=True)
    totals = []
    for scale, outer, fraction in itertools.product(args.scale, args.outer_scale,
                                                    args.outer_dof_fraction):
        generator = {"scale": scale, "outer_scale": outer, "outer_dof_fraction": fraction}
        errors = []
        for dim in args.dims or sorted(rows):
            started = time.perf_counter()
            ours = [accuracy(rows[dim], seed, args.n, **generator) for seed in args.seeds]
            sigma, paper = rows[dim][2:]
            errors += [(a - paper) ** 2 for a in ours]
            print(f"| {scale} | {outer} | {fraction} | {dim} | {sigma} | "
                  f"{paper} | {', '.join(f'{a:.3f}' for a in ours)} | "
                  f"{time.perf_counter() - started:.0f} |", flush=True)
        totals.append((sum(errors) / len(args.seeds), scale, outer, fraction))
    print("\n| sum of squared errors (per seed) | scale | outer_scale | outer_dof_fraction |"
          "\n|---|---|---|---|")
    for sse, *constants in sorted(totals):
        print(f"| {sse:.4f} | " + " | ".join(str(c) for c in constants) + " |")


if __name__ == "__main__":
    main()

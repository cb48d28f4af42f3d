"""Calibrate the cone generator (Appendix A.5, Table 5) on the paper's constant-sigma rows.

For each point of a grid of generator constants, at every N of Table 5: draw the data
(idrs.engine.data.cone, with config/toys.yaml's other dataset options), train that
config's toy recipe (idrs.engine.train), and measure the smoothed classifier's clean
accuracy at the row's constant sigma on the 1,000 test points: CERTIFY with the
config's n0 and alpha and ``--n`` estimation samples per point (the workflow's
certificate exactly at ``--n 100000``). Prints one line per (constants, N), with the m
of sigma(x) those constants imply (median test kNN distance), and, per constants, the
sum of squared errors against the printed accuracies over all six N and seeds. Only the
constant-sigma rows are used: the sigma(x) rows and the controls stay held out.

    python benchmarks/cone_calibration.py --scale 3 3.5 --outer-scale 1.5 2 \\
        --outer-dof-fraction 0.15 0.25 --seeds 0 1
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from idrs.engine.data import cone, load_dataset
from idrs.engine.knn import knn_mean_distance
from idrs.engine.smoothing import certify
from idrs.engine.train import load_model, train
from idrs.engine.train_config import TrainConfig

#: The toy experiments whose data, recipe and printed constant-sigma rows are used.
CONFIG = Path(__file__).resolve().parents[1] / "config" / "toys.yaml"
#: The generator constants a grid may vary (keyword arguments of idrs.engine.data.cone).
CONSTANTS = ("scale", "outer_scale", "outer_dof_fraction", "half_angle")
#: Neighbours of sigma(x) (config/toys.yaml leaves k at the schema's default).
K = 20


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


def accuracy(row, seed, n0, n, alpha, data_seed=None, **generator):
    """Clean accuracy of the smoothed toy model at the row's constant sigma, and the
    median over the test points of their mean distance to the K nearest training points
    (the m that centres sigma(x), Equation 1)."""
    data, recipe, sigma, _ = row
    options = {k: v for k, v in data.items() if k not in ("loader", "dim")}
    ds = load_dataset("cone", dim=data["dim"], seed=seed if data_seed is None else data_seed,
                      **{**options, **generator})
    with tempfile.TemporaryDirectory() as out:
        model = load_model(train(ds, out, TrainConfig(seed=seed, **recipe),
                                 progress=False))[0].eval()
    x = torch.as_tensor(ds.x_test)
    records = certify(model, x, ds.y_test, np.arange(len(x)), sigma, n0=n0, n=n, alpha=alpha,
                      num_classes=2)
    m = np.median(knn_mean_distance(ds.x_test, ds.x_train, K))
    return float(records.correct.mean()), float(m)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # each constant defaults to config/toys.yaml's, or to cone()'s where the config is silent
    for key in CONSTANTS:
        p.add_argument("--" + key.replace("_", "-"), type=float, nargs="+")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--data-seed", type=int, default=None,
                   help="one data draw for every seed, as the workflow does; default: each "
                        "seed draws its own data")
    p.add_argument("--dims", type=int, nargs="+", default=None, help="default: every N")
    p.add_argument("--n", type=int, default=10_000, help="noise samples per test point")
    args = p.parse_args(argv)
    config = yaml.safe_load(CONFIG.read_text())
    rows = constant_rows(config)
    n0, alpha = config["certification"]["n0"], config["certification"]["alpha"]
    configured = next(iter(rows.values()))[0]
    defaults = inspect.signature(cone).parameters
    grid = [getattr(args, key) or [configured.get(key, defaults[key].default)]
            for key in CONSTANTS]
    torch.set_num_threads(1)
    print(f"| {' | '.join(CONSTANTS)} | N | sigma | paper | ours (seeds) | m (first seed) "
          f"| seconds |\n|{'---|' * (len(CONSTANTS) + 6)}", flush=True)
    totals = []
    for constants in itertools.product(*grid):
        generator = dict(zip(CONSTANTS, constants))
        errors = []
        for dim in args.dims or sorted(rows):
            started = time.perf_counter()
            ours, ms = zip(*[accuracy(rows[dim], seed, n0, args.n, alpha, args.data_seed,
                                      **generator)
                             for seed in args.seeds])
            sigma, paper = rows[dim][2:]
            errors += [(a - paper) ** 2 for a in ours]
            print(f"| {' | '.join(map(str, constants))} | {dim} | {sigma} | {paper} | "
                  f"{', '.join(f'{a:.3f}' for a in ours)} | {ms[0]:.2f} | "
                  f"{time.perf_counter() - started:.0f} |", flush=True)
        totals.append((sum(errors) / len(args.seeds), *constants))
    print(f"\n| sum of squared errors (per seed) | {' | '.join(CONSTANTS)} |"
          f"\n|{'---|' * (len(CONSTANTS) + 1)}")
    for sse, *constants in sorted(totals):
        print(f"| {sse:.4f} | " + " | ".join(str(c) for c in constants) + " |")


if __name__ == "__main__":
    main()

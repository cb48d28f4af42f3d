"""False-positive rate and power of every test the suite reports, by simulation.

Design: training seeds × test images (idrs.results.design_simulation): shared image difficulty,
each trained network with its own quality (logit SD tau), optionally a method × image
interaction; the effect is +0.3 on the logit (about +0.03 accuracy) for the power
columns. Tests:

* crossed t: ``compare_methods`` (the deciding test: seeds and images);
* paired t: ``compare_methods(over="seeds")`` (conditional on the test subset);
* sign-flip: its exact sign-flip p-value over per-seed differences;
* McNemar: ``mcnemar_pooled`` (descriptive, conditional on the trained networks);
* published: ``compare_methods(published=True)`` against one run of the baseline.

Rates at nominal 0.05, two-sided. Usage::

    python benchmarks/stats_calibration.py [--replicates 200] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy

from idrs.results.comparison import compare_methods, mcnemar_pooled
from idrs.results.design_simulation import simulate_pair

TESTS = ["crossed t", "paired t", "sign-flip", "McNemar", "published"]


def rejections(rng, replicates, **design) -> dict:
    hits = dict.fromkeys(TESTS, 0)
    for _ in range(replicates):
        a, b = simulate_pair(rng, **design)
        crossed = compare_methods(a, b)
        published = compare_methods(a, b[b.train_seed == 0], published=True)
        p = {"crossed t": crossed["p_value"], "sign-flip": crossed["p_sign_flip"],
             "paired t": compare_methods(a, b, over="seeds")["p_value"],
             "McNemar": mcnemar_pooled(a.correct, b.correct)["p_value"],
             "published": published["p_value"]}
        for test, value in p.items():
            hits[test] += bool(value < 0.05)
    return {test: count / replicates for test, count in hits.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).with_name("results") / "stats_calibration.md")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(20261128)
    rows, start = [], time.time()
    settings = [(tau, 0.0, s, i) for tau in (0.0, 0.1, 0.2) for s in (3, 8)
                for i in (500, 10_000)] + [(0.1, 0.5, s, 2000) for s in (3, 8)]
    for tau, interaction, seeds, images in settings:
        design = dict(seeds=seeds, images=images, tau=tau, interaction=interaction)
        null = rejections(rng, args.replicates, **design)
        power = rejections(rng, args.replicates, effect=0.3, **design)
        row = {"tau": tau, "interaction": interaction, "seeds": seeds, "images": images}
        row.update({f"FPR {t}": null[t] for t in TESTS})
        row.update({f"power {t}": power[t] for t in TESTS})
        rows.append(row)
        print(pd.DataFrame([row]).to_string(index=False, header=len(rows) == 1), flush=True)
    table = pd.DataFrame(rows)
    header = (f"# Calibration of the comparison tests ({args.replicates} replicates per "
              f"cell, nominal 0.05 two-sided)\n\n"
              f"Run {datetime.date.today()} on {platform.node()} "
              f"({platform.processor() or platform.machine()}), "
              f"Python {platform.python_version()}, numpy {np.__version__}, scipy "
              f"{scipy.__version__}, pandas {pd.__version__}; {time.time() - start:.0f} s. "
              f"Command: `python benchmarks/stats_calibration.py --replicates "
              f"{args.replicates}`. FPR: rejections with no true difference; power: with a "
              "true effect of +0.3 on the logit. A rate's binomial SE is about "
              f"{np.sqrt(0.05 * 0.95 / args.replicates):.3f} at 0.05.\n\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    formats = (".1f", ".1f", ".0f", ".0f") + (".3f",) * (2 * len(TESTS))
    args.out.write_text(header + table.to_markdown(index=False, floatfmt=formats) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

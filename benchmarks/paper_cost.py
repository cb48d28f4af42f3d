"""GPU-hours of a whole configuration (default: config/paper.yaml), from measured throughput.

The jobs are the workflow's own: a Snakemake dry run lists every train and certify
command, and each is costed from its arguments (epochs; test indices, n0 and n). The
reradius jobs (the paper's clamp computed from the exact runs' records) run on a CPU and
are counted, not costed. The
default rates are the H200 measurements of ``benchmarks/gpu_check.sh`` of 2026-11-28
(``benchmarks/results/gpu_check_h200_2026-11-28*.md``); pass your own to cost another
GPU.

    python benchmarks/paper_cost.py [--configfile config/paper.yaml]
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = 100 + 100_000   # the n0 + n of the measured seconds per image
#: seconds per epoch by (arch, precision, compile), all from one H200 run
#: (benchmarks/results/gpu_check_h200_2026-11-28_cudagraphs_train.md)
EPOCH_S = {("cifar_resnet110", "fp32", "none"): 10.8, ("cifar_resnet110", "bf16", "none"): 6.6,
           ("cifar_resnet110", "bf16", "default"): 7.1,
           ("cifar_resnet110", "bf16", "cudagraphs"): 2.9,
           ("cnn", "fp32", "none"): 0.4, ("cnn", "bf16", "none"): 0.5,
           ("cnn", "bf16", "default"): 0.5, ("cnn", "bf16", "cudagraphs"): 0.3}

#: the unit counted in a row, by the row's first word
UNITS = {"train": "epochs", "certify": "images", "radius": "shards"}


def planned_commands(configfile):
    """The shell commands of every train, certify and reradius job of a dry run from
    scratch."""
    with tempfile.TemporaryDirectory() as empty:
        done = subprocess.run(
            [str(Path(sys.executable).with_name("snakemake")), "-n", "-p", "--configfile",
             str(ROOT / configfile), "-s", str(ROOT / "Snakefile"), "-d", empty],
            capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(done.stdout[-2000:] + done.stderr[-2000:])
    return [line.split("idrs ", 1)[1] for line in done.stdout.splitlines()
            if re.search(r"\bidrs (train|certify|reradius) ", line)]


def options(command):
    words = shlex.split(command.split(" > ")[0])
    return words[0], {w[2:]: v for w, v in zip(words, words[1:] + [""]) if w.startswith("--")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="config/paper.yaml")
    parser.add_argument("--certify-s", nargs=2, action="append", metavar=("DATASET", "S"),
                        help="seconds per image at n0 + n = 100,100 (default: H200, cifar10 "
                             "0.436, mnist 0.014, both bf16 + torch.compile)")
    parser.add_argument("--epoch-s", nargs=2, action="append", metavar=("ARCH", "S"),
                        help="seconds per epoch of every recipe of ARCH (default: the H200's "
                             "EPOCH_S for the recipe's precision and compile mode)")
    args = parser.parse_args(argv)
    certify_s = {"cifar10": 0.436, "mnist": 0.014, **{d: float(s) for d, s in args.certify_s or []}}
    epoch_s = {a: float(s) for a, s in args.epoch_s or []}
    hours, counts = defaultdict(float), defaultdict(int)
    for command in planned_commands(args.configfile):
        verb, opt = options(command)
        if verb == "train":
            recipe = (opt["arch"], opt.get("precision", "fp32"), opt.get("compile", "none"))
            key = f"train {opt['dataset']} ({', '.join(recipe)})"
            rate = epoch_s.get(opt["arch"], EPOCH_S.get(recipe))
            if rate is None:
                raise SystemExit(f"no measured epoch time for {recipe}; pass --epoch-s "
                                 f"{opt['arch']} SECONDS")
            hours[key] += int(opt["epochs"]) * rate / 3600
            counts[key] += int(opt["epochs"])
        elif verb == "reradius":
            key = "radius with the paper's clamp from the exact records (CPU)"
            counts[key] += 1
            hours.setdefault(key, 0.0)  # a CPU job: counted, not costed
        else:
            images = len(range(int(opt["start"]), int(opt["stop"]), int(opt["skip"])))
            samples = int(opt.get("n0", 100)) + int(opt["n"])
            key = f"certify {opt['dataset']}"
            hours[key] += images * certify_s[opt["dataset"]] * samples / SAMPLES / 3600
            counts[key] += images
    print(f"| {args.configfile} | units | GPU-hours |\n|---|---|---|")
    for key in sorted(hours):
        unit = UNITS[key.split()[0]]
        print(f"| {key} | {counts[key]:,} {unit} | {hours[key]:.1f} |")
    print(f"| **total** | | **{sum(hours.values()):.1f}** |")


if __name__ == "__main__":
    main()

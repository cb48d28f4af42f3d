"""Command-line interface: ``idrs <command>``. Each command calls one package function."""

from __future__ import annotations

import argparse
import difflib
import logging
import math
import sys

from ..engine.data import DATASETS
from ..engine.train_config import COMPILE_MODES, TrainConfig


def _theory(args):
    from ..results.theory_report import write_theory_outputs
    for path in write_theory_outputs(args.outdir):
        print(path)


def _paper_check(args):
    from pathlib import Path

    from ..results.paper_check import check, claims_markdown, verdicts_markdown, write_paper_check
    if not (Path(args.results) / "report").is_dir():
        raise FileNotFoundError(f"{args.results} has no report/ folder: run the workflow "
                                "(make run, or snakemake --configfile ...) first.")
    if args.write:
        verdicts, claims = write_paper_check(args.results, args.config,
                                             experiments=args.experiments, name=args.name)
    else:
        verdicts, claims = check(args.results, args.config, experiments=args.experiments)
    print(verdicts_markdown(verdicts, args.config, args.name))
    print(claims_markdown(claims, args.config, args.name))


def _results_dir(args):
    from .results_dir import results_dir
    print(results_dir(args.configfiles))


def _radius(args):
    from ..certify.radius import cohen_radius, idrs_radius
    if args.rate == 0 and args.clamp is None:
        value = cohen_radius(args.p_a, args.sigma, args.p_b)
    else:
        value = idrs_radius(args.p_a, args.sigma, args.rate, args.dim, p_b=args.p_b,
                            clamp=args.clamp, conservative=not args.exact)
    print(f"{float(value):.10g}")


def _option(text):
    """KEY=VALUE of --data-option; the value as an int, a float or a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE (e.g. scale=3)")
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, value


def _dataset_name(text):
    from ..engine.plugins import is_dotted
    if text in DATASETS or is_dotted(text):
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(DATASETS)} nor "
                                     "package.module:factory")


def _spec(args):
    return {"name": args.dataset, "root": args.root, "download": not args.no_download,
            "seed": args.data_seed, "dim": args.dim_data, "options": dict(args.data_option)}


def _data(args):
    from .jobs import data_job
    for key, value in data_job(_spec(args)).items():
        print(f"{key}: {value}")


def _knn(args):
    from .jobs import knn_job
    features = {"kind": args.feature_map, "dim": args.feature_dim, "factor": args.pool_factor,
                "reference": args.reference_subset, "seed": args.feature_seed,
                "pca_sample": args.pca_sample}
    print(knn_job(_spec(args), args.split, args.k, args.out, use_gpu=not args.cpu,
                  dataset_summary=args.dataset_summary, features=features))


def _train(args):
    from .jobs import train_job
    if args.train_rate > 0 and args.train_m is None:
        raise ValueError("--train-rate > 0 needs --train-m (the m of Equation 1 at training "
                         "time; certify's --m is usually the same).")
    fields = TrainConfig.__dataclass_fields__
    config = TrainConfig(**{name: getattr(args, name) for name in fields
                            if getattr(args, name) is not None})
    print(train_job(_spec(args), config, args.out, train_distances=args.train_distances,
                    k=args.k, device=args.device, dataset_summary=args.dataset_summary,
                    deterministic=args.deterministic))


def _shard(args):
    return dict(start=args.start, stop=args.stop, skip=args.skip, seed=args.seed,
                batch_size=args.batch, device=args.device, amp=args.amp, compile=args.compile)


def evaluation_of(args):
    """The :class:`~idrs.workflow.registry.Evaluation` that ``idrs certify``'s flags
    (:meth:`~idrs.workflow.registry.Evaluation.certify_flags`) describe."""
    from .registry import Evaluation
    return Evaluation(sigma=args.sigma, rate=args.rate, k=args.k, m=args.m,
                      sigma_max=args.sigma_max, sigma_mean=args.sigma_mean, clamp=args.clamp,
                      n0=args.n0, n=args.n, alpha=args.alpha, skip=args.skip, amp=args.amp,
                      compile=args.compile, noise_seed=args.seed, batch=args.batch)


def _certify(args):
    from .jobs import certify_job
    records = certify_job(args.model, _spec(args), args.out, evaluation_of(args),
                          start=args.start,
                          stop=args.stop, distances=args.distances, device=args.device,
                          channels_last=args.channels_last,
                          dataset_summary=args.dataset_summary, expect_arch=args.expect_arch)
    print(f"{args.out}: {len(records)} inputs, accuracy {records.correct.mean():.4f}")


def _reradius(args):
    from .jobs import reradius_job
    records = reradius_job(args.records, args.out, args.clamp)
    print(f"{args.out}: {len(records)} inputs, radius {args.clamp} clamp from {args.records}")


def _import_cohen(args):
    from ..files import write_table
    from ..results.baselines import read_cohen_tsv
    records = read_cohen_tsv(args.tsv, dataset=args.dataset, arch=args.arch, sigma=args.sigma,
                             model=args.model)
    write_table(records, args.out, {"dataset": args.dataset, "source": args.tsv})
    print(f"{args.out}: {len(records)} inputs, accuracy {records.correct.mean():.4f}")


def _predict(args):
    from .jobs import predict_job
    records = predict_job(args.model, _spec(args), args.out, sigma=args.sigma, n=args.n,
                          alpha=args.alpha, **_shard(args))
    print(f"{args.out}: {len(records)} inputs, accuracy {records.correct.mean():.4f}")


def _add_summary(p):
    p.add_argument("--dataset-summary", default=None,
                   help="the file `idrs data` wrote for this dataset: its training-set "
                        "fingerprint is read instead of computed (default: compute it)")


def _add_dataset(p):
    p.add_argument("--dataset", required=True, type=_dataset_name,
                   help=f"one of {', '.join(DATASETS)}, or package.module:factory")
    p.add_argument("--root", default="data", help="data folder (default: data)")
    p.add_argument("--no-download", action="store_true",
                   help="fail instead of downloading missing files")
    p.add_argument("--data-seed", type=int, default=0,
                   help="seed of the generated toy sets (default: 0)")
    p.add_argument("--dim-data", type=int, default=None,
                   help="dimension of the cone toy set (default: none)")
    p.add_argument("--data-option", type=_option, action="append", default=[],
                   metavar="KEY=VALUE",
                   help="an option of the toy set's generator, e.g. scale=3 or radial=chi "
                        "(repeatable; see idrs.engine.data.sectors and idrs.engine.data.cone)")


def _add_device(p):
    """--device and --threads: the options that make main() import torch."""
    p.add_argument("--device", default=None,
                   help="torch device (default: cuda when available, else cpu)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads of torch (default: torch's choice)")


def _checked(kind, name, ok, allowed):
    """An argparse type: ``kind(text)`` that must satisfy ``ok``, else an error naming
    the option and its range (raised while parsing, before any model or data loads)."""
    def convert(text):
        try:
            value = kind(text)
            if ok(value):
                return value
        except ValueError:
            pass
        raise argparse.ArgumentTypeError(f"{name} == {text!r}, must be {allowed}")
    return convert


def _positive_int(name):
    return _checked(int, name, lambda v: v >= 1, "an integer >= 1")


def _batch(text):
    """``--batch``: an integer >= 1 or ``auto``."""
    return text if text == "auto" else _checked(
        int, "batch", lambda v: v >= 1, "an integer >= 1 or 'auto'")(text)


def _add_sampling(p, sigma_help="the constant noise level sigma"):
    p.add_argument("--model", required=True, help="model.pth written by `idrs train`")
    p.add_argument("--out", required=True, help="output Parquet file")
    p.add_argument("--sigma", required=True, help=sigma_help,
                   type=_checked(float, "sigma", lambda v: 0 < v < math.inf,
                                 "a finite number > 0"))
    p.add_argument("--n", type=_positive_int("n"), default=100_000,
                   help="Monte Carlo samples (default: 100000)")
    p.add_argument("--alpha", type=_checked(float, "alpha", lambda v: 0 < v < 1, "in (0, 1)"),
                   default=0.001, help="failure probability (default: 0.001)")
    p.add_argument("--start", type=_checked(int, "start", lambda v: v >= 0, "an integer >= 0"),
                   default=0, help="first test index (default: 0)")
    p.add_argument("--stop", type=int, default=None, help="end of the test indices (default: all)")
    p.add_argument("--skip", type=_positive_int("skip"), default=1,
                   help="every skip-th index (default: 1)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    p.add_argument("--batch", type=_batch, default=None,
                   help="samples per forward pass, or 'auto': measured for the model and "
                        "device, cached (default: 1000 on the CPU; on CUDA 4096, or 16384 "
                        "for inputs of at most 1024 elements)")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="bfloat16 autocast of the base classifier (default: on CUDA only)")
    p.add_argument("--compile", choices=tuple(COMPILE_MODES), default=None,
                   help="torch.compile mode of the base classifier (default: max-autotune on "
                        "CUDA, none on the CPU)")
    _add_device(p)


def _clamp(value):
    if value in ("mnist", "cifar10"):
        return value
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"clamp == {value!r}, must be 'mnist', 'cifar10' or a number in (0, 1]") from None


class _Parser(argparse.ArgumentParser):
    """No abbreviated options (``--sigma`` must not silently mean ``--sigma-train``), and
    an unknown option is reported by the command it was given to, with its usage and the
    closest option it has."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_args(self, args=None, namespace=None):
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = self._subparsers._group_actions[0].choices.get(
                getattr(parsed, "command", None), self) if self._subparsers else self
            known = [s for a in command._actions for s in a.option_strings]
            hints = [f"{word} (did you mean {close[0]}?)" if close else word
                     for word in extras
                     for close in [difflib.get_close_matches(word.split("=")[0], known, 1, 0.7)]]
            command.error(f"unrecognized arguments: {' '.join(hints)}")
        return parsed


def get_args_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="idrs", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("theory", help="write Table 1 and Figure 3 (CSV, Markdown, PNG, PDF)")
    p.add_argument("--outdir", default="results/theory",
                   help="output folder (default: results/theory)")
    p.set_defaults(func=_theory)

    p = sub.add_parser("results-dir", help="the results folder of a run on these config files")
    p.add_argument("configfiles", nargs="+", help="the run's --configfile files, in order")
    p.set_defaults(func=_results_dir)

    p = sub.add_parser("paper-check", help="print every printed cell of the paper beside "
                       "ours with a verdict, and the paper's claims with their paired tests")
    p.add_argument("results", help="the workflow's results folder (with report/ and theory/)")
    p.add_argument("--config", default="default", choices=["default", "toys", "paper"],
                   help="whose registered cells and claims (default: default)")
    p.add_argument("--write", action="store_true",
                   help="also write results/paper/ (verdicts, claims, the paper's tables)")
    p.add_argument("--name", default=None,
                   help="the configuration's name in the headers (e.g. its files)")
    p.add_argument("--experiments", nargs="+", default=None,
                   help="read these experiments' report folders only (default: every "
                        "folder under report/)")
    p.set_defaults(func=_paper_check)

    p = sub.add_parser("radius", help="print one certified radius (Theorem 3.2; rate 0: Cohen)")
    p.add_argument("--p-a", type=float, required=True, help="lower bound of p_A")
    p.add_argument("--sigma", type=float, required=True, help="sigma(x0)")
    p.add_argument("--rate", type=float, default=0.0, help="semi-elasticity r (default: 0)")
    p.add_argument("--dim", type=int, default=3072, help="input dimension (default: 3072)")
    p.add_argument("--p-b", type=float, default=None,
                   help="separate upper bound of p_B (default: 1 - p_A)")
    p.add_argument("--clamp", type=_clamp, default=None,
                   help="Appendix D clamp: mnist, cifar10 or a constant (default: none)")
    p.add_argument("--exact", action="store_true",
                   help="no evaluation-error allowance (default: conservative)")
    p.set_defaults(func=_radius)

    p = sub.add_parser("data", help="download (or generate) a dataset and summarise it")
    _add_dataset(p)
    p.set_defaults(func=_data)

    p = sub.add_parser("knn", help="mean distance to the k nearest training points")
    _add_dataset(p)
    p.add_argument("--split", choices=("test", "train"), required=True,
                   help="whose distances: test points, or training points (self excluded)")
    p.add_argument("--k", type=int, default=20, help="neighbours (default: 20)")
    p.add_argument("--out", required=True, help="output Parquet file")
    p.add_argument("--cpu", action="store_true", help="never use a GPU for the kNN search")
    p.add_argument("--feature-map", choices=("none", "pool", "pca"), default="none",
                   help="distances in the image of a norm-1 map (idrs.engine.features; "
                        "default: none)")
    p.add_argument("--feature-dim", type=int, default=256,
                   help="pca: principal directions kept (default: 256)")
    p.add_argument("--pool-factor", type=int, default=4,
                   help="pool: side of the pooling blocks (default: 4)")
    p.add_argument("--reference-subset", type=int, default=None,
                   help="a fixed random subset of this many training points as the kNN "
                        "reference set (default: all)")
    p.add_argument("--pca-sample", type=int, default=10_000,
                   help="pca: training points the directions are fitted on (default: 10000; "
                        "memory about 16 x points x dims bytes)")
    p.add_argument("--feature-seed", type=int, default=0,
                   help="seed of the subset and of PCA's sample (default: 0)")
    _add_summary(p)
    p.set_defaults(func=_knn)

    p = sub.add_parser("train", help="Gaussian-augmentation training of a base classifier")
    _add_dataset(p)
    TrainConfig.add_arguments(p)
    p.add_argument("--out", required=True, help="output folder (checkpoint, metrics, model)")
    p.add_argument("--train-distances", default=None,
                   help="training points' kNN distances (needed when --train-rate > 0)")
    p.add_argument("--k", type=int, default=None,
                   help="k of --train-distances (required with --train-rate > 0; no default)")
    p.add_argument("--deterministic", action="store_true",
                   help="deterministic kernels only: bitwise the same weights on one CUDA "
                        "device (slower)")
    _add_device(p)
    _add_summary(p)
    p.set_defaults(func=_train)

    p = sub.add_parser("certify", help="CERTIFY one shard of test indices (Parquet records)")
    _add_dataset(p)
    _add_sampling(p, "constant sigma, or sigma_b of Equation 1 when --rate > 0")
    p.add_argument("--n0", type=_positive_int("n0"), default=100,
                   help="selection samples (default: 100)")
    p.add_argument("--rate", type=float, default=0.0,
                   help="rate r of sigma(x); 0: constant sigma, Cohen's radius (default: 0)")
    p.add_argument("--distances", default=None, help="test points' kNN distances (rate > 0)")
    p.add_argument("--k", type=int, default=None,
                   help="k of --distances (required with --rate > 0; no default)")
    p.add_argument("--m", type=float, default=None,
                   help="m of Equation 1 (required with --rate > 0; no default)")
    p.add_argument("--sigma-max", type=float, default=None,
                   help="cap of sigma(x) (Appendix A.5: 5 sigma_b; default: none)")
    p.add_argument("--sigma-mean", type=float, default=None,
                   help="calibrate sigma_b so that sigma(x) averages this over the test split")
    p.add_argument("--clamp", choices=["mnist", "cifar10"], default=None,
                   help="the paper's Appendix D clamp instead of the exact radius (sound, "
                        "smaller; reproduces the paper's numbers as printed)")
    p.add_argument("--expect-arch", default=None,
                   help="refuse a model file of another architecture (pretrained models)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="channels_last image layout (default: on the CPU or with --amp)")
    _add_summary(p)
    p.set_defaults(func=_certify)

    p = sub.add_parser("reradius", help="an exact-radius shard's records with the paper's "
                       "clamp instead (no new samples)")
    p.add_argument("--records", required=True, help="the shard (idrs certify, exact radius)")
    p.add_argument("--clamp", choices=["mnist", "cifar10"], required=True,
                   help="the paper's Appendix D clamp constants")
    p.add_argument("--out", required=True, help="output Parquet file")
    p.set_defaults(func=_reradius)

    p = sub.add_parser("import-cohen", help="published Cohen-format TSV -> idrs records")
    p.add_argument("--tsv", required=True, help="file with columns idx label predict radius "
                   "correct time")
    p.add_argument("--dataset", required=True, help="dataset it belongs to")
    p.add_argument("--arch", required=True, help="architecture of the published model")
    p.add_argument("--sigma", type=float, required=True, help="its noise level")
    p.add_argument("--model", default=None, help="a name for the published model")
    p.add_argument("--out", required=True, help="output Parquet file")
    p.set_defaults(func=_import_cohen)

    p = sub.add_parser("predict", help="PREDICT one shard of test indices (Parquet records)")
    _add_dataset(p)
    _add_sampling(p)
    p.set_defaults(func=_predict)
    for command in sub.choices.values():  # -v before or after the command
        command.add_argument("-v", "--verbose", action="store_true",
                             default=argparse.SUPPRESS, help="log progress")
    return parser


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if hasattr(args, "device"):  # only the commands that run torch import it
        import torch
        if args.device is None:
            args.device = "cuda" if torch.cuda.is_available() else "cpu"
        if args.threads:
            torch.set_num_threads(args.threads)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:  # one clear line
        print(f"idrs {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

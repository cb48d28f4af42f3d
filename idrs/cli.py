"""Command-line interface: ``idrs <command>``. Each command calls one package function."""

from __future__ import annotations

import argparse
import logging
import sys


def _theory(args):
    from .theory_report import write_theory_outputs
    for path in write_theory_outputs(args.outdir):
        print(path)


def _radius(args):
    from .radius import cohen_radius, idrs_radius
    if args.rate == 0 and args.clamp is None:
        value = cohen_radius(args.p_a, args.sigma, args.p_b)
    else:
        value = idrs_radius(args.p_a, args.sigma, args.rate, args.dim, p_b=args.p_b,
                            clamp=args.clamp, conservative=not args.exact)
    print(f"{float(value):.10g}")


def _clamp(value):
    if value in ("mnist", "cifar10"):
        return value
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"clamp == {value!r}, must be 'mnist', 'cifar10' or a number in (0, 1]") from None


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="idrs", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("theory", help="write Table 1 and Figure 3 (CSV, Markdown, PNG, PDF)")
    p.add_argument("--outdir", default="results/theory",
                   help="output folder (default: results/theory)")
    p.set_defaults(func=_theory)

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
    return parser


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        args.func(args)
    except ValueError as err:  # bad input: one clear line, no traceback
        print(f"idrs {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

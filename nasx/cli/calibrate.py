"""Fit a few-label calibration: learn how to combine proxies from a few trained architectures.

Scores the architectures of a ground-truth CSV (an arch column and an accuracy column, e.g. 10
to 100 networks you trained) with every proxy of --proxy on one probe batch, fits the ranking
model of nasx.calibrate (one proxy, ridge regression or a pairwise logistic model on the
proxies' quantiles, chosen by out-of-fold Kendall tau on the labels), and writes it to --out.
Then use it as a proxy: --proxy calibrated:FILE (with the same data settings).

Example:
  nasx calibrate --space darts --truth trained.csv --acc-col accuracy \\
      --proxy synflow,naswot,jacob-cov,params,flops --out cal.json
  nasx search --space darts --proxy calibrated:cal.json --budget 500
"""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from .common import (
    Renderer,
    add_common,
    check_output_path,
    dump_json,
    parse_kv,
    run_settings,
)

HELP = "fit a proxy combination on a few labelled architectures (use: calibrated:FILE)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common(p, proxy_default="synflow,naswot,jacob-cov,snip,grad-norm,params,flops")
    g = p.add_argument_group("calibration options")
    g.add_argument("--truth", default=None, metavar="FILE.csv",
                   help="CSV of labelled architectures: an arch column and an accuracy column")
    g.add_argument("--arch-col", default="arch", help="architecture column [arch]")
    g.add_argument("--acc-col", default="accuracy", help="accuracy column [accuracy]")
    g.add_argument("--out", default=None, metavar="FILE.json", help="model file to write")


def run(args: argparse.Namespace) -> int:
    from ..calibrate import fit_from_truth
    from ..engine.session import Session

    if not args.truth:
        raise ConfigError("--truth FILE.csv is required")
    if not args.out:
        raise ConfigError("--out FILE.json is required (the model file to write)")
    check_output_path(args.out, "--out")
    features = [p.strip() for p in str(args.proxy).split(",") if p.strip()]
    with Renderer(quiet=args.quiet) as render:
        with Session(run_settings(args, render)) as session:
            model = fit_from_truth(
                args.truth, args.space, features, out=args.out, arch_col=args.arch_col,
                acc_col=args.acc_col, space_opts=parse_kv(args.space_opt, "--space-opt"),
                session=session)
    if args.json:
        print(dump_json(model.to_dict() | {"proxy": f"calibrated:{args.out}"}))
        return 0
    weights = ", ".join(f"{n} {w:+.3f}" for n, w in zip(model.features, model.weights) if w)
    print(f"{model.kind} {model.params} on {model.fitted_on['n_labels']} labels "
          f"(key {model.key}): {weights}")
    best = max((r["cv_kendall"] for r in model.selection), default=float("nan"))
    print(f"out-of-fold Kendall tau of the chosen model: {best:.4f}")
    print(f"use it as: --proxy calibrated:{args.out}")
    return 0

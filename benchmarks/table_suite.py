"""The paper's NAS-Bench-201 tables, scored by several worker processes (CPU cores or one GPU).

Phase 1 samples ``--n`` NAS-Bench-201 cells (seeded, the same sample as ``nasx eval`` /
``benchmarks/paper_tables.py`` with that seed), deals them in a seeded random order to
``--shards`` worker processes, and each worker scores its cells with every proxy of the paper
(one network and one probe batch per cell, shared by all proxies) into one SQLite store, until
its cells are done or ``--time-budget`` seconds have passed. Phase 2 reads the store and reports
the paper-table metrics on the cells that every proxy has scored. Because cells are processed in
a random order, the scored cells are a uniform random subset of the sample when the budget cuts
the run short; the output says how many there are. Rerunning with the same ``--store`` resumes.

The JSON has the layout of ``benchmarks/paper_tables.py`` (render it with
``python benchmarks/paper_tables.py --render-readme FILE``), plus the median seconds per cell of
each proxy as recorded while the workers shared the GPU (contended: see
``benchmarks/speed.py`` for clean timings).

Run:
    python benchmarks/table_suite.py --device cuda --n 1000 --shards 6 --time-budget 330 \\
        --store bench_out/suite.sqlite --out bench_out/paper_tables_gpu.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def _sample(truth: str, n: int, seed: int) -> tuple[list[str], np.ndarray]:
    from nasx.api import make_space
    from nasx.evaluation import read_truth

    space = make_space("nasbench201")
    pairs = read_truth(truth, space, "arch", "cifar10_test")
    merged: dict[Any, list[float]] = {}
    for a, acc in pairs:
        merged.setdefault(a, []).append(acc)
    archs = list(merged)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(archs), size=n, replace=False))
    return [archs[i].text for i in idx], idx


def _worker(args: dict[str, Any], texts: list[str], deadline: float) -> int:
    import torch

    torch.set_num_threads(args["threads"])
    from nasx.api import ScoreService, make_batch, make_space
    from nasx.population import leaf_proxies
    from nasx.store import open_store

    space = make_space("nasbench201")
    batch = make_batch(args["probe"], space, batch_size=args["batch_size"], seed=args["seed"])
    store = open_store(args["store"])
    service = ScoreService(space, leaf_proxies(args["proxies"]), batch, device=args["device"],
                           seed=args["seed"], store=store)
    done = 0
    for t in texts:
        if time.time() >= deadline:
            break
        service.score([space.parse(t)])
        done += 1
    store.close()
    return done


def main(argv: list[str] | None = None) -> int:
    from paper_tables import PAPER, dataset_of, print_table, shared_data

    argv = list(sys.argv[1:] if argv is None else argv)
    d = shared_data()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shards", type=int, default=6)
    ap.add_argument("--time-budget", type=float, default=330.0)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads per worker")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--proxies", default=",".join(p[0] for p in PAPER))
    ap.add_argument("--truth", default=str(d / "nasbench201" / "accuracies.csv"))
    ap.add_argument("--probe", default=str(d / "cifar10" / "probe_train.npz"))
    ap.add_argument("--acc-cols", default="cifar10_test,cifar100_test,imagenet16_test")
    ap.add_argument("--store", required=True)
    ap.add_argument("--plots", default=None, metavar="DIR",
                    help="score-vs-accuracy scatter plots of gradalign-i and -ii (nasx[plot])")
    ap.add_argument("--dump-scores", default=None, metavar="FILE.csv",
                    help="also write every scored cell's leaf-proxy values and accuracies "
                         "(the input of benchmarks/ensemble_nb201.py)")
    ap.add_argument("--out", required=True, help="JSON for the first accuracy column; the "
                    "others get the column name appended")
    args = ap.parse_args(argv)

    import torch

    import nasx
    from nasx.api import make_batch, make_space
    from nasx.evaluation import rank_metrics, read_truth
    from nasx.population import leaf_proxies, population_values
    from nasx.proxies.base import get_proxy
    from nasx.scoring import device_kind, resolve_device

    registered = set(nasx.list_proxies())
    proxies = [p for p in args.proxies.split(",") if p in registered]
    skipped = [{"proxy": p, "note": "not registered"} for p in args.proxies.split(",")
               if p not in registered]
    t0 = time.time()
    texts, _ = _sample(args.truth, args.n, args.seed)
    order = np.random.default_rng(args.seed + 1).permutation(len(texts))
    shards = [[texts[i] for i in order[k::args.shards]] for k in range(args.shards)]
    wargs = {"threads": args.threads, "probe": args.probe, "batch_size": args.batch_size,
             "seed": args.seed, "store": args.store, "proxies": proxies,
             "device": args.device}
    deadline = t0 + args.time_budget
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.shards) as pool:
        done = pool.starmap(_worker, [(wargs, s, deadline) for s in shards])
    t_score = time.time() - t0
    print(f"scored {sum(done)} of {len(texts)} cells in {t_score:.0f}s "
          f"({args.shards} workers)", file=sys.stderr)

    # phase 2: metrics on the cells every proxy has scored
    from nasx.api import ScoreService
    from nasx.store import open_store

    space = make_space("nasbench201")
    dev = resolve_device(args.device)
    batch = make_batch(args.probe, space, batch_size=args.batch_size, seed=args.seed)
    store = open_store(args.store)
    leaves = leaf_proxies(proxies)
    svc = ScoreService(space, leaves, batch, device=dev, seed=args.seed, store=store)
    rows = []
    for t in texts:
        a = space.parse(t)
        res = {lf.name: store.get(svc.key(a, lf), lf.higher_is_better) for lf in leaves}
        if all(r is not None for r in res.values()):
            rows.append((t, res))
    kept = [t for t, _ in rows]
    leaf_values = {lf.name: [r[lf.name].value if r[lf.name].ok else None for _, r in rows]
                   for lf in leaves}
    cols = [c for c in args.acc_cols.split(",") if c]
    truths = {c: {a.text: acc for a, acc in read_truth(args.truth, space, "arch", c)}
              for c in cols}
    if args.dump_scores:
        import csv

        Path(args.dump_scores).parent.mkdir(parents=True, exist_ok=True)
        with open(args.dump_scores, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["arch", *cols, *(lf.name for lf in leaves)])
            for i, t in enumerate(kept):
                w.writerow([t, *(truths[c][t] for c in cols),
                            *("" if leaf_values[lf.name][i] is None
                              else repr(leaf_values[lf.name][i]) for lf in leaves)])
    leaf_secs = {lf.name: float(np.median([r[lf.name].seconds for _, r in rows]))
                 if rows else None for lf in leaves}
    env = {"python": platform.python_version(), "torch": torch.__version__,
           "nasx": nasx.__version__, "device": str(dev),
           "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else
           platform.processor() or platform.machine(), "threads": args.threads,
           "workers": args.shards}
    outs = []
    for k, col in enumerate(cols):
        acc = np.array([truths[col][t] for t in kept])
        dataset = dataset_of(col)
        table = []
        known = {p[0] for p in PAPER}
        for name, label, taus, top1s in PAPER + [(p, p, {}, {}) for p in proxies
                                                 if p not in known]:
            if name not in proxies:
                continue
            spec = get_proxy(name)
            vals = population_values(spec, leaf_values)
            m = rank_metrics(vals, acc, spec.higher_is_better)
            secs = (sum(leaf_secs[c.name] or 0.0 for c in leaf_proxies([name]))
                    if rows else None)
            table.append({"proxy": name, "paper_label": label,
                          "paper_kendall": taus.get(dataset or ""),
                          "paper_top1_acc": top1s.get(dataset or ""),
                          **{kk: m.get(kk) for kk in (
                              "kendall", "spearman", "pearson", "precision_top1",
                              "precision_top5", "precision_top10", "top1_acc", "top1_rank",
                              "top1_ties", "best_acc", "failed")},
                          "seconds": secs, "higher_is_better": spec.higher_is_better})
        note = None
        if dataset not in (None, "cifar10"):
            note = (f"{col} ranked with CIFAR-10 probe images (10-class networks); the paper "
                    "probed with the dataset's own images")
        res = {
            "benchmark": "GradAlign paper Tables 4 and 5 (NAS-Bench-201), parallel suite",
            "dataset": dataset, "acc_col": col, "note": note, "smoke": len(kept) < 500,
            "table": table, "skipped": skipped,
            "settings": {"sample": len(kept), "sampled": len(texts), "seed": args.seed,
                         "init_seeds": 1, "batch_size": len(batch),
                         "data": batch.source, "data_fingerprint": batch.fingerprint,
                         "device": device_kind(dev), "space": "nasbench201",
                         "space_opts": dict(space.opts)},
            "env": env, "seconds": round(t_score, 1),
            "command": "python benchmarks/table_suite.py " + " ".join(shlex.quote(a)
                                                                    for a in argv),
        }
        if args.plots:
            from nasx.evaluation import EvalReport
            from nasx.plot import plot_eval

            metrics, rows_out = {}, []
            for name in ("gradalign-i", "gradalign-ii"):
                if name not in proxies:
                    continue
                spec = get_proxy(name)
                vals = population_values(spec, leaf_values)
                metrics[name] = {**rank_metrics(vals, acc, spec.higher_is_better),
                                 "higher_is_better": spec.higher_is_better}
                rows_out += [(t, name, float(v) if np.isfinite(v) else None, float(a),
                              args.seed) for t, v, a in zip(kept, vals, acc)]
            if metrics:
                report = EvalReport(metrics, tuple(rows_out),
                                    {"acc_col": col, "sample": len(kept), "space": "nasbench201",
                                     "batch_size": len(batch), "data": batch.source})
                Path(args.plots).mkdir(parents=True, exist_ok=True)
                plot_eval(report, Path(args.plots) / f"gradalign_{col}_n{len(kept)}.png")
        path = Path(args.out) if k == 0 else Path(args.out).with_name(
            Path(args.out).stem + f"_{col}.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res, indent=2, default=str) + "\n")
        print_table(res)
        outs.append(str(path))
    print("wrote", ", ".join(outs))
    return 0


if __name__ == "__main__":
    sys.exit(main())

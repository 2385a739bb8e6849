"""Plots (optional extra: ``pip install 'nasx[plot]'``, which installs matplotlib).

* :func:`plot_eval`: score versus ground-truth accuracy, one scatter panel per proxy, with the
  Kendall tau in each title (the GradAlign paper's Figures 2 and 3);
* :func:`plot_linear_regions`: linear regions of small 2-D-input ReLU networks, side by side
  (the paper's Figure 4, see :mod:`nasx.linear_regions`);
* :func:`plot_pareto`: fitness against one cost for evaluated architectures, with their Pareto
  front (see :mod:`nasx.pareto`).

matplotlib is imported lazily, and only its object-oriented API is used (``Figure`` with the
Agg canvas), so plotting never changes the global pyplot state or backend.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = ["plot_eval", "plot_linear_regions", "plot_pareto", "require_matplotlib"]


def require_matplotlib() -> Any:
    """Import matplotlib or raise a :class:`~nasx.errors.ConfigError` saying how to install it."""
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        raise ConfigError(
            "plotting needs matplotlib, which is not installed: pip install 'nasx[plot]' "
            "(or pip install matplotlib)"
        ) from None
    return matplotlib


def _new_figure(width: float, height: float) -> Any:
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(fig)
    return fig


def _fmt_tau(m: dict[str, Any]) -> str:
    tau = m.get("kendall")
    if tau is None or not math.isfinite(tau):
        return "τ = n/a"
    text = f"τ = {tau:.3f}"
    std = m.get("kendall_std")
    if std is not None and math.isfinite(std):
        text += f" ± {std:.3f}"
    return text


def plot_eval(report: Any, path: str | os.PathLike[str], *,
              proxies: Sequence[str] | None = None, init_seed: int | None = None,
              columns: int | None = None, logx: bool | None = None) -> str:
    """Scatter of raw proxy score (x) against accuracy (y), one panel per proxy.

    Each title names the proxy and its Kendall tau (mean ± std over initialisation seeds when
    there are several); points are the architectures of one initialisation seed (default the
    first). Failed scores are left out of the panel (the caption counts them).

    Args:
        report: an :class:`~nasx.evaluation.EvalReport`.
        path: output image (the format follows the suffix: ``.png``, ``.pdf``, ``.svg``).
        proxies: which proxies (default: all of the report).
        init_seed: which initialisation seed's scores to draw.
        columns: panels per row (default: up to 4).
        logx: logarithmic score axis; default: when all scores are positive and span more than
            three decades.

    Returns:
        The path written.

    Example:
        >>> plot_eval(nasx.evaluate(...), "scatter.png")  # doctest: +SKIP
    """
    names = list(proxies) if proxies is not None else list(report.metrics)
    if not names:
        raise ConfigError("nothing to plot: the report has no proxy")
    cols = columns or min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig = _new_figure(3.6 * cols, 3.2 * rows)
    acc_name = report.settings.get("acc_col", "accuracy")
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        _, vals, accs = report.scores(name, init_seed)
        ok = np.isfinite(vals)
        ax.scatter(vals[ok], accs[ok], s=6, alpha=0.5, linewidths=0, color="tab:blue")
        use_log = logx
        if use_log is None:
            v = vals[ok]
            use_log = bool(len(v) and np.all(v > 0) and v.max() / v.min() > 1e3)
        if use_log:
            ax.set_xscale("log")
        m = dict(report.metrics[name])
        ax.set_title(f"{name}: {_fmt_tau(m)}", fontsize=10)
        ax.set_xlabel(f"{name} score" + ("" if m.get("higher_is_better", True)
                                         else " (lower is better)"), fontsize=8)
        ax.set_ylabel(f"{acc_name} (%)", fontsize=8)
        ax.tick_params(labelsize=7)
        n_fail = int((~ok).sum())
        if n_fail:
            ax.text(0.02, 0.02, f"{n_fail} failed", transform=ax.transAxes, fontsize=7,
                    color="tab:red")
    s = report.settings
    fig.suptitle(f"{s.get('space', '')}: {s.get('sample', '')} archs vs {acc_name}\nprobe "
                 f"batch {s.get('batch_size', '')} of {s.get('data', '')}", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.fspath(path))
    return os.fspath(path)


def plot_linear_regions(partitions: Sequence[Sequence[Any]], path: str | os.PathLike[str], *,
                        titles: Sequence[str] | None = None,
                        box: Any = None, seed: int = 0) -> str:
    """Draw one or more partitions of the input plane into linear regions, side by side.

    Args:
        partitions: per panel, the regions of :func:`nasx.linear_regions.linear_region_polygons`
            (objects with ``vertices``, an (m, 2) array).
        path: output image.
        titles: one title per panel (default: the region count).
        box: the input box (as accepted by :func:`nasx.linear_regions.count_linear_regions`)
            to frame the panels; default: the regions' extent.
        seed: seed of the (random, for contrast) region colours.

    Returns:
        The path written.
    """
    from matplotlib.patches import Polygon

    from .linear_regions import parse_box

    if not partitions:
        raise ConfigError("nothing to plot: no partition given")
    fig = _new_figure(4.2 * len(partitions), 4.2)
    rng = np.random.default_rng(seed)
    for i, regions in enumerate(partitions):
        ax = fig.add_subplot(1, len(partitions), i + 1)
        colours = rng.uniform(0.35, 0.95, size=(max(1, len(regions)), 3))
        for r, c in zip(regions, colours):
            ax.add_patch(Polygon(np.asarray(r.vertices, dtype=float), closed=True,
                                 facecolor=c, edgecolor="black", linewidth=0.8))
        if box is not None:
            (x0, x1), (y0, y1) = parse_box(box)
        else:
            pts = np.concatenate([np.asarray(r.vertices, dtype=float) for r in regions])
            (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
        ax.set_xlim(float(x0), float(x1))
        ax.set_ylim(float(y0), float(y1))
        ax.set_aspect("equal")
        ax.set_title(titles[i] if titles else f"{len(regions)} linear regions", fontsize=10)
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
    fig.tight_layout()
    fig.savefig(os.fspath(path))
    return os.fspath(path)


_UNITS = {"params": "parameters", "flops": "FLOPs per image", "latency": "latency (ms)"}


def plot_pareto(points: Sequence[Any], path: str | os.PathLike[str], *, cost: str = "params",
                front: Sequence[Any] | None = None, title: str = "",
                logx: bool = False) -> str:
    """Scatter of ``cost`` (x, lower is better) against fitness (y, higher is better), the
    Pareto front drawn over it as a staircase.

    Args:
        points: :class:`~nasx.pareto.ParetoPoint` values (or ``(arch, fitness, costs)``
            triples); those without a finite fitness or ``cost`` are left out.
        path: output image (``.png``, ``.pdf``, ``.svg``).
        cost: the cost on the x axis (``params``, ``flops``, ``latency`` or any key of the
            points' costs).
        front: the front to draw (default: :func:`nasx.pareto.pareto_front` of ``points``
            over ``cost`` alone).
        title: the figure's title.
        logx: logarithmic cost axis.

    Returns:
        The path written.
    """
    from .pareto import ParetoPoint, pareto_front

    require_matplotlib()
    pts = [p if isinstance(p, ParetoPoint) else ParetoPoint(str(p[0]), float(p[1]), p[2])
           for p in points]
    pts = [p for p in pts if math.isfinite(p.fitness) and cost in p.costs
           and math.isfinite(float(p.costs[cost]))]
    if not pts:
        raise ConfigError(f"nothing to plot: no point has a finite fitness and a {cost!r} cost")
    on = pareto_front(pts, (cost,)) if front is None else list(front)
    fig = _new_figure(5.0, 3.8)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter([float(p.costs[cost]) for p in pts], [p.fitness for p in pts], s=8, alpha=0.4,
               linewidths=0, color="tab:blue", label=f"evaluated ({len(pts)})")
    ordered = sorted(on, key=lambda p: float(p.costs[cost]))
    xs = [float(p.costs[cost]) for p in ordered]
    ys = [p.fitness for p in ordered]
    ax.step(xs, ys, where="post", color="tab:red", linewidth=1.2)
    ax.scatter(xs, ys, s=18, color="tab:red", label=f"Pareto front ({len(ordered)})")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(_UNITS.get(cost, cost) + " (lower is better)", fontsize=8)
    ax.set_ylabel("fitness (higher is better)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(os.fspath(path))
    return os.fspath(path)

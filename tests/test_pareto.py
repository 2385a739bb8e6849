"""The Pareto front: hand-made points with a known front, the search helper, the result's
``pareto`` field and the plot."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nasx.errors import ConfigError
from nasx.pareto import ParetoPoint, pareto_front, search_front
from nasx.records import SearchResult
from nasx.registry import make_space

# fitness (higher better) and params (lower better); the front is a, b, e (known by hand):
# c is dominated by b (less fit, costlier), d by a (as fit, costlier), f by e (equal cost,
# less fit), g failed, h lacks the cost
POINTS = [
    ("a", 0.9, {"params": 5.0, "latency": 3.0}),
    ("b", 0.8, {"params": 2.0, "latency": 4.0}),
    ("c", 0.7, {"params": 3.0, "latency": 1.0}),
    ("d", 0.9, {"params": 6.0, "latency": 3.0}),
    ("e", 0.5, {"params": 1.0, "latency": 5.0}),
    ("f", 0.4, {"params": 1.0, "latency": 5.0}),
    ("g", -math.inf, {"params": 0.5, "latency": 0.5}),
    ("h", 1.0, {"latency": 9.0}),
]


def test_known_front_one_cost() -> None:
    front = pareto_front(POINTS, ("params",))
    assert [p.arch for p in front] == ["a", "b", "e"]
    assert front[0] == ParetoPoint("a", 0.9, {"params": 5.0, "latency": 3.0})


def test_known_front_two_costs() -> None:
    # with latency too, c (lowest latency of the finite ones) joins the front
    assert [p.arch for p in pareto_front(POINTS, ("params", "latency"))] == ["a", "b", "c", "e"]


def test_equal_points_both_stay_and_empty_input() -> None:
    pts = [("x", 1.0, {"params": 1.0}), ("y", 1.0, {"params": 1.0}),
           ("z", 0.5, {"params": 1.0})]
    assert [p.arch for p in pareto_front(pts)] == ["x", "y"]
    assert pareto_front([]) == []


def test_front_matches_brute_force_on_random_points() -> None:
    rng = np.random.default_rng(0)
    pts = [ParetoPoint(str(i), float(f), {"params": float(a), "flops": float(b)})
           for i, (f, a, b) in enumerate(rng.integers(0, 6, size=(60, 3)))]

    def dominated(p: ParetoPoint) -> bool:
        return any(q.fitness >= p.fitness and all(q.costs[k] <= p.costs[k] for k in q.costs)
                   and (q.fitness > p.fitness or any(q.costs[k] < p.costs[k] for k in q.costs))
                   for q in pts)

    got = {p.arch for p in pareto_front(pts, ("params", "flops"))}
    assert got == {p.arch for p in pts if not dominated(p)} and got


def test_search_front_measures_costs() -> None:
    space = make_space("nasbench201", C=8, N=1, input_size=8)
    archs = [space.from_index(i) for i in (1, 5000, 9930, 42)]
    fitness = [1.0, 2.0, 3.0, -math.inf]
    front = search_front(space, [*archs, archs[2]], [*fitness, 3.0], ("params", "flops"))
    assert len({p.arch for p in front}) == len(front)  # evaluated twice, listed once
    assert front and all(set(p.costs) == {"params", "flops"} for p in front)
    assert str(archs[3]) not in {p.arch for p in front}
    # the fittest evaluated architecture is always on the front
    assert front[0].arch == str(archs[2]) and front[0].fitness == 3.0
    with pytest.raises(ConfigError, match="objectives"):
        search_front(space, archs, fitness, ("accuracy",))


def test_search_result_pareto_in_to_dict() -> None:
    kw = {"best": None, "score": None, "proxy": "p", "space": "s", "strategy": "random",
          "seed": 0, "evaluated": 0, "cached": 0, "failed": 0, "seconds": 0.0,
          "data_fingerprint": "f", "top": (), "run_id": "r"}
    assert "pareto" not in SearchResult(**kw).to_dict()
    front = tuple(p.to_dict() for p in pareto_front(POINTS))
    d = SearchResult(**kw, pareto=front).to_dict()
    assert [p["arch"] for p in d["pareto"]] == ["a", "b", "e"]
    assert d["pareto"][1] == {"arch": "b", "fitness": 0.8, "params": 2.0, "latency": 4.0}


def test_plot_pareto(tmp_path) -> None:
    from nasx.plot import plot_pareto

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="nasx\\[plot\\]"):
            plot_pareto(POINTS, tmp_path / "p.png")
        return
    out = plot_pareto(POINTS, tmp_path / "p.png", cost="params", title="t")
    assert (tmp_path / "p.png").stat().st_size > 0 and out.endswith("p.png")
    with pytest.raises(ConfigError, match="nothing to plot"):
        plot_pareto(POINTS, tmp_path / "q.png", cost="zz")


TINY201 = {"C": 8, "N": 1, "input_size": 8}


def test_search_reports_the_front_of_what_it_evaluated() -> None:
    import nasx

    r = nasx.search("nasbench201", "synflow", "random", budget=8, space_opts=TINY201,
                    device="cpu", store=False, pareto=("params", "flops"))
    assert r.pareto and all({"params", "flops"} <= set(p) for p in r.pareto)
    # nothing evaluated dominates a point of the front
    front = {p["arch"] for p in r.pareto}
    assert r.best.text in front  # the fittest is always on the front
    assert "pareto" in r.to_dict()
    with pytest.raises(ConfigError, match="Pareto objectives"):
        nasx.search("nasbench201", "synflow", "random", budget=2, space_opts=TINY201,
                    device="cpu", store=False, pareto=("params", "memory"))


def test_cli_pareto_table_and_json(capsys) -> None:
    import json

    from nasx.cli.main import main

    argv = ["search", "--space", "nasbench201", "--space-opt", "C=8", "--space-opt", "N=1",
            "--space-opt", "input_size=8", "--proxy", "synflow", "--budget", "6",
            "--no-store", "--device", "cpu", "--pareto", "params"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "Pareto front (synflow against params)" in err
    assert main([*argv, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["pareto"] and d["pareto"][0]["arch"] == d["best"]
    assert main([*argv, "--pareto-plot", "x.png", "--pareto", ""]) == 2
    assert "--pareto-plot needs --pareto" in capsys.readouterr().err


def test_max_latency_constraint_reaches_the_search() -> None:
    import nasx

    r = nasx.search("nasbench201", "params", "random", budget=4, space_opts=TINY201,
                    device="cpu", store=False, max_latency_ms=1e-6)
    assert r.best is None and r.infeasible > 0  # nothing runs in a nanosecond
    assert r.settings["constraints"]["max_latency_ms"] == 1e-6

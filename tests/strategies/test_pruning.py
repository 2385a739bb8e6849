"""Proxy-guided (TE-NAS) pruning: ask/tell without torch, then through ``nasx.search``."""

from __future__ import annotations

import math

import pytest

from nasx.errors import BudgetError, ConfigError, InvalidArchError, NasxError
from nasx.records import Evaluation
from nasx.spaces.nasbench201 import EDGES, OPS, NASBench201
from nasx.strategies.pruning import PruningSearch, SupernetSpace
from nasx.testing.toy import ToySpace

TINY = {"C": 8, "N": 1, "input_size": 8}
pytestmark = pytest.mark.filterwarnings("ignore:synthetic probe data")

# a known objective over supernets: each edge has a value per op; a supernet scores the sum over
# edges of the mean value of its ops, so removing the worst op of an edge helps most and pruning
# must end with the best op of every edge
VALUES = {
    (0, 1): {"skip_connect": 3, "nor_conv_1x1": 1, "nor_conv_3x3": 2, "avg_pool_3x3": 0,
             "none": 5},
    (0, 2): {"skip_connect": 0, "nor_conv_1x1": 4, "nor_conv_3x3": 2, "avg_pool_3x3": 1,
             "none": -1},
    (1, 2): {"skip_connect": 1, "nor_conv_1x1": 0, "nor_conv_3x3": 4, "avg_pool_3x3": 2,
             "none": -1},
    (0, 3): {"skip_connect": 2, "nor_conv_1x1": 1, "nor_conv_3x3": 0, "avg_pool_3x3": 3,
             "none": -1},
    (1, 3): {"skip_connect": 1, "nor_conv_1x1": 2, "nor_conv_3x3": 3, "avg_pool_3x3": 0,
             "none": -1},
    (2, 3): {"skip_connect": 0, "nor_conv_1x1": 3, "nor_conv_3x3": 1, "avg_pool_3x3": 2,
             "none": -1},
}


def _value(wrapped: SupernetSpace, arch) -> float:
    if wrapped.is_supernet(arch):
        sets = wrapped.op_sets(arch)
    else:
        sets = {e: (op,) for e, op in zip(EDGES, arch.spec)}
    return sum(sum(VALUES[e][o] for o in ops) / len(ops) for e, ops in sets.items())


def _drive(pr: PruningSearch, n: int = 1) -> list:
    asked = []
    while True:
        batch = pr.ask(n)
        if not batch:
            return asked
        for a in batch:
            asked.append(a)
            pr.tell(a, _value(pr.wrapped, a))


@pytest.mark.parametrize("n", [1, 7, 100])
def test_converges_to_the_best_op_of_every_edge(n):
    space = NASBench201(**TINY)
    pr = PruningSearch(space, seed=0)
    asked = _drive(pr, n)
    best = tuple(max((o for o in OPS if o != "none"), key=lambda o: VALUES[e][o]) for e in EDGES)
    assert pr.converged
    assert pr.result() == space.parse(NASBench201(**TINY)._arch(best).text)
    assert all(len(ops) == 1 for ops in pr.op_sets.values())
    # 3 rounds of 24, 18 and 12 supernets, then the final cell once
    assert len(asked) == pr.planned_evaluations == 6 * 9 + 1
    assert [len(h["pruned"]) for h in pr.history] == [6, 6, 6]
    assert asked[-1] == pr.result() and not pr.wrapped.is_supernet(asked[-1])
    assert all(pr.wrapped.is_supernet(a) for a in asked[:-1])
    # every supernet of a round is its predecessor minus exactly one op on one edge
    first = pr.wrapped.op_sets(asked[0])
    assert sum(len(v) for v in first.values()) == 6 * 4 - 1
    assert all("none" not in ops for ops in first.values())  # TE-NAS drops `none` first


def test_keeping_none_and_without_final_score():
    space = NASBench201(**TINY)
    pr = PruningSearch(space, seed=0, exclude="", score_final=False)
    asked = _drive(pr)
    assert len(asked) == pr.planned_evaluations == 6 * 14
    assert pr.result().spec[0] == "none"  # edge (0, 1) values `none` most


def test_population_proxy_ranks_within_the_round():
    """A population proxy is combined over the candidates of one round (TE-NAS rank sum)."""
    from nasx.population import rank_sum
    from nasx.proxies.base import get_proxy, register_proxy

    register_proxy("prune-test-a", higher_is_better=True, needs=("none",), replace=True)(
        lambda model, batch, ctx: 0.0)
    register_proxy("prune-test-b", higher_is_better=False, needs=("none",), replace=True)(
        lambda model, batch, ctx: 0.0)
    register_proxy("prune-test-pop", higher_is_better=True, components=["prune-test-a",
                   "prune-test-b"], combine=rank_sum, replace=True)
    spec = get_proxy("prune-test-pop")

    class R:
        def __init__(self, v: float) -> None:
            self.value, self.ok = v, True

    space = NASBench201(**TINY)
    pr = PruningSearch(space, seed=0, score_final=False)
    while True:
        asked = pr.ask(50)
        if not asked:
            break
        for a in asked:
            v = _value(pr.wrapped, a)
            # component a agrees with the objective, component b (lower is better) too; the
            # told fitness is garbage, so only the round's rank aggregation can get it right
            pr.tell(a, 0.0, Evaluation(a, 0.0, proxy=spec,
                                       results={"prune-test-a": R(v), "prune-test-b": R(-v)}))
    best = tuple(max((o for o in OPS if o != "none"), key=lambda o: VALUES[e][o]) for e in EDGES)
    assert pr.result().spec == best


def test_failed_candidates_are_not_pruned():
    space = NASBench201(**TINY)
    pr = PruningSearch(space, seed=0, score_final=False)
    while True:
        asked = pr.ask(100)
        if not asked:
            break
        for a in asked:
            sets = pr.wrapped.op_sets(a)
            # every removal of nor_conv_3x3 fails; everything else ties
            pr.tell(a, -math.inf if any("nor_conv_3x3" not in ops for ops in sets.values())
                    else 0.0)
    assert pr.result().spec == ("nor_conv_3x3",) * 6


def test_state_dict_round_trip():
    space = NASBench201(**TINY)
    pr = PruningSearch(space, seed=0)
    for a in pr.ask(30):
        pr.tell(a, _value(pr.wrapped, a))
    clone = PruningSearch(space, seed=0)
    clone.load_state_dict(pr.state_dict())
    assert [a.key for a in _drive(pr)] == [a.key for a in _drive(clone)]
    assert pr.result() == clone.result()


def test_supernet_notation_round_trips_and_is_validated():
    space = NASBench201(**TINY)
    pr = PruningSearch(space, seed=0)
    a = pr.ask(1)[0]
    assert pr.wrapped.parse(a.text) == a
    assert pr.wrapped.parse(str(space.from_index(0))) == space.from_index(0)
    with pytest.raises(InvalidArchError):
        pr.wrapped.parse('{"supernet": [["skip_connect"]]}')
    with pytest.raises(NasxError):
        pr.tell(space.from_index(5), 1.0)  # never asked


def test_space_without_pruning_support():
    with pytest.raises(ConfigError, match="does not support pruning"):
        PruningSearch(ToySpace(), seed=0)
    with pytest.raises(ConfigError):
        PruningSearch(NASBench201(**TINY), seed=0, combine="max")
    with pytest.raises(ConfigError):
        PruningSearch(NASBench201(**TINY), seed=0, exclude=",".join(OPS))


# -- through the engine (torch) -------------------------------------------------------------
torch = pytest.importorskip("torch")


def _register_cheap_proxies():
    from nasx.population import rank_sum
    from nasx.proxies.base import register_proxy

    @register_proxy("prune-test-params", higher_is_better=True, needs=("none",), replace=True)
    def params(model, batch, ctx):
        return float(sum(p.numel() for p in model.parameters()))

    @register_proxy("prune-test-outnorm", higher_is_better=True, needs=("data",), replace=True)
    def outnorm(model, batch, ctx):
        with torch.no_grad():
            return float(model(batch.x).norm())

    register_proxy("prune-test-te", higher_is_better=True,
                   components=["prune-test-params", "prune-test-outnorm"], combine=rank_sum,
                   replace=True)


def test_search_with_pruning_converges_to_the_known_answer(tmp_path):
    from nasx import api

    _register_cheap_proxies()
    # with the parameter count as proxy the least harmful removal is always a parameter-free
    # op (ties go to the first op), then the 1x1 conv: the answer is all nor_conv_3x3
    r = api.search("nasbench201", "prune-test-params", "pruning", data="synthetic",
                   batch_size=20, space_opts=TINY, store=tmp_path / "s.sqlite", seed=0)
    assert r.stopped_by == "exhausted"
    assert r.evaluated == 55
    assert str(r.best) == "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+" \
                          "|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    assert r.score == float(sum(p.numel() for p in NASBench201(**TINY).build(r.best, 10)
                                .parameters()))
    with pytest.raises(BudgetError, match="needs 55 evaluations"):
        api.search("nasbench201", "prune-test-params", "pruning", budget=20, data="synthetic",
                   batch_size=20, space_opts=TINY, store=False)


def test_search_with_pruning_and_a_population_proxy():
    from nasx import api

    _register_cheap_proxies()
    r = api.search("nasbench201", "prune-test-te", "pruning", data="synthetic",
                   batch_size=20, space_opts=TINY, store=False, seed=1)
    space = NASBench201(**TINY)
    assert r.best is not None and space.parse(str(r.best)) == r.best
    assert r.evaluated == 55 and r.failed == 0


def test_pruning_stopped_by_time_has_no_answer():
    from nasx import api

    _register_cheap_proxies()
    r = api.search("nasbench201", "prune-test-params", "pruning", time_budget=1e-9,
                   data="synthetic", batch_size=20, space_opts=TINY, store=False)
    assert r.best is None and r.stopped_by == "time"

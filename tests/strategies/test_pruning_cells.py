"""Pruning on cells whose nodes keep two inputs (DARTS, the NDS families): op phase, then edge
phase, a valid genotype, cache keys that hold every option changing a supernet, resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nasx.errors import ConfigError
from nasx.spaces.darts import DartsSpace
from nasx.spaces.nasbench201 import NASBench201
from nasx.spaces.nds import NDSAmoeba, NDSDarts, NDSDartsFixWD, NDSEnas, NDSNasnet, NDSPnas
from nasx.strategies.pruning import PruningSearch

pytestmark = pytest.mark.filterwarnings("ignore:synthetic probe data")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cli_subprocess import cli_env, stored_scores, wait_for_scores  # noqa: E402

NDS_TINY = {"widths": "1", "depths": "1", "input_size": 8}
SPACES = {
    "darts": lambda: DartsSpace(C=1, layers=1, input_size=8),
    "nds-darts": lambda: NDSDarts(**NDS_TINY),
    "nds-darts-fix-w-d": lambda: NDSDartsFixWD(width=1, depth=1, input_size=8),
    "nds-enas": lambda: NDSEnas(**NDS_TINY),
    "nds-pnas": lambda: NDSPnas(**NDS_TINY),
    "nds-nasnet": lambda: NDSNasnet(**NDS_TINY),
    "nds-amoeba": lambda: NDSAmoeba(**NDS_TINY),
}


# -- ask/tell with a known objective (no networks) ----------------------------------------------
def _objective(space, seed=0):
    """Distinct values per (edge, op); a supernet scores the sum over edges of the mean value of
    the edge's ops (an empty edge adds nothing). Removing the lowest-valued op of an edge helps
    most, so the op phase must end with every edge's best op; removing an edge costs its value,
    so the edge phase must keep the two edges of highest value into every node."""
    rng = np.random.default_rng(seed)
    values = {e: {o: float(v) for o, v in zip(space.candidate_ops(e),
                                                rng.permutation(len(space.candidate_ops(e))))}
              for e in space.edges()}

    def fitness(pr, arch):
        sets = pr.wrapped.op_sets(arch)
        return sum(sum(values[e][o] for o in ops) / len(ops) for e, ops in sets.items() if ops)

    best = {e: max((o for o in v if o != "none"), key=v.get) for e, v in values.items()}
    expected = {}
    for group, keep in space.edge_groups():
        kept = sorted(group, key=lambda e: -values[e][best[e]])[:keep]
        expected.update({e: ((best[e],) if e in kept else ()) for e in group})
    return fitness, space.from_op_sets(expected)


def _drive(pr, fitness):
    asked, widths = [], []
    while True:
        batch = pr.ask(1)
        if not batch:
            return asked, widths
        widths.append(len(batch))
        for a in batch:
            asked.append(a)
            pr.tell(a, fitness(pr, a) if pr.wrapped.is_supernet(a) else 0.0)


@pytest.mark.parametrize("name", sorted(SPACES))
@pytest.mark.parametrize("prune_number", [1, 3])
def test_two_phases_reach_the_known_answer(name, prune_number):
    space = SPACES[name]()
    fitness, expected = _objective(space, seed=len(name))
    pr = PruningSearch(space, seed=0, prune_number=prune_number)
    asked, widths = _drive(pr, fitness)
    assert pr.converged and pr.phase == "done"
    assert pr.result() == expected
    assert space.parse(str(pr.result())) == pr.result()  # valid in its space
    assert len(asked) == pr.planned_evaluations
    phases = [h["phase"] for h in pr.history]
    assert phases == sorted(phases, key=["ops", "edges"].index)  # ops first, then edges
    steps = 4 if "darts" in name else 5
    assert phases.count("edges") == 2 * (steps - 1)  # every node but node 2, in both cells
    for h in pr.history:
        if h["phase"] == "edges":
            assert len(h["kept_edges"]) == 2
    # every round is asked whole although the engine asked for one at a time
    assert widths == [*_round_sizes(pr), 1]


def _round_sizes(pr):
    """The number of candidates of each round, replayed from the history (ops phase: the ops
    left on the undecided edges; edge phase: the present edges of the node)."""
    sizes = []
    sets = {e: tuple(o for o in pr.space.candidate_ops(e) if o != "none") for e in pr._edges}
    for h in pr.history:
        if h["phase"] == "ops":
            sizes.append(sum(len(s) for s in sets.values() if len(s) > 1))
            for e in pr._edges:
                drop = h["pruned"].get(str(e))
                if drop is not None:
                    drop = [drop] if isinstance(drop, str) else drop
                    sets[e] = tuple(o for o in sets[e] if o not in drop)
        else:
            sizes.append(len(h["kept_edges"]) + len(h["removed_edges"]))
    return sizes


def test_darts_evaluation_count_and_progress():
    space = DartsSpace(C=1, layers=1, input_size=8)
    pr = PruningSearch(space, seed=0)
    # 28 edges x (7 + 6 + ... + 2) supernets, 2 cells x (3 + 4 + 5) edge removals, the genotype
    assert pr.planned_evaluations == 28 * 27 + 24 + 1
    assert PruningSearch(space, seed=0, prune_number=3).planned_evaluations == 28 * 11 + 24 + 1
    fitness, _ = _objective(space)
    seen = []
    while not pr.converged:
        batch = pr.ask(1)
        for a in batch:
            pr.tell(a, fitness(pr, a))
            seen.append(pr.progress())
    assert any(s.startswith("pruning: ops phase, round 1,") and "28 edges undecided" in s
               for s in seen)
    assert any("edges phase" in s and "node 3 of the normal cell: 3 edges -> 2" in s
               and "6 node(s) left" in s for s in seen)
    assert pr.progress().startswith("pruning: converged after 12 rounds")


def test_failed_edge_removals_keep_their_edge():
    space = DartsSpace(C=1, layers=1, input_size=8)
    pr = PruningSearch(space, seed=0, prune_number=6)
    fitness, _ = _objective(space)
    while True:
        batch = pr.ask()
        if not batch:
            break
        for a in batch:
            if not pr.wrapped.is_supernet(a):
                pr.tell(a, 0.0)
                continue
            gone = [e for e, ops in pr.wrapped.op_sets(a).items() if not ops]
            # in the edge phase, scoring fails whenever an edge from input 0 was just removed
            node = ({pr._edges[k] for k in pr._groups[pr._group][0]}
                    if pr.phase == "edges" else set())
            failed = any(e[1] == 0 and e in node for e in gone)
            pr.tell(a, -np.inf if failed else fitness(pr, a))
    for pairs in (pr.result().spec[0], pr.result().spec[2]):
        assert all(pairs[k][1] == 0 for k in range(0, 8, 2))  # canonical: input 0 first


def test_state_dict_round_trip_in_the_edge_phase():
    space = NDSEnas(**NDS_TINY)
    fitness, expected = _objective(space)
    pr = PruningSearch(space, seed=0, prune_number=4)
    while pr.phase != "edges":
        for a in pr.ask():
            pr.tell(a, fitness(pr, a))
    first = pr.ask()
    pr.tell(first[0], fitness(pr, first[0]))
    clone = PruningSearch(space, seed=0, prune_number=4)
    clone.load_state_dict(json.loads(json.dumps(pr.state_dict())))
    for a in first[1:]:
        pr.tell(a, fitness(pr, a))
        clone.tell(a, fitness(clone, a))
    assert [a.key for a in _drive(pr, fitness)[0]] == [a.key for a in _drive(clone, fitness)[0]]
    assert pr.result() == clone.result() == expected


def test_nasbench101_keeps_its_refusal():
    from nasx.spaces.nasbench101 import NASBench101

    with pytest.raises(ConfigError, match="does not support pruning"):
        PruningSearch(NASBench101(), seed=0)


def test_bad_prune_number_and_ask_size():
    with pytest.raises(ConfigError, match="prune_number"):
        PruningSearch(DartsSpace(), seed=0, prune_number=0)
    with pytest.raises(ConfigError, match="ask_size"):
        PruningSearch(DartsSpace(), seed=0, ask_size=-1)


def test_ask_size_slices_rounds_without_changing_anything_else():
    space = NDSPnas(**NDS_TINY)
    fitness, expected = _objective(space)
    whole = PruningSearch(space, seed=0, prune_number=3)
    sliced = PruningSearch(space, seed=0, prune_number=3, ask_size=7)
    asked_whole, _ = _drive(whole, fitness)
    asked_sliced, widths = _drive(sliced, fitness)
    assert [a.key for a in asked_sliced] == [a.key for a in asked_whole]
    assert max(widths) == 7 and sliced.result() == whole.result() == expected


# -- cache keys -----------------------------------------------------------------------------------
torch = pytest.importorskip("torch")

ALTERNATIVES = {"exclude": "", "combine": "sum", "prune_number": 2, "score_final": False,
                "ask_size": 5}


def test_every_option_that_changes_a_supernet_changes_its_key():
    """For every option of the strategy: if the network built for the same op sets differs
    (same seed, same input), the supernet's key differs too."""
    assert set(ALTERNATIVES) == set(PruningSearch.options)  # a new option must be listed here
    for space in (NASBench201(C=4, N=1, input_size=8), DartsSpace(C=1, layers=3, input_size=8),
                  NDSEnas(**NDS_TINY)):
        sets = [tuple(space.candidate_ops(e))[:3] for e in space.edges()]
        x = torch.randn(2, 3, 8, 8)
        base = PruningSearch(space, seed=0)
        changed = []
        for name, value in ALTERNATIVES.items():
            other = PruningSearch(space, seed=0, **{name: value})
            outs, keys = [], []
            for pr in (base, other):
                arch = pr.wrapped.supernet(sets)
                keys.append(arch.key)
                torch.manual_seed(0)
                net = pr.wrapped.build(pr.wrapped.parse(arch.text), 10).eval()
                with torch.no_grad():
                    outs.append(net(x))
            if not torch.allclose(outs[0], outs[1]):
                changed.append(name)
                assert keys[0] != keys[1], f"{space.name}: option {name} changes the network " \
                                           "but not the supernet's key"
        assert changed == ["combine"], (space.name, changed)


def test_combine_is_part_of_the_stored_key(tmp_path):
    """The same run with combine=mean then sum: no supernet score is served from the other."""
    from nasx import api

    _register_outnorm()
    kw = dict(space="nasbench201", proxy="prune-cells-outnorm", strategy="pruning",
              data="synthetic", batch_size=2, space_opts={"C": 2, "N": 1, "input_size": 8},
              seed=0, store=tmp_path / "s.sqlite")
    two = "none,skip_connect,avg_pool_3x3"  # two ops per edge left: 12 supernets
    mean = api.search(**kw, strategy_opts={"combine": "mean", "exclude": two})
    total = api.search(**kw, strategy_opts={"combine": "sum", "exclude": two})
    assert mean.evaluated == total.evaluated == 13
    assert mean.cached == 0 and total.cached <= 1  # at most the final cell is shared
    again = api.search(**kw, strategy_opts={"combine": "sum", "exclude": two})
    assert again.cached == again.evaluated and str(again.best) == str(total.best)


# -- through the engine, every supported family ---------------------------------------------------
def _register_outnorm():
    from nasx.proxies.base import register_proxy

    @register_proxy("prune-cells-outnorm", higher_is_better=True, needs=("data",), replace=True)
    def outnorm(model, batch, ctx):
        with torch.no_grad():
            return float(model(batch.x).norm())


def _two_ops(space):
    ops = list(space.candidate_ops(space.edges()[0]))
    keep = {"skip_connect", "max_pool_3x3"} if "max_pool_3x3" in ops else set(ops[:2])
    return ",".join(o for o in ops if o not in keep)


@pytest.mark.parametrize("name", ["nds-darts", "nds-enas", "nds-pnas", "nds-nasnet",
                                  "nds-amoeba"])
def test_search_prunes_each_nds_family_to_a_valid_model(name):
    from nasx import api

    _register_outnorm()
    space = SPACES[name]()
    r = api.search(name, "prune-cells-outnorm", "pruning", data="synthetic", batch_size=2,
                   space_opts=NDS_TINY, store=False, seed=0,
                   strategy_opts={"exclude": _two_ops(space)})
    assert r.stopped_by == "exhausted" and r.failed == 0
    assert r.best is not None and space.parse(str(r.best)) == r.best
    assert r.evaluated == PruningSearch(space, exclude=_two_ops(space)).planned_evaluations
    assert r.score is not None


def test_cli_prunes_darts_to_a_genotype_and_shows_the_phases(capsys):
    from nasx.cli.main import main

    _register_outnorm()
    space = SPACES["darts"]()
    rc = main(["search", "--space", "darts", "--space-opt", "C=1", "--space-opt", "layers=1",
               "--space-opt", "input_size=8", "--strategy", "pruning", "--strategy-opt",
               f"exclude={_two_ops(space)}", "--proxy", "prune-cells-outnorm", "--data",
               "synthetic", "--batch-size", "2", "--no-store"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    best = space.parse(out.strip())  # a Genotype(...) that the darts space parses
    assert str(best).startswith("Genotype(normal=[")
    assert "ops phase, round 1" in err and "edges phase" in err


def test_interrupted_darts_pruning_resumes_to_the_same_genotype(tmp_path):
    from nasx import api
    from nasx.events import Evaluated

    _register_outnorm()
    space = SPACES["darts"]()
    kw = dict(space="darts", proxy="prune-cells-outnorm", strategy="pruning", data="synthetic",
              batch_size=2, space_opts={"C": 1, "layers": 1, "input_size": 8}, seed=0,
              strategy_opts={"exclude": _two_ops(space)})
    full = api.search(**kw, store=tmp_path / "full.sqlite")

    class Killed(Exception):
        pass

    def kill(e):
        if isinstance(e, Evaluated) and e.n_evaluated >= 60:  # inside the edge phase
            raise Killed

    with pytest.raises(Killed):
        api.search(**kw, store=tmp_path / "part.sqlite", on_event=kill)
    stored = stored_scores(tmp_path / "part.sqlite")
    assert 60 <= stored < full.evaluated  # a round is scored, stored, then told
    resumed = api.search(**kw, store=tmp_path / "part.sqlite")
    assert str(resumed.best) == str(full.best) and resumed.score == full.score
    assert resumed.cached == stored and resumed.evaluated == full.evaluated


# -- SIGKILL of a real process ------------------------------------------------------------
def _cli(store: Path) -> list[str]:
    space = SPACES["darts"]()
    return [sys.executable, "-m", "nasx", "search", "--space", "darts", "--space-opt", "C=1",
            "--space-opt", "layers=1", "--space-opt", "input_size=8", "--strategy", "pruning",
            "--strategy-opt", f"exclude={_two_ops(space)}", "--proxy", "synflow", "--data",
            "synthetic", "--batch-size", "4", "--seed", "3", "--store", str(store), "--json",
            "--quiet"]


@pytest.mark.slow
def test_sigkilled_darts_pruning_resumes_to_the_same_genotype(tmp_path):
    full = subprocess.run(_cli(tmp_path / "full.sqlite"), capture_output=True, text=True,
                          env=cli_env(), timeout=600, check=False)
    assert full.returncode == 0, full.stderr
    want = json.loads(full.stdout)
    store = tmp_path / "killed.sqlite"
    proc = subprocess.Popen(_cli(store), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=cli_env())
    try:
        wait_for_scores(store, 65, proc)  # past the op phase (56 supernets)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    stored = stored_scores(store)
    again = subprocess.run(_cli(store), capture_output=True, text=True, env=cli_env(),
                           timeout=600, check=False)
    assert again.returncode == 0, again.stderr
    got = json.loads(again.stdout)
    assert got["best"] == want["best"] and got["score"] == want["score"]
    assert got["evaluated"] == want["evaluated"] and got["cached"] == stored
    DartsSpace().parse(got["best"])

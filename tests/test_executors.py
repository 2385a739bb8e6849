"""Executors: the process executor gives the same scores as the sequential one, K workers per
device change nothing, strategies ask in batches of their own width, and the store keeps every
score once under the device kind its worker computed it on."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

import nasx
import nasx.testing  # noqa: F401  (toy space)
from nasx.api import ScoreService, make_space, parse_proxies
from nasx.arch import Arch
from nasx.cli.main import main
from nasx.errors import ConfigError
from nasx.executors import (
    Executor,
    ScoringJob,
    SequentialExecutor,
    default_workers_per_device,
    get_executor,
    job_key,
)
from nasx.store import Store
from nasx.testing.toy import ToySpace

KILLER = "2-2-1-0"


class KillerToySpace(ToySpace):
    """The toy space, except that building ``KILLER`` ends its process at once, as the system
    ends a worker that runs out of memory."""

    def build(self, arch, num_classes):
        if arch.text == KILLER:
            import os

            os._exit(137)
        return super().build(arch, num_classes)


def test_process_executor_matches_sequential(batch):
    kw = dict(space="toy", proxy="gradalign-i", strategy="random", budget=4, data=batch,
              seed=3, store=False, device="cpu")
    seq = nasx.search(**kw)
    par = nasx.search(**kw, executor="process", executor_opts={"workers": 2})
    assert par.evaluated == seq.evaluated == 4
    assert par.top == seq.top


def test_two_workers_per_device_give_the_k1_scores(batch):
    archs = ["0-1-2-0", "2-2-1-0", "1-0-0-2", "2-1-2-1", "0-0-1-1"]
    kw = dict(space="toy", proxy="gradalign-i,naswot", data=batch, seed=1, device="cpu")
    one = nasx.score(archs, **kw, executor="process",
                     executor_opts={"workers": 1, "workers_per_device": 1})
    with get_executor("process", device="cpu", workers=1, workers_per_device=2) as ex:
        assert ex.parallelism == 2 and ex.devices == ["cpu", "cpu"]
        two = nasx.score(archs, **kw, executor=ex)
    assert [(r.arch, r.proxy, r.value) for r in two] == [(r.arch, r.proxy, r.value) for r in one]
    assert all(r.ok for r in one)


def test_a_worker_that_dies_costs_only_the_architecture_that_killed_it(batch):
    archs = ["0-1-2-0", "1-0-0-2", KILLER, "2-1-2-1", "0-0-1-1"]
    kw = dict(proxy="gradalign-i,naswot", data=batch, seed=1, device="cpu")
    with pytest.warns(RuntimeWarning, match="worker process died"):
        with get_executor("process", device="cpu", workers=2, archs_per_task=2) as ex:
            got = nasx.score(archs, space=KillerToySpace(), **kw, executor=ex)
            # the restarted workers serve the next call
            again = nasx.score(archs[:2], space=KillerToySpace(), **kw, executor=ex)
    dead = [r for r in got if r.arch == KILLER]
    assert [(r.proxy, r.status) for r in dead] == [("gradalign-i", "oom"), ("naswot", "oom")]
    assert all("died" in r.error and not r.ok for r in dead)
    want = nasx.score([a for a in archs if a != KILLER], space="toy", **kw)
    assert [(r.arch, r.proxy, r.value) for r in got if r.arch != KILLER] == \
        [(r.arch, r.proxy, r.value) for r in want]
    assert [r.value for r in again] == [r.value for r in want[:4]]


def test_default_workers_per_device_on_cpu():
    assert default_workers_per_device("cpu") == 1


class WideExecutor(Executor):
    """Sequential scoring that claims a large width and scores in reverse order (as a pool
    finishing in any order would): neither may change a search."""

    parallelism = 7

    def __init__(self) -> None:
        self.inner = SequentialExecutor()
        self.calls: list[int] = []

    def run(self, job, archs, on_result):
        self.calls.append(len(archs))
        order = list(range(len(archs)))[::-1]
        self.inner.run(job, [archs[i] for i in order],
                       lambda j, res, kind: on_result(order[j], res, kind))


@pytest.mark.parametrize("strategy,opts,budget,width", [
    ("random", {"batch": 3}, 7, 3),
    ("evolution", {"population": 3, "sample": 2}, 7, 1),
    ("evolution", {"population": 3, "sample": 2, "batch": 2}, 7, 2),
])
def test_search_asks_in_the_strategy_width_not_the_executor_width(batch, strategy, opts,
                                                                   budget, width):
    kw = dict(space="toy", proxy="gradalign-i", strategy=strategy, budget=budget, data=batch,
              seed=2, store=False, device="cpu", strategy_opts=opts)
    seq = nasx.search(**kw)
    wide = WideExecutor()
    par = nasx.search(**kw, executor=wide)
    assert par.top == seq.top and par.best == seq.best and par.evaluated == budget
    assert max(wide.calls) <= width and sum(wide.calls) <= budget


def test_strategy_batch_must_be_positive():
    space = make_space("toy")
    for name in ("random", "evolution"):
        with pytest.raises(ConfigError, match="batch must be >= 1"):
            nasx.api.make_strategy(name, space, batch=0)


def test_job_key_is_a_content_key(batch):
    space = make_space("toy")
    job = ScoringJob("toy", dict(space.opts), ["gradalign-i"], batch, "cpu", 0, None, space)
    copy = ScoringJob("toy", dict(space.opts), ["naswot"], batch.to("cpu"), "cpu", 0, None,
                      make_space("toy"))
    assert job_key(job) == job_key(copy)  # other objects, other proxies: the same scorer
    from dataclasses import replace

    assert job_key(replace(job, seed=1)) != job_key(job)
    assert job_key(replace(job, device="cuda")) != job_key(job)
    assert job_key(replace(job, chunk_size=4)) != job_key(job)
    other = replace(job, space=make_space("toy", length=5), space_opts={"length": 5})
    assert job_key(other) != job_key(job)


class CountingStore(Store):
    def __init__(self, path) -> None:
        super().__init__(path)
        self.puts: list[tuple] = []

    def put(self, key, result, **kw) -> None:
        self.puts.append(key)
        super().put(key, result, **kw)


class OtherDeviceExecutor(Executor):
    """Scores here but reports another device kind, as a remote GPU worker would."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.inner = SequentialExecutor()

    def device_kind(self, job: ScoringJob) -> str:
        return self.kind

    def run(self, job: ScoringJob, archs: Sequence[Arch], on_result) -> None:
        self.inner.run(job, archs, lambda i, res, kind: on_result(i, res, self.kind))


def test_store_keys_carry_the_workers_device_and_each_score_lands_once(batch, tmp_path):
    space = make_space("toy")
    archs = [space.parse(t) for t in ("0-1-2-0", "2-2-1-0", "1-0-0-2")]
    specs = parse_proxies("gradalign-i,naswot")
    store = CountingStore(tmp_path / "s.sqlite")
    ex = OtherDeviceExecutor("cuda")
    svc = ScoreService(space, specs, batch, device="cpu", seed=0, store=store, executor=ex)
    seen: list[int] = []
    first = svc.score(archs, on_scored=seen.append)
    assert sorted(seen) == [0, 1, 2]
    assert len(store.puts) == len(set(store.puts)) == 6
    assert {k.device for k in store.puts} == {"cuda"}
    assert {r["device"] for r in store.scores()} == {"cuda"}
    again = svc.score(archs)  # all from the store: looked up under the workers' device kind
    assert len(store.puts) == 6
    assert all(r.cached for row in again for r in row.values())
    assert [{k: r.value for k, r in row.items()} for row in again] == \
        [{k: r.value for k, r in row.items()} for row in first]
    store.close()


def test_unknown_executor():
    with pytest.raises(ConfigError, match="sequential, process or ray"):
        get_executor("threads")


def test_sequential_executor_takes_no_options():
    with pytest.raises(ConfigError, match="takes no options"):
        get_executor("sequential", workers=2)


@pytest.mark.parametrize("flags,msg", [
    (["--ray-address", "auto"], "--ray-address needs --executor ray"),
    (["--workers", "2"], "--workers needs --executor process or ray"),
    (["--executor", "process", "--workers-per-device", "0"], "at least 1"),
])
def test_cli_executor_flags_are_checked(capsys, flags, msg):
    code = main(["score", "0-1-2-0", "--space", "toy", "--data", "synthetic", "--no-store",
                 *flags])
    assert code == 2
    assert msg in capsys.readouterr().err


def test_ray_missing_is_a_clear_error():
    try:
        import ray  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"nasx\[ray\]"):
            get_executor("ray")
    else:
        pytest.skip("ray is installed")

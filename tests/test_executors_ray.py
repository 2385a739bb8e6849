"""The Ray executor on a live local Ray instance: the same searches and scores as the sequential
and process executors for every strategy, each score stored once, progress as locally.

Skipped (with the reason) only where Ray cannot be installed; CI installs ``nasx[ray]``.
"""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'nasx[ray]'); "
                          "it has no wheel for some platforms and Python versions")

import nasx  # noqa: E402
import nasx.testing  # noqa: E402, F401  (toy space)
from nasx.events import Evaluated, Progress  # noqa: E402
from nasx.executors import ProcessExecutor, RayExecutor  # noqa: E402
from nasx.store import Store  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:synthetic probe data")
TINY = {"C": 8, "N": 1, "input_size": 8}


@pytest.fixture(scope="module")
def ray_ex():
    """One local Ray instance with 2 CPUs for the module (started by the executor)."""
    if ray.is_initialized():
        ray.shutdown()
    ex = RayExecutor(workers=2)
    yield ex
    ex.close()
    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def proc_ex():
    with ProcessExecutor(workers=2, device="cpu") as ex:
        yield ex


def test_ray_executor_settings(ray_ex):
    assert ray_ex.parallelism == 2 and ray_ex.num_gpus == 0
    assert ray.cluster_resources()["CPU"] == 2


@pytest.mark.parametrize("strategy,opts,budget", [
    ("random", {"batch": 4}, 6),
    ("evolution", {"population": 3, "sample": 2, "batch": 2}, 7),
])
def test_search_is_identical_on_every_executor(batch, ray_ex, proc_ex, strategy, opts, budget):
    kw = dict(space="toy", proxy="gradalign-i", strategy=strategy, budget=budget, data=batch,
              seed=5, store=False, device="cpu", strategy_opts=opts)
    seq = nasx.search(**kw)
    runs = {"process": nasx.search(**kw, executor=proc_ex),
            "ray": nasx.search(**kw, executor=ray_ex)}
    for name, r in runs.items():
        assert (r.best, r.score, r.top, r.evaluated) == (seq.best, seq.score, seq.top,
                                                         seq.evaluated), name
        assert r.settings == seq.settings, name


def test_pruning_search_is_identical_on_every_executor(ray_ex, proc_ex):
    kw = dict(space="nasbench201", proxy="params", strategy="pruning", data="synthetic",
              batch_size=8, space_opts=TINY, store=False, seed=0, device="cpu")
    seq = nasx.search(**kw)
    for ex in (proc_ex, ray_ex):
        r = nasx.search(**kw, executor=ex)
        assert (r.best, r.score, r.top, r.evaluated) == (seq.best, seq.score, seq.top,
                                                         seq.evaluated)
    assert seq.evaluated == 55 and seq.stopped_by == "exhausted"


class CountingStore(Store):
    def __init__(self, path) -> None:
        super().__init__(path)
        self.puts: list = []

    def put(self, key, result, **kw) -> None:
        self.puts.append(key)
        super().put(key, result, **kw)


def test_ray_scores_equal_local_scores_land_once_and_report_progress(batch, ray_ex,
                                                                     tmp_path):
    archs = ["0-1-2-0", "2-2-1-0", "1-0-0-2", "2-1-2-1", "0-0-1-1"]
    kw = dict(space="toy", proxy="gradalign-i,naswot", data=batch, seed=1, device="cpu")
    local = nasx.score(archs, **kw)
    store = CountingStore(tmp_path / "s.sqlite")
    events: list = []
    remote = nasx.score(archs, **kw, store=store, executor=ray_ex, on_event=events.append)
    assert [(r.arch, r.proxy, r.value) for r in remote] == \
        [(r.arch, r.proxy, r.value) for r in local]
    assert len(store.puts) == len(set(store.puts)) == 10
    assert {k.device for k in store.puts} == {"cpu"}  # this instance's workers score on CPU
    done = [e.done for e in events if isinstance(e, Progress)]
    assert done == [1, 2, 3, 4, 5]
    again = nasx.score(archs, **kw, store=store, executor=ray_ex)
    assert len(store.puts) == 10 and all(r.cached for r in again)
    store.close()


def test_search_events_through_ray_equal_the_local_ones(batch, ray_ex):
    kw = dict(space="toy", proxy="gradalign-i", strategy="random", budget=4, data=batch,
              seed=7, store=False, device="cpu")
    local: list = []
    remote: list = []
    nasx.search(**kw, on_event=local.append)
    nasx.search(**kw, executor=ray_ex, on_event=remote.append)

    def table(evs):
        return [(e.step, e.arch, e.fitness, e.status, e.best_arch, e.top)
                for e in evs if isinstance(e, Evaluated)]

    assert table(remote) == table(local) and len(table(local)) == 4
    assert [type(e).__name__ for e in remote] == [type(e).__name__ for e in local]

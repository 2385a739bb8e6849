"""Faults on a multi-node Ray cluster simulated on this machine (``ray.cluster_utils.Cluster``):
a worker node that dies mid-search loses no returned score, its tasks run again on another node
and the search gives the result of an undisturbed local run. Also: K tasks share a GPU
(``num_gpus=1/K``)."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'nasx[ray]'); "
                          "it has no wheel for some platforms and Python versions")

from ray.cluster_utils import Cluster  # noqa: E402

import nasx  # noqa: E402
import nasx.testing  # noqa: E402, F401  (toy space)
from nasx.executors import RayExecutor  # noqa: E402
from nasx.store import Store  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    if ray.is_initialized():
        ray.shutdown()
    c = Cluster(initialize_head=True, connect=True,
                head_node_args={"num_cpus": 0, "include_dashboard": False,
                                "object_store_memory": 128 * 2**20})
    workers = [c.add_node(num_cpus=1, object_store_memory=96 * 2**20) for _ in range(2)]
    c.wait_for_nodes()
    yield c, workers
    ray.shutdown()
    c.shutdown()


class KillingStore(Store):
    """Removes a worker node from the cluster while the search runs (at the first stored
    score, when the other tasks are in flight); counts every write."""

    def __init__(self, path, kill) -> None:
        super().__init__(path)
        self.kill = kill
        self.puts: list = []
        self.before_kill: list = []

    def put(self, key, result, **kw) -> None:
        super().put(key, result, **kw)
        self.puts.append(key)
        if self.kill is not None:
            self.before_kill = list(self.puts)
            kill, self.kill = self.kill, None
            kill()


def test_a_node_dying_mid_search_loses_nothing(batch, tmp_path, cluster):
    c, workers = cluster
    kw = dict(space="toy", proxy="gradalign-i", strategy="random", budget=10, data=batch,
              seed=11, device="cpu")
    local = nasx.search(**kw, store=False)
    # 4 one-architecture tasks in flight over 2 one-CPU nodes: both nodes are busy at the kill
    ex = RayExecutor(workers=4, archs_per_task=1)
    assert ex.num_gpus == 0 and ex.parallelism == 4
    store = KillingStore(tmp_path / "s.sqlite", lambda: c.remove_node(workers[0]))
    r = nasx.search(**kw, store=store, executor=ex)
    assert store.kill is None and 1 <= len(store.before_kill) < 10  # killed mid-search
    assert (r.best, r.score, r.top, r.evaluated) == (local.best, local.score, local.top, 10)
    assert r.failed == 0
    assert len(store.puts) == len(set(store.puts)) == 10  # every score stored exactly once
    stored = {row["arch"] for row in store.scores()}
    assert len(stored) == 10
    alive = [n for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU")]
    assert len(alive) == 1  # the rest ran on the surviving node
    store.close()


def test_k_tasks_share_one_gpu(cluster):
    c, _ = cluster
    c.add_node(num_cpus=1, num_gpus=1, object_store_memory=96 * 2**20)
    c.wait_for_nodes()
    ex = RayExecutor(workers_per_device=4)
    assert ex.num_gpus == 0.25 and ex.parallelism == 4 and ex.workers_per_device == 4
    assert ex.device_kind(None) == "cuda"

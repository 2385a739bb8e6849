"""Built-in ensembles of proxies.

``nasx-ens`` -- **higher is better** (population proxy). The sum over its members of each
architecture's oriented rank among the evaluated architectures (:mod:`nasx.proxies.ensemble`,
aggregation ``NASX_ENS_AGGREGATION``, equal weights; failures rank last).

How the members were chosen (``benchmarks/ensemble_nb201.py``): on NAS-Bench-201 CIFAR-10 only,
every per-model proxy of nasx scored NB201 cells (C=16, N=5) on one class-balanced batch of
64 CIFAR-10 training images; the cells were split in two halves by a seeded permutation; on the
selection half alone, a greedy forward selection added the proxy that most raised the Kendall
tau of the equal-weight ensemble against ``cifar10_test``, until no proxy added 0.002, for the
``rank`` and ``log-rank`` aggregations, keeping the better. The held-out half, the CIFAR-100 and
ImageNet16-120 columns and every other space played no part in the choice. The figures are in
``benchmarks/results/ensemble_nb201_cpu.json``.
"""

from __future__ import annotations

from .base import register_proxy
from .ensemble import Ensemble

__all__ = ["NASX_ENS_MEMBERS", "NASX_ENS_AGGREGATION"]

#: members of nasx-ens, in the order the selection added them
NASX_ENS_MEMBERS = ("meco", "linear-regions", "gradalign-ii-norm", "gradalign-i",
                    "az-trainability", "az-progressivity")
NASX_ENS_AGGREGATION = "rank"
#: the union of the members' needs (declared here: members may register after this module)
_NEEDS = ("data", "labels", "grads", "per-sample-grads", "train-mode", "none")


register_proxy(
    "nasx-ens",
    higher_is_better=True,
    needs=_NEEDS,
    paper="nasx (ensemble chosen on NAS-Bench-201 CIFAR-10; rank aggregation as TE-NAS)",
    description="Rank sum over the evaluated architectures of " + ", ".join(NASX_ENS_MEMBERS)
    + ".",
    components=NASX_ENS_MEMBERS,
    combine=Ensemble(NASX_ENS_MEMBERS, (1.0,) * len(NASX_ENS_MEMBERS), NASX_ENS_AGGREGATION),
    batch_split="sensitive",
)


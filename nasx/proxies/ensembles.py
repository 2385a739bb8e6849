"""Built-in ensembles of proxies.

``nasx-ens`` -- **higher is better** (population proxy). The sum over its members (MeCo,
jacob-cov, GradAlign-I, AZ-NAS trainability, GradAlign-II-norm, GradAlign-II) of
``log(r / n)``, ``r`` an architecture's oriented rank among the ``n`` evaluated architectures
(:mod:`nasx.proxies.ensemble`, aggregation ``log-rank`` as AZ-NAS, equal weights; failures rank
last).

How the members were chosen (``benchmarks/ensemble_nb201.py``): on NAS-Bench-201 CIFAR-10 only,
every per-model proxy of nasx scored NB201 cells (C=16, N=5) on one class-balanced batch of
64 CIFAR-10 training images; the cells were split in two halves by a seeded permutation; on the
selection half alone, a greedy forward selection added, up to six members, the proxy that
most raised the Kendall tau of the equal-weight ensemble against ``cifar10_test``, for the
``rank`` and ``log-rank`` aggregations; the prefix of the path with the best selection-half tau
and the better aggregation were kept. (Stopping at the first addition that gains less than
0.002 instead keeps MeCo alone: its first addition gains 0.0019.) The held-out half, the
CIFAR-100 and ImageNet16-120 columns and every other space played no part in the choice. The
figures are in ``benchmarks/results/ensemble_nb201_path_cpu.json`` (path rule) and
``ensemble_nb201_cpu.json`` (stopping rule).
"""

from __future__ import annotations

from .base import register_proxy
from .ensemble import Ensemble

__all__ = ["NASX_ENS_MEMBERS", "NASX_ENS_AGGREGATION"]

#: members of nasx-ens, in the order the selection added them
NASX_ENS_MEMBERS = ("meco", "jacob-cov", "gradalign-i", "az-trainability", "gradalign-ii-norm",
                    "gradalign-ii")
NASX_ENS_AGGREGATION = "log-rank"
#: the union of the members' needs (declared here: members may register after this module)
_NEEDS = ('data', 'grads', 'labels', 'none', 'per-sample-grads', 'train-mode')


register_proxy(
    "nasx-ens",
    higher_is_better=True,
    needs=_NEEDS,
    paper="nasx (ensemble chosen on NAS-Bench-201 CIFAR-10; log-rank aggregation as AZ-NAS)",
    description="Sum of log-ranks over the evaluated architectures of "
    + ", ".join(NASX_ENS_MEMBERS) + ".",
    components=NASX_ENS_MEMBERS,
    combine=Ensemble(NASX_ENS_MEMBERS, (1.0,) * len(NASX_ENS_MEMBERS), NASX_ENS_AGGREGATION),
    batch_split="sensitive",
)


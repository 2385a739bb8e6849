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

``nasx-top`` -- **higher is better** (population proxy). The same log-rank sum over MeCo,
GradAlign-I, jacob-cov, Zen-NAS and the linear-region count: an ensemble for searches, which
must order the very best cells of a space rather than all of it.

How the members were chosen (``benchmarks/skip_edge_nb201.py``): nasx-ens ranks the whole of
NAS-Bench-201 well, but searches with it return heavier neighbours of the best cells. The best
CIFAR-10 cells of NB201 (``cifar10_test >= 94.0``) nearly all carry ``skip_connect`` on the
input-to-output edge; put against their variants with a convolution there, every size-tracking
proxy (GradAlign, MeCo, params, ...) prefers the variant, while Zen-NAS (92% of the pairs),
jacob-cov (77%) and the linear-region count (60%) prefer the original (az-trainability: 51%).
nasx-top keeps the two per-model proxies with the highest Kendall tau over 1000 NB201 cells
(MeCo, GradAlign-I) and adds those three. It was chosen by hand, using the CIFAR-10 test
accuracies of NB201's best cells: its NB201 CIFAR-10 figures are those of the set it was chosen
on. The figures are in
``benchmarks/results/skip_edge_nb201_cpu.json`` and ``ensemble_nb201_path_cpu.json``.
"""

from __future__ import annotations

from .base import register_proxy
from .ensemble import Ensemble

__all__ = ["NASX_ENS_MEMBERS", "NASX_ENS_AGGREGATION", "NASX_TOP_MEMBERS"]

#: members of nasx-ens, in the order the selection added them
NASX_ENS_MEMBERS = ("meco", "jacob-cov", "gradalign-i", "az-trainability", "gradalign-ii-norm",
                    "gradalign-ii")
NASX_ENS_AGGREGATION = "log-rank"
#: members of nasx-top (aggregation log-rank, equal weights)
NASX_TOP_MEMBERS = ("meco", "gradalign-i", "jacob-cov", "zen", "linear-regions")
#: the union of the members' needs (declared here: members may register after this module);
#: the same for both ensembles
_NEEDS = ('data', 'grads', 'labels', 'none', 'per-sample-grads', 'train-mode')


def _log_rank_ensemble(members: tuple[str, ...], chosen: str) -> dict:
    """``register_proxy`` arguments of an equal-weight log-rank ensemble of per-model
    ``members``."""
    return dict(
        higher_is_better=True,
        needs=_NEEDS,
        paper=f"nasx ({chosen}; log-rank aggregation as AZ-NAS)",
        description="Sum of log-ranks over the evaluated architectures of "
        + ", ".join(members) + ".",
        components=members,
        combine=Ensemble(members, (1.0,) * len(members), NASX_ENS_AGGREGATION),
        batch_split="sensitive",
    )


register_proxy("nasx-ens", **_log_rank_ensemble(
    NASX_ENS_MEMBERS, "ensemble chosen on NAS-Bench-201 CIFAR-10"))
register_proxy("nasx-top", **_log_rank_ensemble(
    NASX_TOP_MEMBERS, "ensemble for searches, chosen by hand on NAS-Bench-201's best CIFAR-10 "
    "cells"))

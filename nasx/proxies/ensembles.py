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
jacob-cov, synflow, GradAlign-I-frac and GradAlign-II: an ensemble for searches, which must
order the very best cells of a space, not only the whole of it.

How the members were chosen (``benchmarks/ensemble_nb201.py``, ``ensemble_choice_top``): the
same cells, halves and greedy path as nasx-ens, with another objective on the selection half:
the Kendall tau over the half plus 0.5 times the Kendall tau among its best tenth
(``cifar10_test`` at or above the 0.9 quantile). Searches return one of the cells a proxy puts
first, so what matters to them is the order among the best cells, where nasx-ens and every
size-tracking proxy are close to chance (best-tenth tau 0.08 on the held-out half for
nasx-ens). Over all 1000 cells, GradAlign-I-frac, the alignment without the parameter count,
has the highest best-tenth tau of any single proxy. The held-out half, the other accuracy
columns and every other space played no part in the choice. Version 1 (MeCo, GradAlign-I,
jacob-cov, Zen-NAS, linear regions) was chosen by hand and is retired. The figures are in
``benchmarks/results/ensemble_nb201_path_cpu.json``.

``nasx-cross`` -- **higher is better** (population proxy). The log-rank ensemble of
:data:`NASX_CROSS_MEMBERS`, chosen across spaces as a zero-shot fitness for a space without
labels; ``auto`` (and :func:`default_proxy`) resolves to it.

How the members were chosen (``benchmarks/ensemble_cross_space.py --features nasx``, rule
stated in that script before the run): nasx scored every per-model proxy (but grasp) on NASLib's
cells of NAS-Bench-201 (CIFAR-10; 344 cells), NAS-Bench-101 (132) and DARTS / NAS-Bench-301
(152), seeded random subsets of NASLib's sets, one probe batch of 64 CIFAR-10 images
(``benchmarks/zc_spaces.py``); a greedy forward selection of an equal-weight log-rank ensemble
maximised the mean Kendall tau over the three spaces and stopped when an addition gained less
than 0.002. It chose MeCo, GradAlign-I, the linear-region count and AZ-NAS expressivity
(version 1, chosen the same way on NASLib's precomputed scores of eight proxies, was
``params`` alone). Where it holds: on cells of the three spaces not used to choose it (the rule
run on random halves, tested on the other halves, 5 splits) it beats ``params`` by 0.17 (NB201),
0.07 (NB101) and 0.04 (NB301) Kendall tau on average; chosen on two spaces and tested on the
third, space unseen, the ensemble it picks beats ``params`` on NB201 (0.742 against 0.614), ties
it on NB301 (0.320 against 0.309) and loses on NB101 (0.368 against 0.502). The linear-region
count is the same for every NAS-Bench-101 network at 128 stem channels (every probe sample has
its own activation pattern), so it adds nothing there. The figures are in
``benchmarks/results/ensemble_cross_space_nasx.json``; the version-1 selection is in
``benchmarks/results/ensemble_cross_space.json``.
"""

from __future__ import annotations

# the members register first: an ensemble's needs and batch split are its members'
from . import aznas, cost, gradalign, jacobcov, meco, synflow, tenas  # noqa: F401
from .base import ProxySpec, add_name_resolver, get_proxy
from .ensemble import register_ensemble

__all__ = ["AUTO", "NASX_CROSS_MEMBERS", "NASX_ENS_MEMBERS", "NASX_ENS_AGGREGATION",
           "NASX_TOP_MEMBERS", "default_proxy"]

#: members of nasx-ens, in the order the selection added them
NASX_ENS_MEMBERS = ("meco", "jacob-cov", "gradalign-i", "az-trainability", "gradalign-ii-norm",
                    "gradalign-ii")
NASX_ENS_AGGREGATION = "log-rank"
#: members of nasx-top (aggregation log-rank, equal weights), in the order the selection added
#: them
NASX_TOP_MEMBERS = ("meco", "jacob-cov", "synflow", "gradalign-i-frac", "gradalign-ii")
#: members of nasx-cross (aggregation log-rank, equal weights), as the cross-space selection
#: of ``benchmarks/ensemble_cross_space.py`` chose them
NASX_CROSS_MEMBERS = ("meco", "gradalign-i", "linear-regions", "az-expressivity")
#: the name that resolves to the default zero-shot fitness of a space (:func:`default_proxy`)
AUTO = "auto"


def _paper(chosen: str) -> str:
    return f"nasx ({chosen}; log-rank aggregation as AZ-NAS)"


def _description(members: tuple[str, ...]) -> str:
    return "Sum of log-ranks over the evaluated architectures of " + ", ".join(members) + "."


register_ensemble(
    "nasx-ens", NASX_ENS_MEMBERS,
    aggregation=NASX_ENS_AGGREGATION,
    paper=_paper("ensemble chosen on NAS-Bench-201 CIFAR-10"),
    description=_description(NASX_ENS_MEMBERS),
)
register_ensemble(
    "nasx-top", NASX_TOP_MEMBERS,
    aggregation=NASX_ENS_AGGREGATION,
    version="2",  # 2: members chosen for the order of the best cells (1: chosen by hand)
    paper=_paper("ensemble for searches, chosen on NAS-Bench-201 CIFAR-10 for its order of the "
                 "best cells"),
    description=_description(NASX_TOP_MEMBERS),
)
register_ensemble(
    "nasx-cross", NASX_CROSS_MEMBERS,
    aggregation=NASX_ENS_AGGREGATION,
    version="2",  # 2: chosen on nasx's own scores (1: params alone, on NASLib's scores)
    batch_split="sensitive",
    paper=_paper("ensemble chosen across NAS-Bench-201, NAS-Bench-101 and DARTS on nasx's "
                 "scores of NASLib's cells"),
    description=_description(NASX_CROSS_MEMBERS),
)


def default_proxy(space: str | None = None) -> str:
    """The name of the zero-shot fitness that ``auto`` stands for on ``space``: ``nasx-cross``
    for every space (the cross-space choice of ``benchmarks/ensemble_cross_space.py``; no
    space has its own default yet).

    Example:
        >>> default_proxy("darts")
        'nasx-cross'
    """
    return "nasx-cross"


def _resolve_auto(name: str) -> ProxySpec | None:
    return get_proxy(default_proxy()) if name.strip().lower() == AUTO else None


add_name_resolver(_resolve_auto)

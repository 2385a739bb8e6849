"""The built-in ensembles ``nasx-ens`` and ``nasx-top``: registered like every built-in, members
registered and distinct, and each one's score is the rank aggregation of its members."""

from __future__ import annotations

import numpy as np
import pytest

import nasx
from nasx.population import leaf_proxies, population_values
from nasx.proxies import ensembles
from nasx.proxies.base import get_proxy
from nasx.proxies.ensemble import ensemble

BUILT_IN = pytest.mark.parametrize("name,members", [
    ("nasx-ens", ensembles.NASX_ENS_MEMBERS), ("nasx-top", ensembles.NASX_TOP_MEMBERS)])


@BUILT_IN
def test_registered_with_its_members(name, members):
    spec = get_proxy(name)
    assert spec.population and spec.higher_is_better
    assert spec.components == members
    assert len(set(spec.components)) == len(spec.components)
    for m in spec.components:
        assert not get_proxy(m).population  # every member is scored per model
    assert [p.name for p in leaf_proxies([name])] == list(spec.components)
    assert name in nasx.list_proxies()


@BUILT_IN
def test_needs_are_the_members_needs(name, members):
    spec = get_proxy(name)
    want = set()
    for m in spec.components:
        want |= set(get_proxy(m).needs)
    assert set(spec.needs) == want


@BUILT_IN
def test_equals_the_same_ensemble_by_name(name, members):
    spec = get_proxy(name)
    same = ensemble(list(spec.components), aggregation=ensembles.NASX_ENS_AGGREGATION)
    rng = np.random.default_rng(0)
    leaves = {m: list(rng.normal(size=12)) for m in spec.components}
    leaves[spec.components[0]][3] = None  # a failure ranks last
    a = population_values(spec, leaves)
    b = population_values(same, leaves)
    assert np.allclose(a, b)
    # an architecture ranked best by every member scores highest
    for m in spec.components:
        hib = get_proxy(m).higher_is_better
        leaves[m][5] = 1e9 if hib else -1e9
    v = population_values(spec, leaves)
    assert int(np.argmax(v)) == 5 and v[5] == pytest.approx(np.max(v))


def test_members_are_those_the_committed_selection_chose():
    """The members are the ones ``benchmarks/ensemble_nb201.py`` chose (its committed result):
    nasx-ens by the Kendall-tau rule, nasx-top by the rule that also weighs the best cells."""
    import json
    from pathlib import Path

    path = (Path(__file__).resolve().parents[2] / "benchmarks" / "results"
            / "ensemble_nb201_path_cpu.json")
    if not path.exists():
        pytest.skip(f"{path} is not in this checkout")
    result = json.loads(path.read_text())
    agg = ensembles.NASX_ENS_AGGREGATION
    assert result["ensemble_choice"]["aggregation"] == agg
    assert tuple(result["ensemble_choice"]["runs"][agg]["members"]) == ensembles.NASX_ENS_MEMBERS
    assert result["ensemble_choice_top"]["aggregation"] == agg
    assert (tuple(result["ensemble_choice_top"]["runs"][agg]["members"])
            == ensembles.NASX_TOP_MEMBERS)

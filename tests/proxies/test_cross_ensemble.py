"""``nasx-cross`` and ``auto``: registered beside nasx-ens/nasx-top, members as the committed
cross-space selection chose them, and ``auto`` resolving to it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import nasx
from nasx.population import population_values
from nasx.proxies import ensembles
from nasx.proxies.base import get_proxy
from nasx.proxies.ensemble import ensemble

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def test_registered_beside_the_others_and_auto_resolves_to_it():
    spec = get_proxy("nasx-cross")
    assert spec.population and spec.higher_is_better
    assert spec.components == ensembles.NASX_CROSS_MEMBERS
    assert {"nasx-ens", "nasx-top", "nasx-cross"} <= set(nasx.list_proxies())
    assert get_proxy("auto") is spec
    assert get_proxy(ensembles.default_proxy("nasbench101")) is spec
    want = set()
    for m in spec.components:
        want |= set(get_proxy(m).needs)
    assert set(spec.needs) == want


def test_equals_the_log_rank_ensemble_of_its_members():
    spec = get_proxy("auto")
    same = ensemble(list(spec.components), aggregation="log-rank")
    rng = np.random.default_rng(1)
    leaves = {m: list(rng.normal(size=9)) for m in spec.components}
    assert np.allclose(population_values(spec, leaves), population_values(same, leaves))


def test_members_are_those_the_committed_selection_chose():
    path = RESULTS / "ensemble_cross_space_nasx.json"
    if not path.exists():
        pytest.skip(f"{path} is not in this checkout")
    doc = json.loads(path.read_text())
    assert doc["features"] == "nasx"
    final = doc["final"]
    assert tuple(final["nasx_members"]) == ensembles.NASX_CROSS_MEMBERS

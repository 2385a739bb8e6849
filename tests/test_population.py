"""Population proxies: leaf expansion and the one function that turns leaf results into
fitness (nasx.population)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nasx.errors import UnknownNameError
from nasx.population import leaf_proxies, population_fitness
from nasx.proxies.base import get_proxy
from nasx.records import FAILED, ScoreResult


def test_leaves_of_an_ensemble_are_expanded_in_order_without_duplicates():
    names = [s.name for s in leaf_proxies(["params+flops", "params", "synflow"])]
    assert names == ["params", "flops", "synflow"]


def test_per_model_proxy_gives_its_values_and_nan_for_failures():
    spec = get_proxy("params")
    rows = [{"params": ScoreResult("a", "params", 3.0)},
            {"params": ScoreResult("b", "params", None, FAILED)},
            None,
            {"params": 5.0}]
    v = population_fitness(spec, rows)
    assert v[0] == 3.0 and math.isnan(v[1]) and math.isnan(v[2]) and v[3] == 5.0
    o = population_fitness(spec, rows, oriented=True)
    assert o[1] == -np.inf and o[3] == 5.0


def test_population_proxy_combines_over_the_population_and_fails_only_when_all_fail():
    spec = get_proxy("params+flops")
    rows = [{"params": 1.0, "flops": 10.0}, {"params": 2.0, "flops": 30.0},
            {"params": 3.0, "flops": 20.0}, {"params": None, "flops": None}]
    v = population_fitness(spec, rows)
    assert math.isnan(v[3])
    # the best in both members ranks first; the order follows the members' ranks
    assert v[2] > v[0] and v[1] > v[0]
    with pytest.raises(UnknownNameError):
        population_fitness(get_proxy("no-such-proxy-x"), rows)

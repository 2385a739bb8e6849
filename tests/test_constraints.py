"""Resource constraints: quantities, the constraint record and the checker
(nasx.constraints)."""

from __future__ import annotations

import pytest

import nasx.testing  # noqa: F401  (toy space)
from nasx.constraints import ConstraintChecker, Constraints, parse_quantity
from nasx.errors import ConfigError
from nasx.registry import make_space


@pytest.mark.parametrize("text, want", [("1.5M", 1.5e6), ("300k", 3e5), ("2G", 2e9),
                                        ("2B", 2e9), ("1T", 1e12), (1000, 1000.0),
                                        ("1e6", 1e6), (None, None)])
def test_parse_quantity(text, want):
    assert parse_quantity(text) == want


@pytest.mark.parametrize("bad", ["abc", "1.5X", "-3", "0", True, float("nan"), float("inf")])
def test_parse_quantity_refuses(bad):
    with pytest.raises(ConfigError):
        parse_quantity(bad, "max_params")


def test_constraints_record():
    assert not Constraints.of().active
    c = Constraints.of("1M", None)
    assert c.active and c.to_dict() == {"max_params": 1e6}


def test_checker_measures_once_and_reports_the_reason():
    space = make_space("toy")
    import numpy as np

    arch = space.sample(np.random.default_rng(0))
    loose = ConstraintChecker(space, Constraints.of(max_params=1e12), 10)
    reason, m = loose.check(arch)
    assert reason is None and m["params"] > 0
    tight = ConstraintChecker(space, Constraints.of(max_params=1), 10)
    reason, m2 = tight.check(arch)
    assert reason is not None and "params" in reason and m2["params"] == m["params"]

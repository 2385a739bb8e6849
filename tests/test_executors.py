"""Executors: the process executor gives the same scores as the sequential one."""

from __future__ import annotations

import pytest

import nasx
import nasx.testing  # noqa: F401  (toy space)
from nasx.errors import ConfigError
from nasx.executors import get_executor


def test_process_executor_matches_sequential(batch):
    kw = dict(space="toy", proxy="gradalign-i", strategy="random", budget=4, data=batch,
              seed=3, store=False, device="cpu")
    seq = nasx.search(**kw)
    par = nasx.search(**kw, executor="process", executor_opts={"workers": 2})
    assert par.evaluated == seq.evaluated == 4
    assert par.top == seq.top


def test_unknown_executor():
    with pytest.raises(ConfigError, match="sequential, process or ray"):
        get_executor("threads")


def test_ray_missing_is_a_clear_error():
    try:
        import ray  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"nasx\[ray\]"):
            get_executor("ray")
    else:
        pytest.skip("ray is installed")

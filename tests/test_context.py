"""Run set-up pieces (nasx.context): proxy lists, probe batches, stores, the run context."""

from __future__ import annotations

import pytest

import nasx.testing  # noqa: F401  (toy space and oracle proxy)
from nasx.context import RunContext, make_batch, parse_proxies, resolve_store
from nasx.data import ProbeBatch
from nasx.errors import ConfigError, NasxError, UnknownNameError
from nasx.proxies.base import get_proxy
from nasx.registry import make_space
from nasx.store import Store


def test_parse_proxies_forms():
    assert [s.name for s in parse_proxies("params, flops")] == ["params", "flops"]
    assert [s.name for s in parse_proxies(["params"])] == ["params"]
    spec = get_proxy("flops")
    assert parse_proxies(spec) == [spec]
    with pytest.raises(ConfigError, match="no proxy"):
        parse_proxies(" , ")
    with pytest.raises(UnknownNameError, match="Did you mean"):
        parse_proxies("parms")


def test_make_batch_is_shape_only_for_data_free_proxies_and_passes_a_batch_through():
    space = make_space("toy")
    b = make_batch(None, space, proxies=[get_proxy("params")])
    assert isinstance(b, ProbeBatch) and tuple(b.x.shape[1:]) == tuple(space.input_shape)
    assert make_batch(b, space) is b


def test_resolve_store(tmp_path):
    assert resolve_store(False) is None
    st = resolve_store(str(tmp_path / "a.sqlite"))
    assert isinstance(st, Store)
    assert resolve_store(st) is st
    st.close()


def test_run_context_closes_what_it_opened_even_on_error(tmp_path):
    with pytest.raises(NasxError):
        RunContext(str(tmp_path / "x.sqlite"), "no-such-executor", device="cpu")
    with RunContext(str(tmp_path / "y.sqlite"), "sequential", device="cpu") as run:
        assert run.store is not None and run.executor is not None

"""The run settings record: defaults, checks where it is built, the probe seed, picking it out
of a public function's arguments."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from nasx import api
from nasx.errors import ConfigError
from nasx.settings import RunSettings


def test_defaults_and_probe_seed():
    s = RunSettings()
    assert (s.batch_size, s.seed, s.data_seed, s.device, s.grad_method) == (128, 0, None,
                                                                              "auto", "auto")
    assert s.probe_seed == 0
    assert RunSettings(seed=5).probe_seed == 5
    assert RunSettings(seed=5, data_seed=2).probe_seed == 2


@pytest.mark.parametrize("field, value, needle", [
    ("seed", -1, "seed must be an integer"),
    ("seed", 1.5, "seed must be an integer"),
    ("seed", True, "seed must be an integer"),
    ("data_seed", -3, "data seed must be an integer"),
    ("batch_size", 0, "batch size must be a positive integer"),
    ("batch_size", 2.0, "batch size must be a positive integer"),
    ("chunk_size", 0, "chunk size must be a positive integer"),
    ("grad_method", "loop", "per-sample gradient method"),
    ("executor_opts", ["workers", 2], "executor options must be a mapping"),
])
def test_bad_values_are_refused_where_the_record_is_built(field, value, needle):
    with pytest.raises(ConfigError, match=needle):
        RunSettings(**{field: value})


def test_grad_method_is_normalised_and_executor_opts_copied():
    opts = {"workers": 2}
    s = RunSettings(grad_method="VMAP", executor_opts=opts)
    opts["workers"] = 99
    assert s.grad_method == "vmap" and s.executor_opts == {"workers": 2}
    assert RunSettings(executor_opts=None).executor_opts == {}


def test_frozen_replace_checks_again():
    s = RunSettings(seed=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.seed = 2  # type: ignore[misc]
    assert s.replace(seed=2).seed == 2
    with pytest.raises(ConfigError):
        s.replace(batch_size=-1)


def test_on_event_is_not_part_of_equality():
    assert RunSettings(on_event=print) == RunSettings()
    seen = []
    RunSettings(on_event=seen.append).emit("x")
    RunSettings().emit("y")  # no callback: nothing happens
    assert seen == ["x"]


def test_pick_takes_the_fields_and_ignores_the_rest():
    s = RunSettings.pick({"seed": 3, "budget": 10, "space": "toy", "device": "cpu"})
    assert s == RunSettings(seed=3, device="cpu")


@pytest.mark.parametrize("fn", [api.search, api.score, api.evaluate])
def test_every_field_is_a_keyword_of_each_public_function(fn):
    params = inspect.signature(fn).parameters
    for name in RunSettings.names():
        assert name in params and params[name].kind is inspect.Parameter.KEYWORD_ONLY, name

"""The frozen records and their rules (nasx.records)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from nasx.records import (
    FAILED,
    OK,
    ScoreKey,
    ScoreResult,
    finite_or_none,
    json_clean,
    opts_key,
)


@pytest.mark.parametrize("v, want", [(None, None), (1, 1.0), (np.float32(2.5), 2.5),
                                     (math.nan, None), (math.inf, None), (-math.inf, None)])
def test_finite_or_none(v, want):
    assert finite_or_none(v) == want


def test_json_clean_makes_valid_json():
    doc = {"a": math.nan, "b": [math.inf, np.int64(3), (np.float64(0.5), None)],
           "c": {"d": -math.inf}}
    out = json_clean(doc)
    assert out == {"a": None, "b": [None, 3, [0.5, None]], "c": {"d": None}}
    json.loads(json.dumps(out, allow_nan=False))
    assert type(out["b"][1]) is int


def test_opts_key_is_canonical():
    assert opts_key({"b": 1, "a": 2}) == opts_key({"a": 2, "b": 1})
    assert opts_key({"a": 1}) != opts_key({"a": "1"})
    assert opts_key({"p": object}) == opts_key({"p": object})  # str() for what JSON cannot write


def test_score_result_orientation_and_failures():
    up = ScoreResult("x", "p", 2.0)
    down = ScoreResult("x", "p", 2.0, higher_is_better=False)
    bad = ScoreResult("x", "p", None, FAILED, "boom")
    assert up.ok and up.oriented() == 2.0 and down.oriented() == -2.0
    assert not bad.ok and bad.oriented() == -math.inf
    assert ScoreResult("x", "p", math.nan).to_dict()["value"] is None
    assert up.to_dict()["status"] == OK
    with pytest.raises(dataclasses.FrozenInstanceError):
        up.value = 3.0  # type: ignore[misc]


def test_score_key_tuple_has_every_field_in_order():
    k = ScoreKey("s", "{}", "a", "p", "fp", 1, "cpu", "{}")
    assert k.as_tuple() == tuple(getattr(k, f.name) for f in dataclasses.fields(k))

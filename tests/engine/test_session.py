"""A session opens a run's pieces once: the device, the store and executor on first use, one
probe batch per input shape; what it opened it closes; runs in one session equal one-shot runs."""

from __future__ import annotations

import pytest

import nasx
import nasx.testing  # noqa: F401  (toy space and oracle proxy)
from nasx.engine.session import Session
from nasx.errors import StoreError
from nasx.settings import RunSettings
from nasx.store import Store


def test_keywords_or_a_record_not_both():
    assert Session(seed=2, store=False).settings == RunSettings(seed=2, store=False)
    assert Session(RunSettings(seed=4)).settings.seed == 4
    with pytest.raises(TypeError):
        Session(RunSettings(), seed=1)


def test_store_and_executor_open_on_first_use_and_close_once(tmp_path):
    path = tmp_path / "s.sqlite"
    s = Session(store=str(path), device="cpu")
    assert not path.exists()  # nothing opened yet
    store = s.store
    assert isinstance(store, Store) and path.exists()
    assert s.store is store and s.executor is s.executor
    s.close()
    s.close()  # a second close does nothing
    with pytest.raises(StoreError, match="closed"):  # the session closed the store it opened
        store.run_get("x")


def test_a_store_object_passed_in_stays_open(tmp_path):
    mine = Store(str(tmp_path / "mine.sqlite"))
    with Session(store=mine, device="cpu") as s:
        assert s.store is mine
    mine.run_get("nothing")  # still usable
    mine.close()


def test_one_batch_per_input_shape():
    with Session(data="synthetic", batch_size=8, device="cpu", store=False) as s:
        space, _, leaves = s.open("toy", "toy-oracle")
        assert s.batch(space, leaves) is s.batch(space, leaves)


def test_runs_in_one_session_equal_one_shot_runs(tmp_path):
    opts = dict(device="cpu", store=str(tmp_path / "s.sqlite"), seed=1)
    with Session(**opts) as s:
        a = s.search("toy", "toy-oracle", "random", budget=6)
        b = s.search("toy", "toy-oracle", "evolution", budget=6,
                     strategy_opts={"population": 3, "sample": 2})
        sc = s.score(a.best.text, "toy", "toy-oracle")
    one = nasx.search("toy", "toy-oracle", "random", budget=6, device="cpu", store=False,
                      seed=1)
    assert (a.best, a.score) == (one.best, one.score)
    assert b.evaluated == 6
    assert sc.value == pytest.approx(a.score)


@pytest.mark.parametrize("module, name, public", [("nasx.evaluation", "evaluate", "evaluate"),
                                                  ("nasx.service", "score", "score")])
def test_old_implementation_names_are_the_public_functions(module, name, public):
    import importlib

    with pytest.warns(DeprecationWarning, match=f"{module}.{name} is deprecated"):
        fn = getattr(importlib.import_module(module), name)
    assert fn is getattr(nasx, public)


def test_session_and_settings_are_top_level_names():
    from nasx.settings import RunSettings as Record

    assert nasx.Session is Session and nasx.RunSettings is Record
    with pytest.raises(AttributeError):
        nasx.no_such_name  # noqa: B018

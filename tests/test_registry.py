from __future__ import annotations

import importlib.metadata as md
import warnings

import pytest

import nasx
from nasx import registry
from nasx.errors import RegistrationError, UnknownNameError
from nasx.proxies.base import get_proxy, register_proxy


def test_builtins_are_registered():
    assert {"gradalign-i", "gradalign-ii"} <= set(nasx.list_proxies())
    assert "nasbench201" in nasx.list_spaces()
    assert "random" in nasx.list_strategies()
    assert registry.proxies.source("gradalign-i") == "nasx"


def test_unknown_name_suggests_fix():
    with pytest.raises(UnknownNameError) as e:
        get_proxy("gradalgn-i")
    msg = str(e.value)
    assert "Did you mean 'gradalign-i'" in msg
    assert "Installed:" in msg and "gradalign-ii" in msg


def test_underscore_alias_and_glob():
    assert get_proxy("gradalign_i").name == "gradalign-i"
    assert nasx.list_proxies("gradalign-*") == [
        "gradalign-i", "gradalign-i-frac", "gradalign-ii", "gradalign-ii-norm"]
    assert nasx.list_proxies("nomatch*") == []


def test_signature_validated_at_registration():
    with pytest.raises(RegistrationError, match=r"model, batch, ctx"):
        register_proxy("bad-sig", higher_is_better=True)(lambda model: 1.0)
    with pytest.raises(RegistrationError, match="option 'alpha'"):
        register_proxy("bad-opt", higher_is_better=True, alpha=1)(
            lambda model, batch, ctx: 1.0)
    with pytest.raises(RegistrationError, match="higher_is_better"):
        register_proxy("bad-orient", higher_is_better="yes")  # type: ignore[arg-type]
    with pytest.raises(RegistrationError, match="unknown needs"):
        register_proxy("bad-needs", higher_is_better=True, needs=("telepathy",))
    assert "bad-sig" not in registry.proxies


def test_duplicate_registration_is_an_error_unless_replace():
    def f(model, batch, ctx):
        return 1.0

    register_proxy("dup-test", higher_is_better=True, needs=("none",), replace=True)(f)
    with registry._loading_from("plugin other"):
        with pytest.raises(RegistrationError, match="already registered"):
            register_proxy("dup-test", higher_is_better=True, needs=("none",))(f)
    registry.proxies.remove("dup-test")


def test_broken_plugin_is_a_warning(monkeypatch):
    ep = md.EntryPoint(name="broken", value="nasx_no_such_module_xyz", group="nasx.proxies")
    reg = registry.Registry("proxy", "nasx.proxies")
    monkeypatch.setattr(md, "entry_points", lambda group=None: [ep] if group else [])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        names = reg.names()
    assert any("failed to load" in str(x.message) and "broken" in str(x.message) for x in w)
    assert isinstance(names, list)  # the registry still works
    st = [s for s in registry._status if s.name == "broken"]
    assert st and not st[-1].ok and "ModuleNotFoundError" in (st[-1].error or "")


def test_register_space_requires_subclass():
    with pytest.raises(RegistrationError):
        nasx.register_space("not-a-space")(object)

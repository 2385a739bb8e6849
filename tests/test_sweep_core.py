"""Hostile input to the library core (parsers, space options, the store, registration, ground
truth and the eval outputs), one table per kind. Every row ends in one of three verdicts: the
correct result, a one-line NasxError (exit 2 on the command line), or a documented warning."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from nasx.api import make_space
from nasx.cli.main import main
from nasx.errors import ConfigError, InvalidArchError, NasxError, StoreError
from nasx.evaluation import load_truth
from nasx.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_subprocess import cli_env  # noqa: E402

#: longest error line a row accepts (the inputs below are up to megabytes long)
MAX_MESSAGE = 1000

_DARTS = ("Genotype(normal=[('sep_conv_3x3', 0), ('avg_pool_3x3', 1), ('avg_pool_3x3', 0), "
          "('max_pool_3x3', 2), ('sep_conv_3x3', 2), ('sep_conv_5x5', 3), ('sep_conv_3x3', 3), "
          "('sep_conv_3x3', 4)], normal_concat={concat}, reduce=[('sep_conv_5x5', 0), "
          "('dil_conv_3x3', 1), ('sep_conv_3x3', 0), ('max_pool_3x3', 1), ('avg_pool_3x3', 2), "
          "('max_pool_3x3', 3), ('skip_connect', 0), ('max_pool_3x3', 3)], "
          "reduce_concat=[2, 3, 4, 5])")
_NB101 = '{"matrix": [[0, 1, 0], [0, 0, 1], [0, 0, 0]], "ops": ["input", "maxpool3x3", "output"]}'


def _nested(depth: int, head: str = "", tail: str = "") -> str:
    return head + "[" * depth + "]" * depth + tail


# (id, space, text, verdict): "ok" parses to the same cell as the reference, else the error type
PARSE_ROWS = [
    ("darts-range-ok", "darts", _DARTS.format(concat="range(2, 6)"), "ok"),
    ("darts-range-huge", "darts", _DARTS.format(concat="range(100000000)"), InvalidArchError),
    ("darts-range-negative-huge", "darts", _DARTS.format(concat="range(-10**9, 0)"),
     InvalidArchError),
    ("darts-range-step-zero", "darts", _DARTS.format(concat="range(2, 6, 0)"), InvalidArchError),
    ("darts-nested-genotype", "darts", _nested(100_000, "Genotype(normal=", ")"),
     InvalidArchError),
    ("darts-nested-json", "darts", '{"normal": ' + _nested(100_000) + "}", InvalidArchError),
    ("darts-nested-json-just-past-limit", "darts", '{"normal": ' + _nested(17) + "}",
     InvalidArchError),
    ("darts-huge-text", "darts", _DARTS.format(concat="[2, 3, 4, 5" + ", 5" * 100_000 + "]"),
     InvalidArchError),
    ("nb101-nested-json", "nasbench101", '{"matrix": ' + _nested(100_000) + "}",
     InvalidArchError),
    ("nb101-nested-literal", "nasbench101", _nested(100_000, "{'matrix': ", "}"),
     InvalidArchError),
    ("nb101-ok", "nasbench101", _NB101, "ok"),
    ("nds-nested-json", "nds-enas", '{"genotype": ' + _nested(100_000) + "}",
     InvalidArchError),
]


@pytest.mark.parametrize("space,text,verdict", [r[1:] for r in PARSE_ROWS],
                         ids=[r[0] for r in PARSE_ROWS])
def test_parse_hostile_text(space, text, verdict):
    sp = make_space(space)
    start = time.perf_counter()
    if verdict == "ok":
        arch = sp.parse(text)
        assert sp.parse(arch.text) == arch
        if space == "darts":
            assert arch == sp.parse(_DARTS.format(concat="[2, 3, 4, 5]"))
        return
    with pytest.raises(verdict) as exc:
        sp.parse(text)
    msg = str(exc.value)
    assert "\n" not in msg and len(msg) < MAX_MESSAGE, msg[:200]
    assert time.perf_counter() - start < 2.0  # refused up front, nothing expanded


# (id, space, options, verdict)
OPTION_ROWS = [
    ("nb201-input-size", "nasbench201", {"input_size": "100000"}, ConfigError),
    ("nb201-input-size-at-limit", "nasbench201", {"input_size": "1024"}, "ok"),
    ("nb201-C", "nasbench201", {"C": 100000}, ConfigError),
    ("nb201-N", "nasbench201", {"N": 1000}, ConfigError),
    ("darts-layers", "darts", {"layers": 10**6}, ConfigError),
    ("darts-C", "darts", {"C": 4096}, ConfigError),
    ("darts-input-size", "darts", {"input_size": 100000}, ConfigError),
    ("nb101-stacks", "nasbench101", {"stacks": 20}, ConfigError),
    ("nb101-stem", "nasbench101", {"stem_channels": 10**5}, ConfigError),
    ("nds-widths", "nds-enas", {"widths": "8,100000"}, ConfigError),
    ("nds-depths", "nds-enas", {"depths": "2,5000"}, ConfigError),
    ("nds-fixed-depth", "nds-darts-fix-w-d", {"depth": 5000}, ConfigError),
]


@pytest.mark.parametrize("space,opts,verdict", [r[1:] for r in OPTION_ROWS],
                         ids=[r[0] for r in OPTION_ROWS])
def test_absurd_space_options(space, opts, verdict):
    if verdict == "ok":
        make_space(space, **opts)
        return
    with pytest.raises(verdict, match="limit") as exc:
        make_space(space, **opts)
    assert "\n" not in str(exc.value)


def test_space_opt_limit_on_the_command_line(capsys):
    code = main(["search", "--space", "nasbench201", "--space-opt", "input_size=100000",
                 "--proxy", "params", "--budget", "1", "--no-store"])
    err = capsys.readouterr().err
    assert code == 2 and "above its limit" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["a#b", "a?b", "a%23b"])
def test_store_path_with_uri_characters(tmp_path, name):
    """A damaged store at a path holding '#', '?' or '%' is checked itself, not the file an
    unquoted URI would name (the path cut at '#' or '?', or '%23' decoded; a valid store is put
    there)."""
    import sqlite3
    from urllib.parse import unquote

    prefix = tmp_path / unquote(name.split("#")[0].split("?")[0])
    Store(prefix)._db.close()  # a valid store at the prefix
    damaged = tmp_path / name
    s = Store(damaged)
    s._db.execute("CREATE TABLE filler (x TEXT)")
    s._db.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,)] * 200)
    s._db.commit()
    s._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    s._db.close()
    data = bytearray(damaged.read_bytes())
    data[-3 * 4096 + 10:-3 * 4096 + 400] = b"\x07" * 390  # one damaged table page
    damaged.write_bytes(bytes(data))
    with sqlite3.connect(damaged) as db:
        assert db.execute("PRAGMA quick_check").fetchone()[0] != "ok"
    with pytest.raises(StoreError, match="damaged") as exc:
        Store(damaged)
    assert "\n" not in str(exc.value)
    Store(prefix)._db.close()  # the prefix's store is still fine


# (id, flags given an output path equal to an input)
EVAL_ROWS = [
    ("csv-is-store", ["--csv", "{store}"]),
    ("csv-is-truth", ["--csv", "{truth}"]),
    ("csv-is-truth-other-spelling", ["--csv", "{tmp}/sub/../truth.csv"]),
    ("plot-is-store", ["--plot", "{store}"]),
    ("csv-is-config", ["--csv", "{config}"]),
]


@pytest.mark.parametrize("flags", [r[1] for r in EVAL_ROWS], ids=[r[0] for r in EVAL_ROWS])
def test_eval_refuses_to_overwrite_an_input(tmp_path, capsys, flags):
    (tmp_path / "sub").mkdir()
    store = tmp_path / "s.sqlite"
    Store(store)._db.close()
    truth = tmp_path / "truth.csv"
    truth.write_text("arch,accuracy\n"
                     "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|,1\n"
                     "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|,2\n")
    config = tmp_path / "c.yaml"
    config.write_text("space: nasbench201\n")
    before = {p: p.read_bytes() for p in (store, truth, config)}
    values = {"store": store, "truth": truth, "config": config, "tmp": tmp_path}
    code = main(["eval", "--config", str(config), "--proxy", "params", "--truth", str(truth),
                 "--store", str(store), "--all",
                 *[f.format(**values) for f in flags]])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "is the --" in err and len(err.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in before} == before


def _subprocess(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=cli_env(),
                          capture_output=True, text=True, timeout=120)


def test_registration_in_a_fresh_interpreter(tmp_path):
    """Run in a subprocess, so that the registry of the other tests is untouched.

    * A built-in name registered before the plugins load, without ``replace=True``, is refused
      (naming ``replace=True``), and the built-in module still loads (``flops`` lives beside
      ``params``); with ``replace=True`` the user's proxy wins and the module stays loaded.
    * A name the store keys cannot hold (``my@proxy``) is refused, naming the usual characters;
      an allowed unusual name comes back from the cache exactly.
    """
    r = _subprocess(f"""
        import nasx
        from nasx.errors import RegistrationError
        from nasx.proxies.base import get_proxy, register_proxy
        try:
            register_proxy("params", higher_is_better=True, needs=["none"])(
                lambda model, batch, ctx: 1.0)
        except RegistrationError as exc:
            print("REFUSED", exc)
        print("PARAMS", get_proxy("params").fn.__module__)
        print("FLOPS", get_proxy("flops").fn.__module__)
        register_proxy("params", higher_is_better=True, needs=["none"], replace=True)(
            lambda model, batch, ctx: 1.0)
        print("REPLACED", get_proxy("params").fn.__module__, get_proxy("flops").fn.__module__)
        try:
            register_proxy("my@proxy", higher_is_better=True, needs=["none"])(
                lambda model, batch, ctx: 1.0)
        except RegistrationError as exc:
            print("REFUSED", exc)
        register_proxy("my.proxy+v2_x", higher_is_better=True, needs=["none"])(
            lambda model, batch, ctx: 1.0)
        cell = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"
        kw = dict(space="nasbench201", proxy="my.proxy+v2_x", data="shape",
                  space_opts={{"C": 8, "N": 1, "input_size": 8}}, device="cpu",
                  store={str(tmp_path / "s.sqlite")!r})
        first = nasx.score([cell], **kw)[0]
        again = nasx.score([cell], **kw)[0]
        print("NAMES", first.proxy, again.proxy, again.cached)
    """)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "REFUSED proxy 'params' is already registered" in out and "replace=True" in out
    assert "PARAMS nasx.proxies.cost" in out and "FLOPS nasx.proxies.cost" in out
    assert "REPLACED __main__ nasx.proxies.cost" in out
    assert "failed to load" not in r.stderr
    assert "REFUSED proxy name 'my@proxy' must not contain '@'" in out
    assert "use lowercase letters, digits and - _ . +" in out
    assert "NAMES my.proxy+v2_x my.proxy+v2_x True" in out


def test_ensemble_name_with_at_is_refused():
    from nasx.proxies.ensemble import ensemble

    with pytest.raises(ConfigError, match="'@'"):
        ensemble(["params", "flops"], name="my@ens")


_A = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"
_B = "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|"
# (id, (arch, accuracy) rows, expected {arch: accuracy}, warns)
TRUTH_ROWS = [
    ("distinct", [(_A, 1.0), (_B, 2.0)], {_A: 1.0, _B: 2.0}, False),
    ("identical-duplicates", [(_A, 1.0), (_B, 2.0), (_A, 1.0)], {_A: 1.0, _B: 2.0}, False),
    ("conflicting-duplicates", [(_A, 1.0), (_B, 2.0), (_A, 3.0)], {_A: 2.0, _B: 2.0}, True),
]


@pytest.mark.parametrize("rows,expected,warns", [r[1:] for r in TRUTH_ROWS],
                         ids=[r[0] for r in TRUTH_ROWS])
def test_truth_duplicates(rows, expected, warns):
    sp = make_space("nasbench201", C=8, N=1, input_size=8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = load_truth(rows, sp)
    assert {a.text: v for a, v in table.items()} == {sp.parse(k).text: v
                                                     for k, v in expected.items()}
    msgs = [str(w.message) for w in caught]
    if warns:
        assert len(msgs) == 1 and "1 architecture(s) appear more than once with different" \
            in msgs[0] and "1, 3" in msgs[0]
    else:
        assert msgs == []


def test_hostile_rows_are_nasx_errors():
    """Every error verdict of the tables is a NasxError (exit 2 on the command line)."""
    for row in PARSE_ROWS + OPTION_ROWS:
        verdict = row[-1]
        assert verdict == "ok" or issubclass(verdict, NasxError), row[0]

"""The MobileNetV2-style macro space (built-in ``mbv2-macro``) and the define-by-run examples
(``examples/spaces/mobilenet_space.py``, ``examples/custom_space.py``)."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from torch import nn

from nasx.cli.main import main
from nasx.registry import make_space
from nasx.testing import check_space

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MOBILENET = f"{EXAMPLES / 'spaces' / 'mobilenet_space.py'}:mobilenet_space"


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def mbv2_choices() -> dict:
    """MobileNetV2 (1.0x) itself: its widths and depths, expansion 6 and kernel 3."""
    d: dict = {}
    for i, (w, n) in enumerate(zip([24, 32, 64, 96, 160, 320], [2, 3, 4, 3, 3, 1]), start=1):
        d[f"s{i}_width"], d[f"s{i}_depth"] = w, n
        for j in range(n):
            d[f"s{i}_b{j}_expand"], d[f"s{i}_b{j}_kernel"] = 6, 3
    return d


def test_builtin_contract_small_inputs():
    s = make_space("mbv2-macro", input_size=32)
    assert s.input_shape == (3, 32, 32) and make_space("mbv2-macro").input_shape[1] == 224
    check_space(s, seed=0, n=3)
    assert s.size() is None  # not counted (size_limit 0)


def test_contains_mobilenet_v2():
    s = make_space("mbv2-macro")
    a = s.parse(json.dumps(mbv2_choices()))
    # torchvision's mobilenet_v2 with 1000 classes has 3,504,872 parameters
    assert n_params(s.build(a, 1000)) == 3_504_872


def test_example_file_is_the_builtin_space():
    builtin = make_space("mbv2-macro", input_size=32)
    example = make_space(MOBILENET, input_size=32)
    assert example.name == "mobilenet-space"
    rng = np.random.default_rng(0)
    for _ in range(3):
        a = builtin.sample(rng)
        b = example.parse(str(a))
        assert b.key == a.key
        assert n_params(builtin.build(a, 10)) == n_params(example.build(b, 10))


def test_search_the_example_file(tmp_path, capsys):
    code = main(["search", "--space", MOBILENET, "--space-opt", "input_size=32", "--proxy",
                 "params", "--budget", "2", "--store", str(tmp_path / "s.sqlite"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    d = json.loads(out)
    assert d["evaluated"] == 2 and d["space"] == "mobilenet-space"


@pytest.mark.slow
@pytest.mark.parametrize("space", ["mbv2-macro", MOBILENET])
def test_readme_search_command(space, tmp_path, capsys):
    # the README's command, on 32x32 inputs and a tiny budget
    code = main(["search", "--space", space, "--space-opt", "input_size=32", "--proxy", "zen",
                 "--max-flops", "450M", "--budget", "3", "--store", str(tmp_path / "s.sqlite"),
                 "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    d = json.loads(out)
    assert d["evaluated"] == 3 and d["proxy"] == "zen"
    assert make_space(space, input_size=32).parse(d["best"]).key == d["best"]


def test_custom_space_example(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["custom_space.py", "--budget", "3", "--input-size", "8"])
    runpy.run_path(str(EXAMPLES / "custom_space.py"), run_name="__main__")
    out = capsys.readouterr().out
    best = json.loads(out.split("best:", 1)[1].split(" score:", 1)[0])
    assert {"width", "depth"} <= set(best)
    assert {f"kernel{i}" for i in range(best["depth"])} <= set(best)

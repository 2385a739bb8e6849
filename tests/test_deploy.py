"""nasx.build, nasx.export and ``nasx export``: the exported file loads with plain torch and
gives the built network's outputs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import nasx
from nasx.cli.main import main
from nasx.deploy import Exported, export_result, onnx_available
from nasx.errors import ConfigError, InvalidArchError
from nasx.records import SearchResult
from nasx.registry import make_space

CELL = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"
NB201 = {"C": 8, "N": 1, "input_size": 8}
NDS = {"widths": "8", "depths": "3", "input_size": 8}
#: every built-in space at a tiny size
TINY = {
    "nasbench201": NB201,
    "darts": {"C": 8, "layers": 3, "input_size": 8},
    "nds-darts": NDS,
    "nds-darts-fix-w-d": {"width": 8, "depth": 3, "input_size": 8},
    "nds-enas": NDS,
    "nds-pnas": NDS,
    "nds-nasnet": NDS,
    "nds-amoeba": NDS,
    "nasbench101": {"stem_channels": 8, "stacks": 2, "cells_per_stack": 1, "input_size": 8},
    "nasbench-macro": {"input_size": 8},
    "mbv2-macro": {"input_size": 32},
}


def test_every_builtin_space_is_covered() -> None:
    from nasx.registry import spaces

    builtin = {n for n in nasx.list_spaces()
               if getattr(spaces.get(n), "__module__", "").startswith("nasx.spaces.")}
    assert set(TINY) == builtin


def test_build_is_the_spaces_network_in_training_mode() -> None:
    space = make_space("nasbench201", **NB201)
    net = nasx.build("nasbench201", CELL, seed=3, **NB201)
    assert net.training
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        ref = space.build(space.parse(CELL), 10)
    assert type(net) is type(ref)
    for (k, a), (k2, b) in zip(net.state_dict().items(), ref.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    # an Arch works as well as its text; the classes reach the classifier
    out = nasx.build(space, space.parse(CELL), num_classes=7).eval()(torch.zeros(2, 3, 8, 8))
    assert out.shape == (2, 7)


def test_build_seed_leaves_global_rng_alone() -> None:
    torch.manual_seed(11)
    before = torch.random.get_rng_state()
    nasx.build("nasbench201", CELL, seed=0, **NB201)
    assert torch.equal(before, torch.random.get_rng_state())


def test_build_rejects_bad_input() -> None:
    with pytest.raises(InvalidArchError):
        nasx.build("nasbench201", "|nor_conv_3x3~0|", **NB201)
    with pytest.raises(ConfigError, match="unknown option"):
        nasx.build("nasbench201", CELL, width=3)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every tiny space's sampled network exported to ``<space>.pt2``, and in ``ref.pt`` the
    input and the built (eval-mode) network's outputs for it, at another batch size than
    the one traced."""
    folder = tmp_path_factory.mktemp("exported")
    refs = {}
    for i, (name, opts) in enumerate(TINY.items()):
        space = make_space(name, **opts)
        arch = space.sample(np.random.default_rng(i))
        out = nasx.export(name, str(arch), folder / f"{name}.pt2", seed=5, space_opts=opts)
        assert isinstance(out, Exported) and out.format == "pt2" and out.dynamic_batch
        x = torch.randn(3, *space.input_shape, generator=torch.Generator().manual_seed(i))
        net = nasx.build(name, arch, seed=5, **opts).eval()
        with torch.no_grad():
            refs[name] = {"x": x, "y": net(x)}
    torch.save(refs, folder / "ref.pt")
    return folder


LOADER = textwrap.dedent("""
    import json, sys
    sys.modules["nasx"] = None  # any import of nasx fails
    import torch
    refs = torch.load("ref.pt", weights_only=True)
    out = {}
    for name, ref in refs.items():
        meta = {"nasx.json": ""}
        net = torch.export.load(name + ".pt2", extra_files=meta).module()
        with torch.no_grad():
            y = net(ref["x"])
        out[name] = {"close": bool(torch.allclose(y, ref["y"], rtol=1e-5, atol=1e-5)),
                     "diff": float((y - ref["y"]).abs().max()),
                     "space": json.loads(meta["nasx.json"])["space"]}
    print(json.dumps(out))
""")


def test_export_loads_without_nasx_and_matches(exported: Path) -> None:
    # -I: isolated mode (no PYTHONPATH, no current folder on the path), run outside the repo
    proc = subprocess.run([sys.executable, "-I", "-c", LOADER], cwd=exported,
                          capture_output=True, text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(out) == set(TINY)
    for name, r in out.items():
        assert r["close"], (name, r["diff"])
        assert r["space"] == name


def test_loader_cannot_import_nasx(exported: Path) -> None:
    proc = subprocess.run([sys.executable, "-I", "-c",
                           "import sys; sys.modules['nasx'] = None; import nasx.deploy"],
                          cwd=exported, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr


def test_static_batch_is_fixed(tmp_path: Path) -> None:
    out = nasx.export("nasbench201", CELL, tmp_path / "s.pt2", batch_size=4,
                      dynamic_batch=False, space_opts=NB201)
    assert out.input_shape == (4, 3, 8, 8) and not out.dynamic_batch
    net = torch.export.load(tmp_path / "s.pt2").module()
    assert net(torch.zeros(4, 3, 8, 8)).shape == (4, 10)
    with pytest.raises(Exception):  # noqa: B017 - torch's guard error type is internal
        net(torch.zeros(3, 3, 8, 8))


def test_export_weights_follow_the_seed(tmp_path: Path) -> None:
    x = torch.randn(2, 3, 8, 8)
    ys = []
    for seed in (0, 1):
        nasx.export("nasbench201", CELL, tmp_path / "n.pt2", seed=seed, batch_size=2,
                    dynamic_batch=False, space_opts=NB201)
        ys.append(torch.export.load(tmp_path / "n.pt2").module()(x))
    ref = nasx.build("nasbench201", CELL, seed=0, **NB201).eval()(x)
    assert torch.allclose(ys[0], ref, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(ys[0], ys[1])


def test_export_rejects_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="format"):
        nasx.export("nasbench201", CELL, tmp_path / "n.x", format="tflite", space_opts=NB201)
    with pytest.raises(ConfigError, match="batch size"):
        nasx.export("nasbench201", CELL, tmp_path / "n.pt2", batch_size=0, space_opts=NB201)
    with pytest.raises(ConfigError, match="does not exist"):
        nasx.export("nasbench201", CELL, tmp_path / "no" / "n.pt2", space_opts=NB201)


def _result(best, data: str = "shape:4") -> SearchResult:
    return SearchResult(best=best, score=1.0, proxy="params", space="nasbench201",
                        strategy="random", seed=0, evaluated=1, cached=0, failed=0,
                        seconds=0.0, data_fingerprint="fp", top=(), run_id="r",
                        settings={"space_opts": NB201, "data": data})


def test_export_result_writes_the_best(tmp_path: Path) -> None:
    best = make_space("nasbench201", **NB201).parse(CELL)
    out = export_result(_result(best), tmp_path / "best.pt2")  # 4 classes, from the data
    assert out.metadata["arch"] == CELL and out.metadata["space_opts"] == NB201
    net = torch.export.load(tmp_path / "best.pt2").module()
    assert net(torch.zeros(1, 3, 8, 8)).shape == (1, 4)
    with pytest.raises(ConfigError, match="no architecture"):
        export_result(_result(None), tmp_path / "none.pt2")
    with pytest.raises(ConfigError, match="pass num_classes"):
        export_result(_result(best, str(tmp_path / "gone.npz")), tmp_path / "x.pt2")
    out = export_result(_result(best, str(tmp_path / "gone.npz")), tmp_path / "x.pt2",
                        num_classes=3, dynamic_batch=False)
    assert out.metadata["num_classes"] == 3


def test_cli_export(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "cli.pt2"
    code = main(["export", "--space", "nasbench201", "--space-opt", "C=8", "--space-opt", "N=1",
                 "--space-opt", "input_size=8", "-o", str(path), "--json", CELL])
    out = capsys.readouterr().out
    assert code == 0 and path.exists()
    info = json.loads(out)
    assert info["arch"] == CELL and info["input_shape"] == [3, 8, 8] and info["dynamic_batch"]
    code = main(["export", "-o", str(tmp_path / "bad.pt2"), "|nor_conv_3x3~0|"])
    assert code == 2 and "invalid" in capsys.readouterr().err


@pytest.mark.skipif(onnx_available(), reason="onnx is installed here")
def test_onnx_without_its_packages_says_how_to_install(capsys, tmp_path: Path) -> None:
    code = main(["export", "-o", str(tmp_path / "n.onnx"), CELL])
    assert code == 2 and "nasx[onnx]" in capsys.readouterr().err


def test_onnx_export_matches(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    out = nasx.export("nasbench201", CELL, tmp_path / "n.onnx", seed=2, space_opts=NB201)
    assert out.format == "onnx"
    x = torch.randn(3, 3, 8, 8)
    ref = nasx.build("nasbench201", CELL, seed=2, **NB201).eval()(x).detach().numpy()
    sess = ort.InferenceSession(str(tmp_path / "n.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_search_export_writes_the_best(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    path = tmp_path / "best.pt2"
    code = main(["search", "--space", "nasbench201", "--space-opt", "C=8", "--space-opt", "N=1",
                 "--space-opt", "input_size=8", "--proxy", "params", "--budget", "3",
                 "--no-store", "--quiet", "--json", "--export", str(path)])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    meta = {"nasx.json": ""}
    net = torch.export.load(path, extra_files=meta).module()
    assert json.loads(meta["nasx.json"])["arch"] == out["best"]
    assert net(torch.zeros(2, 3, 8, 8)).shape == (2, 10)

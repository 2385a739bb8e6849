"""Tests of the DARTS space: notation, sampling, networks (parameter counts) and pruning support."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nasx.arch import Arch
from nasx.errors import ConfigError, InvalidArchError
from nasx.spaces.darts import CANDIDATE_OPS, DARTS_V1, DARTS_V2, OPS, DartsSpace
from nasx.testing import check_space

TINY = {"C": 8, "layers": 3, "input_size": 8}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def tiny() -> DartsSpace:
    return DartsSpace(**TINY)


@st.composite
def genotype_texts(draw: st.DrawFn) -> str:
    """Any genotype of the space, with the two pairs of each node in random order."""
    cells = []
    for _ in range(2):
        pairs = []
        for j in range(2, 6):
            a, b = draw(st.lists(st.integers(0, j - 1), min_size=2, max_size=2, unique=True))
            pairs += [(draw(st.sampled_from(OPS)), a), (draw(st.sampled_from(OPS)), b)]
        cells.append(", ".join(f"('{op}', {i})" for op, i in pairs))
    return (f"Genotype(normal=[{cells[0]}], normal_concat=[2, 3, 4, 5], "
            f"reduce=[{cells[1]}], reduce_concat=[2, 3, 4, 5])")


# -- contract and notation ---------------------------------------------------------------------
def test_check_space(tiny: DartsSpace) -> None:
    check_space(tiny, seed=0)
    check_space(tiny, seed=3)


def test_registered() -> None:
    from nasx.registry import spaces

    assert spaces.get("darts") is DartsSpace


def test_parse_darts_v2_canonical(tiny: DartsSpace) -> None:
    a = tiny.parse(DARTS_V2)
    # node 4 of the normal cell is listed (1, 0) in DARTS; canonical order is by input
    assert "('skip_connect', 0), ('sep_conv_3x3', 1)" in str(a)
    assert tiny.parse(str(a)) == a and str(tiny.parse(str(a))) == str(a)
    assert a.key == str(a)


def test_parse_is_tolerant(tiny: DartsSpace) -> None:
    a = tiny.parse(DARTS_V2)
    ranged = DARTS_V2.replace("[2, 3, 4, 5]", "range(2, 6)")
    spaced = "  " + DARTS_V2.replace(", ", " ,\n   ").replace("=", " = ") + "\n"
    tupled = DARTS_V2.replace("[", "(").replace("]", ")")
    positional = DARTS_V2.replace("normal=", "").replace("normal_concat=", "") \
        .replace("reduce=", "").replace("reduce_concat=", "")
    as_json = json.dumps(tiny.to_json(a))
    for text in (ranged, spaced, tupled, positional, as_json):
        assert tiny.parse(text) == a, text


def test_node_order_does_not_matter(tiny: DartsSpace) -> None:
    swapped = DARTS_V2.replace("('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0)",
                               "('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 0)")
    assert swapped != DARTS_V2
    assert tiny.parse(swapped) == tiny.parse(DARTS_V2)


def test_json_round_trip(tiny: DartsSpace) -> None:
    for text in (DARTS_V1, DARTS_V2):
        a = tiny.parse(text)
        obj = tiny.to_json(a)
        assert json.loads(json.dumps(obj)) == obj
        assert obj["normal_concat"] == [2, 3, 4, 5]
        assert tiny.from_json(obj) == a
        assert tiny.from_json(str(a)) == a


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (DARTS_V2.replace("'dil_conv_3x3'", "'none'"), "'none' is not selectable"),
        (DARTS_V2.replace("'dil_conv_3x3'", "'dil_conv_3X3'"), "did you mean 'dil_conv_3x3'"),
        (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 0)"), "takes input 0 twice"),
        (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"), "cannot take input 5"),
        (DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3, 4]"),
         "normal_concat must be [2, 3, 4, 5]"),
        (DARTS_V2.replace("('sep_conv_3x3', 0), ", "", 1), "has 7 (op, input) pairs"),
        (DARTS_V2.replace(", reduce_concat=[2, 3, 4, 5]", ""), "missing field(s) reduce_concat"),
        (DARTS_V2.replace("Genotype(", "Gen("), "not a Genotype(...) expression"),
        (DARTS_V2.replace("[2, 3, 4, 5]", "__import__('os')", 1), "must be literal"),
        ("{\"normal\": 3}", "missing field(s)"),
        ("{not json", "not valid JSON"),
        ("this is not an architecture", "not a Genotype(...) expression"),
    ],
)
def test_parse_rejects(tiny: DartsSpace, text: str, problem: str) -> None:
    with pytest.raises(InvalidArchError) as info:
        tiny.parse(text)
    assert problem in str(info.value)
    assert "expected \"Genotype(" in str(info.value)


def test_parse_rejects_non_strings_and_other_spaces(tiny: DartsSpace) -> None:
    with pytest.raises(InvalidArchError, match="must be given as a string"):
        tiny.parse(None)  # type: ignore[arg-type]
    other = Arch(space="nasbench201", key=DARTS_V2, text=DARTS_V2, spec=())
    with pytest.raises(InvalidArchError, match="space 'nasbench201'"):
        tiny.build(other, 10)
    hand = Arch(space="darts", key=DARTS_V2, text=DARTS_V2, spec="whatever")
    assert tiny.neighbors(hand) == tiny.neighbors(tiny.parse(DARTS_V2))


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="multiple of 4"):
        DartsSpace(input_size=30)
    with pytest.raises(ConfigError, match="unknown option"):
        DartsSpace(N=5)
    space = DartsSpace(C="8", layers="3", affine="false")
    assert space.opts["C"] == 8 and space.opts["affine"] is False


# -- sampling ----------------------------------------------------------------------------------
def test_sample_is_deterministic_and_covers(tiny: DartsSpace) -> None:
    def draw(seed: int) -> list[Arch]:
        rng = np.random.default_rng(seed)
        return [tiny.sample(rng) for _ in range(300)]

    archs = draw(5)
    assert archs == draw(5) and archs != draw(6)
    ops = {op for a in archs for op, _ in a.spec[0] + a.spec[2]}
    assert ops == set(OPS)
    node5_inputs = {tuple(i for _, i in a.spec[0][6:8]) for a in archs}
    assert node5_inputs == {(i, j) for j in range(5) for i in range(j)}  # all 10 pairs


@settings(max_examples=60, deadline=None)
@given(genotype_texts(), st.integers(0, 2**32 - 1))
def test_round_trip_and_mutate_are_valid(text: str, seed: int) -> None:
    space = DartsSpace()
    a = space.parse(text)
    assert space.parse(str(a)) == a
    assert space.from_json(space.to_json(a)) == a
    b = space.mutate(a, np.random.default_rng(seed))
    assert b != a and space.parse(str(b)) == b
    assert b == space.mutate(a, np.random.default_rng(seed))
    diffs = sum(p != q for p, q in zip(a.spec[0] + a.spec[2], b.spec[0] + b.spec[2]))
    assert 1 <= diffs <= 2  # one pair changed (a rewiring may reorder the node's two pairs)


def test_neighbors(tiny: DartsSpace) -> None:
    a = tiny.parse(DARTS_V2)
    nbrs = tiny.neighbors(a)
    # 2 cells x (8 slots x 6 other ops + rewirings 2 + 4 + 6 for nodes 3, 4, 5)
    assert len(nbrs) == len(set(nbrs)) == 2 * (8 * 6 + 12) == 120
    assert a not in nbrs
    rng = np.random.default_rng(0)
    assert all(tiny.mutate(a, rng) in set(nbrs) for _ in range(100))


# -- networks ----------------------------------------------------------------------------------
def test_build_forward_backward(tiny: DartsSpace) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, *tiny.input_shape)
    for text in (DARTS_V1, DARTS_V2):
        model = tiny.build(tiny.parse(text), 7)
        out = model(x)
        assert out.shape == (2, 7) and torch.isfinite(out).all()
        out.sum().backward()
    with pytest.raises(ConfigError):
        tiny.build(tiny.parse(DARTS_V2), 0)


def test_build_structure(tiny: DartsSpace) -> None:
    model = tiny.build(tiny.parse(DARTS_V2), 10)
    assert model.stem[0].out_channels == 3 * 8
    assert len(model.cells) == 3
    # reductions at layers//3 = 1 and 2*layers//3 = 2; 4 nodes concatenated: 4 * 32 channels
    assert model.classifier.in_features == 4 * 8 * 4
    assert type(model.cells[2].preprocess0).__name__ == "FactorizedReduce"
    assert not hasattr(model, "auxiliary_head")


def test_darts_v2_has_3_3m_parameters() -> None:
    """DARTS paper, CIFAR-10 evaluation network (C=36, 20 cells), auxiliary head not counted."""
    space = DartsSpace(C=36, layers=20)
    with torch.device("meta"):
        assert n_params(space.build(space.parse(DARTS_V2), 10)) == 3_349_342
    aux = DartsSpace(C=36, layers=20, auxiliary=True)
    with torch.device("meta"):
        with_head = n_params(aux.build(aux.parse(DARTS_V2), 10))
    # the head: 1x1 conv (C_aux -> 128) + BN, 2x2 conv (128 -> 768) + BN, linear (768 -> 10)
    c_aux = 4 * 36 * 4
    assert with_head - 3_349_342 == c_aux * 128 + 256 + 128 * 768 * 4 + 1536 + 768 * 10 + 10


def test_naslib_nb301_parameter_counts(shared_data_dir: Path) -> None:
    """NASLib's NAS-Bench-301 network: C=32, 8 cells, non-affine cell ops, no auxiliary head."""
    path = shared_data_dir / "builder_checks" / "darts_nb301_params.csv"
    if not path.exists():
        pytest.skip(f"{path} not found; set NASX_SHARED_DATA")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 40
    space = DartsSpace(C=32, layers=8, affine=False)
    wrong = []
    with torch.device("meta"):
        for row in rows:
            count = n_params(space.build(space.parse(row["arch"]), 10))
            if round(count / 1e6, 6) != float(row["params_m"]):
                wrong.append((row["arch"], count, row["params_m"]))
    assert not wrong, wrong[:3]


def test_model_pickles(tiny: DartsSpace) -> None:
    import pickle

    model = tiny.build(tiny.parse(DARTS_V2), 3).eval()
    clone = pickle.loads(pickle.dumps(model))
    x = torch.randn(1, *tiny.input_shape)
    assert torch.equal(model(x), clone(x))


# -- pruning support ---------------------------------------------------------------------------
def op_sets_of(space: DartsSpace, arch: Arch) -> dict[tuple[str, int, int], list[str]]:
    sets = {e: ["none"] for e in space.edges()}
    for cell, pairs in (("normal", arch.spec[0]), ("reduce", arch.spec[2])):
        for k, (op, i) in enumerate(pairs):
            sets[(cell, i, 2 + k // 2)] = [op]
    return sets


def test_edges_and_candidate_ops(tiny: DartsSpace) -> None:
    edges = tiny.edges()
    assert len(edges) == 28 and len(set(edges)) == 28
    assert edges[:5] == [("normal", 0, 2), ("normal", 1, 2), ("normal", 0, 3),
                         ("normal", 1, 3), ("normal", 2, 3)]
    assert all(tiny.candidate_ops(e) == list(CANDIDATE_OPS) for e in edges)
    assert tiny.candidate_ops(("reduce", 4, 5))[0] == "none"
    with pytest.raises(InvalidArchError, match="unknown DARTS edge"):
        tiny.candidate_ops(("normal", 5, 5))


def test_single_op_supernet_is_build(tiny: DartsSpace) -> None:
    rng = np.random.default_rng(0)
    x = torch.randn(2, *tiny.input_shape)
    for a in [tiny.parse(DARTS_V2)] + [tiny.sample(rng) for _ in range(3)]:
        sets = op_sets_of(tiny, a)
        torch.manual_seed(0)
        sup = tiny.build_supernet(sets, 10).eval()
        torch.manual_seed(0)
        net = tiny.build(a, 10).eval()
        assert n_params(sup) == n_params(net)
        with torch.no_grad():
            assert torch.allclose(sup(x), net(x), atol=1e-6)
        assert tiny.from_op_sets(sets) == a


def test_full_supernet_forwards(tiny: DartsSpace) -> None:
    full = {e: list(CANDIDATE_OPS) for e in tiny.edges()}
    x = torch.randn(2, *tiny.input_shape)
    for combine in ("sum", "mean"):
        out = tiny.build_supernet(full, 4, combine=combine)(x)
        assert out.shape == (2, 4) and torch.isfinite(out).all()
    empty = {e: [] for e in tiny.edges()}
    assert tiny.build_supernet(empty, 4)(x).shape == (2, 4)
    with pytest.raises(ConfigError):
        tiny.build_supernet(full, 4, combine="max")


def test_supernet_counts_every_op() -> None:
    space = DartsSpace(C=8, layers=3, input_size=8)
    base = n_params(space.build_supernet({e: [] for e in space.edges()}, 10))
    one = {e: [] for e in space.edges()}
    one[("normal", 0, 2)] = ["sep_conv_3x3", "dil_conv_5x5", "max_pool_3x3"]
    # sep_conv_3x3 on C channels: 2 x (9C + C^2 + 2C); dil_conv_5x5: 25C + C^2 + 2C; C=8; in the
    # normal cells of the first stage (1 cell: index 0) and the last stage (0 normal cells)
    c = 8
    per = 2 * (9 * c + c * c + 2 * c) + (25 * c + c * c + 2 * c)
    assert n_params(space.build_supernet(one, 10)) - base == per


def test_from_op_sets_with_scores(tiny: DartsSpace) -> None:
    a = tiny.parse(DARTS_V2)  # normal node 5: ('skip_connect', 0), ('dil_conv_3x3', 2)
    sets = op_sets_of(tiny, a)
    sets[("normal", 1, 5)] = ["sep_conv_5x5"]  # node 5 now has 3 candidate edges
    with pytest.raises(InvalidArchError, match="pass edge_scores"):
        tiny.from_op_sets(sets)
    scores = {e: 0.0 for e in tiny.edges()}
    scores[("normal", 1, 5)] = 1.0
    scores[("normal", 2, 5)] = 0.5
    b = tiny.from_op_sets(sets, edge_scores=scores)
    assert b.spec[0][6:] == (("sep_conv_5x5", 1), ("dil_conv_3x3", 2))
    assert b.spec[0][:6] == a.spec[0][:6] and b.spec[2] == a.spec[2]
    for e in (("normal", 0, 5), ("normal", 1, 5), ("normal", 2, 5)):
        scores[e] = 2.0  # a three-way tie: the lower input nodes win
    c = tiny.from_op_sets(sets, edge_scores=scores)
    assert c.spec[0][6:] == (("skip_connect", 0), ("sep_conv_5x5", 1))
    with pytest.raises(InvalidArchError, match="no score"):
        tiny.from_op_sets(sets, edge_scores={("normal", 0, 5): 1.0})


def test_from_op_sets_errors(tiny: DartsSpace) -> None:
    sets = op_sets_of(tiny, tiny.parse(DARTS_V2))
    with pytest.raises(InvalidArchError, match="exactly one op"):
        tiny.from_op_sets({**sets, ("normal", 0, 2): ["none", "skip_connect"]})
    with pytest.raises(InvalidArchError, match="a DARTS node needs two"):
        tiny.from_op_sets({**sets, ("normal", 0, 2): ["none"]})
    with pytest.raises(InvalidArchError, match="no entry for edge"):
        tiny.from_op_sets({e: s for e, s in sets.items() if e != ("reduce", 4, 5)})
    with pytest.raises(InvalidArchError, match="unknown op"):
        tiny.from_op_sets({**sets, ("normal", 0, 2): ["conv"]})
    with pytest.raises(InvalidArchError, match="sequence of op names"):
        tiny.from_op_sets({**sets, ("normal", 0, 2): "none"})


# -- CLI and ground-truth evaluation -----------------------------------------------------------
SMALL_OPTS = ["--space-opt", "C=4", "--space-opt", "layers=2", "--space-opt", "input_size=8"]


@pytest.mark.filterwarnings("ignore:synthetic probe data")
def test_cli_score(capsys: pytest.CaptureFixture[str]) -> None:
    from nasx.cli.main import main

    rc = main(["score", "--space", "darts", "--proxy", "gradalign-i", "--data", "synthetic:2",
               "--batch-size", "4", "--no-store", "--device", "cpu", "--json", *SMALL_OPTS,
               DARTS_V2])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["status"] == "ok" and out[0]["score"] is not None
    assert out[0]["arch"] == str(DartsSpace().parse(DARTS_V2))


@pytest.mark.filterwarnings("ignore:synthetic probe data")
def test_evaluate_reads_genotype_csv(tmp_path: Path) -> None:
    from nasx import evaluate

    space = DartsSpace(C=4, layers=2, input_size=8)
    rng = np.random.default_rng(0)
    path = tmp_path / "truth.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["genotype", "val_acc"])
        for k in range(4):
            w.writerow([str(space.sample(rng)), 90.0 + k])
    report = evaluate(space, "gradalign-i", path, arch_col="genotype", acc_col="val_acc",
                      sample=None, data="synthetic:2", batch_size=4, device="cpu", store=False)
    metrics = report.metrics["gradalign-i"]
    assert metrics["n"] == 4 and metrics["failed"] == 0
    assert len(report.rows) == 4

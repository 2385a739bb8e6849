"""Bad command-line input (flags, configs, outputs, text files): every case ends in a one-line
error with exit 2 before anything is scored, never a traceback."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

import nasx
from nasx.errors import ConfigError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cli_subprocess import (  # noqa: E402
    CELL,
    TINY,
    assert_one_line_error,
    run,
)


# -- flags --------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv,needle", [
    (["--seed", "-1"], "seed"),
    (["--data-seed", "-2"], "data seed"),
    (["--chunk-size", "0"], "chunk size"),
    (["--chunk-size", "-4"], "chunk size"),
    (["--batch-size", "0"], "batch size"),
])
@pytest.mark.parametrize("cmd", ["score", "search"])
def test_bad_numbers_are_one_line_errors(capsys, cmd, argv, needle):
    extra = [CELL] if cmd == "score" else ["--budget", "1"]
    code, out, err = run(capsys, cmd, *TINY, "--no-store", *argv, *extra)
    assert_one_line_error(code, err, needle)
    assert out == ""


def test_unavailable_mps_is_a_one_line_error(capsys):
    import torch

    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        pytest.skip("MPS is available here")
    code, _, err = run(capsys, "score", *TINY, "--no-store", "--device", "mps", CELL)
    assert_one_line_error(code, err, "MPS")


def test_nasbench201_input_size_not_a_multiple_of_4(capsys):
    for size in (7, 6, 10):
        with pytest.raises(ConfigError, match="multiple of 4"):
            nasx.api.make_space("nasbench201", C=8, N=1, input_size=size)
    code, _, err = run(capsys, "score", "--space", "nasbench201", "--space-opt", "input_size=7",
                       "--data", "synthetic", "--no-store", CELL)
    assert_one_line_error(code, err, "multiple of 4")


# -- input files --------------------------------------------------------------------------------
def test_non_utf8_yaml_config(capsys, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes("budget: 3\nspace: nasbench201 # caf\xe9\n".encode("latin-1"))
    code, _, err = run(capsys, "search", "--config", str(cfg))
    assert_one_line_error(code, err, "UTF-8")


@pytest.mark.parametrize("content", [
    "arch,accuracy\n" + CELL + ",91.5 caf\xe9\n",  # latin-1 text
    "arch,accuracy\n\x00\x00\xff\xfe\n",  # binary junk
])
def test_non_utf8_truth_csv(capsys, tmp_path, content):
    csv = tmp_path / "t.csv"
    csv.write_bytes(content.encode("latin-1"))
    code, _, err = run(capsys, "eval", *TINY, "--no-store", "--truth", str(csv))
    assert_one_line_error(code, err, "t.csv")


def test_score_file_missing_folder_binary(capsys, tmp_path):
    binary = tmp_path / "b.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    latin = tmp_path / "l.txt"
    latin.write_bytes("caf\xe9\n".encode("latin-1"))
    for path, needle in ((tmp_path / "nope.txt", "no such file"), (tmp_path, "folder"),
                         (binary, "binary"), (latin, "UTF-8")):
        code, out, err = run(capsys, "score", *TINY, "--no-store", "--file", str(path))
        assert_one_line_error(code, err, "--file", needle)
        assert out == ""


@pytest.mark.parametrize("flag", ["--csv", "--plot"])
def test_unwritable_eval_outputs_fail_before_scoring(capsys, tmp_path, flag, monkeypatch):
    truth = tmp_path / "t.csv"
    truth.write_text(f"arch,accuracy\n{CELL},90\n"
                     "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,10\n")
    scored = []
    import nasx.api

    real = nasx.api.ScoreService.score
    monkeypatch.setattr(nasx.api.ScoreService, "score",
                        lambda self, archs: scored.append(1) or real(self, archs))
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        targets = [tmp_path / "missing" / "x.out", tmp_path]
        if not os.access(ro, os.W_OK):  # root writes anywhere: the case cannot be made
            targets.append(ro / "x.out")
        for target in targets:
            code, _, err = run(capsys, "eval", *TINY, "--no-store", "--truth", str(truth),
                               flag, str(target))
            assert_one_line_error(code, err, flag)
    finally:
        ro.chmod(stat.S_IRWXU)
    assert scored == []

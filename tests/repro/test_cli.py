"""CLI error paths: each bad input gives a short clear message and a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from repro.cli import EXIT_USER_ERROR, main
from repro.registry import load_registry


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse rejects bad flag values itself
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_unknown_id_suggests_closest(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run_cli(capsys, "run", "adat", "--results", str(tmp_path))
    assert code == EXIT_USER_ERROR
    assert "unknown paper id 'adat'" in out and "adatt" in out


def test_planned_paper_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    planned = next(p.id for p in load_registry().values() if not p.implemented)
    code, out = run_cli(capsys, "run", planned, "--results", str(tmp_path))
    assert code == EXIT_USER_ERROR
    assert "planned, not implemented" in out
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("flags, message", [
    (["--seeds", "0"], "must be at least 1"),
    (["--seeds", "two"], "expected a whole number"),
    (["--profile", "huge"], "invalid choice"),
    (["--device", "tpu"], "invalid choice"),
    (["--nproc", "-1"], "must be at least 1"),
    (["--threads", "0"], "must be at least 1"),
])
def test_bad_flag_values(capsys: pytest.CaptureFixture[str], flags: list[str], message: str) -> None:
    code, out = run_cli(capsys, "run", "adatt", *flags)
    assert code == 2
    assert message in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run_cli(capsys, "run", "adatt", "--device", "cuda", "--results", str(tmp_path))
    assert code == EXIT_USER_ERROR
    assert "no CUDA device" in out and "--device cpu" in out


def test_list_shows_every_catalog_paper(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run_cli(capsys, "list", "--json", "--results", str(tmp_path))
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 34
    assert {r["status"] for r in rows} <= {"implemented", "planned"}
    assert {"id", "title", "year", "arxiv", "family", "status", "verdicts"} <= set(rows[0])


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["list", "--help"], ["run", "--help"], ["report", "--help"], ["doctor", "--help"],
                 ["figures", "--help"], ["data", "--help"], ["data", "list", "--help"], ["data", "prepare", "--help"],
                 ["data", "verify", "--help"], ["data", "download", "--help"]):
        code, out = run_cli(capsys, *argv)
        assert code == 0 and "usage: repro" in out


def test_doctor_reports_versions_and_datasets(capsys: pytest.CaptureFixture[str], real_data_dir: Path) -> None:
    code, out = run_cli(capsys, "doctor", "--data-dir", str(real_data_dir))
    assert code == 0
    assert "torchrec" in out and "fbgemm ops" in out and "loaded" in out
    assert "census-income-kdd" in out


def test_unknown_dataset_id(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "data", "verify", "criteo-kagle")
    assert code == EXIT_USER_ERROR and "unknown dataset id" in out

"""`repro run <id> --set key=value`: overrides are validated like paper.toml, run, and recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.params import apply_overrides, parse_override
from repro.cli import EXIT_USER_ERROR, main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_values_are_toml_literals_and_dotted_keys_reach_nested_tables() -> None:
    assert parse_override("epochs=1") == (["epochs"], 1)
    assert parse_override("lr=1e-3") == (["lr"], 0.001)
    assert parse_override("bottom=[13, 8]") == (["bottom"], [13, 8])
    assert parse_override("data=synthetic") == (["data"], "synthetic")
    raw = {"tasks": [{"name": "a", "epochs": 2}, {"name": "b"}], "lrs": {"sgd": [1.0]}}
    changed = apply_overrides(raw, ["tasks.1.epochs=7", "lrs.adam=[0.1]", "epochs=3"])
    assert changed == {"tasks": [{"name": "a", "epochs": 2}, {"name": "b", "epochs": 7}],
                       "lrs": {"sgd": [1.0], "adam": [0.1]}, "epochs": 3}
    assert raw["tasks"][1] == {"name": "b"}, "the profile's own table is left alone"
    with pytest.raises(ConfigError, match="must index one of the 2 entries"):
        apply_overrides(raw, ["tasks.5.epochs=1"])
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides(raw, ["epochs"])


def test_misspelt_override_exits_2_naming_the_valid_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run_cli(capsys, "run", "dlrm", "--profile", "smoke", "--set", "epoch=1", "--results", str(tmp_path),
                        "--no-figures")
    assert code == EXIT_USER_ERROR
    assert "unknown parameter 'epoch'" in out and "did you mean 'epochs'" in out
    assert not any(tmp_path.rglob("*")), "nothing is written for a rejected override"


def test_override_of_the_wrong_type_exits_2_naming_the_type(capsys: pytest.CaptureFixture[str],
                                                             tmp_path: Path) -> None:
    code, out = run_cli(capsys, "run", "dlrm", "--profile", "smoke", "--set", "epochs=one", "--results",
                        str(tmp_path), "--no-figures")
    assert code == EXIT_USER_ERROR
    assert "parameter 'epochs' must be int, got str 'one'" in out


@pytest.mark.slow
def test_override_runs_and_is_recorded(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run_cli(capsys, "run", "dlrm", "--profile", "smoke", "--seeds", "1", "--set", "epochs=1",
                        "--set", "lr=0.05", "--results", str(tmp_path), "--no-figures")
    assert code == 0, out
    record = json.loads(next(tmp_path.glob("dlrm/*/record.json")).read_text())
    assert record["config"]["overrides"] == ["epochs=1", "lr=0.05"]
    assert record["config"]["params"]["lr"] == 0.05 and record["config"]["params"]["epochs"] == 1
    assert any("OVERRIDDEN" in note and "lr=0.05" in note for note in record["protocol_notes"])
    # DLRM and LR take the overridden rate; DCN picks its own from the grid, which now holds it
    assert all(run["config"]["lr"] == 0.05 for run in record["runs"] if run["model"] != "dcn")
    assert record["models"]["dcn"]["lr_grid"][0] == 0.05
    assert "OVERRIDDEN" in out

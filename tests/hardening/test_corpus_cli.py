"""CLI cases: folders that are files, unwritable folders, markup in paths, seed bounds, Ctrl-C, broken resumes."""

from __future__ import annotations

import errno
import json
import re
from pathlib import Path

import pytest

from repro import records
from repro.registry import Paper


@pytest.fixture
def results(tmp_path: Path) -> Path:
    return tmp_path / "results"


# ------------------------------------------------------------------ folders that are files

@pytest.mark.corpus("traceback")
@pytest.mark.parametrize("argv", [
    ["run", "dlrm", "--profile", "smoke", "--results", "{file}"],
    ["report", "--results", "{file}", "--out", "{tmp}/site"],
    ["report", "--out", "{file}", "--results", "{tmp}/results"],
    ["list", "--results", "{file}"],
    ["figures", records_id := "20250101T120000Z-smoke-abc123", "--results", "{file}"],
    ["data", "prepare", "criteo-kaggle-dlrm", "--cache-dir", "{file}", "--data-dir", "{tmp}"],
    ["run", "dlrm", "--profile", "smoke", "--data-dir", "{file}", "--results", "{tmp}/results"],
], ids=["run-results", "report-results", "report-out", "list-results", "figures-results", "prepare-cache-dir",
        "run-data-dir"])
def test_a_folder_flag_pointing_at_a_file_is_one_line(cli, tmp_path, argv):
    file = tmp_path / "a-file"
    file.write_text("not a folder")
    argv = [a.format(file=file, tmp=tmp_path) for a in argv]
    out = cli(*argv, clean=[tmp_path])
    assert "is a file, not a folder" in out.err
    assert file.read_text() == "not a folder"


@pytest.mark.corpus("weak")
def test_report_and_list_on_a_file_do_not_pretend_success(cli, tmp_path):
    file = tmp_path / "record.json"
    file.write_text("{}")
    assert "is a file" in cli("list", "--results", str(file)).err
    assert "is a file" in cli("report", "--results", str(file), "--out", str(tmp_path / "site")).err


# ------------------------------------------------------------------ permissions (simulated: the tests run as root)

def _deny(monkeypatch: pytest.MonkeyPatch, target: Path, method: str) -> None:
    original = getattr(Path, method)

    def denied(self: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self == target or target in self.parents:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, method, denied)


@pytest.mark.corpus("traceback")
def test_unwritable_results_folder(cli, tmp_path, results, monkeypatch):
    results.mkdir()
    _deny(monkeypatch, results, "mkdir")
    out = cli("run", "dlrm", "--profile", "smoke", "--results", str(results), "--no-figures", clean=[tmp_path])
    assert str(results) in out.err and "permission denied" in out.err


@pytest.mark.corpus("traceback")
def test_unwritable_cache_folder(cli, tmp_path, monkeypatch):
    from test_corpus_data import criteo_dir

    data = criteo_dir(tmp_path, ok=True)
    cache = tmp_path / "cache"
    cache.mkdir()
    _deny(monkeypatch, cache, "mkdir")
    out = cli("data", "prepare", "criteo-kaggle-dlrm", "--data-dir", str(data), "--cache-dir", str(cache),
              clean=[tmp_path])
    assert str(cache) in out.err and "permission denied" in out.err


@pytest.mark.corpus("traceback")
@pytest.mark.parametrize("checkpoint", [False, True], ids=["before-checkpoints", "after-checkpoints"])
def test_no_space_left_removes_or_keeps_the_run_and_says_which(cli, tmp_path, results, monkeypatch, checkpoint):
    def experiment(self):  # type: ignore[no-untyped-def]
        def run(ctx):  # type: ignore[no-untyped-def]
            if checkpoint:
                ctx.work_dir.mkdir(parents=True, exist_ok=True)
                (ctx.work_dir / "seed0.pt").write_bytes(b"checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device", str(ctx.work_dir / "seed1.pt"))
        return run

    monkeypatch.setattr(Paper, "experiment", experiment)
    out = cli("run", "dlrm", "--profile", "smoke", "--results", str(results), "--no-figures", max_lines=4,
              allow_leftovers=checkpoint, clean=[tmp_path])
    text = " ".join(out.err.split())
    assert "no space left" in text
    kept = list((results / "dlrm").glob(".*.partial"))
    if checkpoint:
        assert len(kept) == 1 and f"--results {results.resolve()}" in text and "--resume" in text
    else:
        assert not kept and "nothing was kept" in text


# ------------------------------------------------------------------ markup characters in paths

@pytest.mark.corpus("traceback")
@pytest.mark.parametrize("flag", ["--data-dir", "--results"])
def test_rich_markup_in_a_path_is_printed_not_parsed(cli, tmp_path, flag):
    odd = tmp_path / "[/]odd[bold]"
    results = odd / "results" if flag == "--results" else tmp_path / "results"
    argv = ["run", "dlrm", "--profile", "smoke", "--no-figures", "--results", str(results)]
    if flag == "--data-dir":
        odd.mkdir(parents=True)
        argv += ["--data-dir", str(odd)]
    out = cli(*argv, code=0, clean=[tmp_path])
    assert str(odd) in " ".join(out.out.split()).replace(" ", "") or "[/]odd" in out.out
    assert len(records.iter_records(results, "dlrm")) == 1


# ------------------------------------------------------------------ seeds

@pytest.mark.corpus("traceback")
def test_ten_billion_seeds_is_refused_before_any_allocation(cli, tmp_path):
    out = cli("run", "dlrm", "--profile", "smoke", "--seeds", "10000000000", "--results", str(tmp_path / "r"),
              clean=[tmp_path])
    assert f"at most {records.MAX_SEEDS} seeds" in out.err


@pytest.mark.corpus("weak")
def test_seeds_have_a_documented_upper_bound(cli, tmp_path):
    out = cli("run", "dlrm", "--seeds", "100000", "--results", str(tmp_path / "r"), clean=[tmp_path])
    assert f"at most {records.MAX_SEEDS} seeds" in out.err
    assert f"1-{records.MAX_SEEDS}" in " ".join(cli("run", "--help", code=0).out.split())


# ------------------------------------------------------------------ Ctrl-C

def _interrupt_after(monkeypatch: pytest.MonkeyPatch, checkpoint: bool) -> None:
    def experiment(self):  # type: ignore[no-untyped-def]
        def run(ctx):  # type: ignore[no-untyped-def]
            if checkpoint:
                ctx.work_dir.mkdir(parents=True, exist_ok=True)
                (ctx.work_dir / "seed0.pt").write_bytes(b"checkpoint")
            raise KeyboardInterrupt
        return run

    monkeypatch.setattr(Paper, "experiment", experiment)


@pytest.mark.corpus("traceback")
def test_ctrl_c_is_exit_130_with_the_complete_resume_command(cli, tmp_path, results, monkeypatch):
    _interrupt_after(monkeypatch, checkpoint=True)
    out = cli("run", "dlrm", "--profile", "smoke", "--results", str(results), "--no-figures", code=130,
              allow_leftovers=True, max_lines=4)
    text = " ".join(out.err.split())
    match = re.search(r"repro run dlrm --resume (\S+) --results (\S+) --no-figures", text)
    assert match, out.err
    run_id, folder = match.groups()
    assert Path(folder) == results.resolve()
    assert (results / "dlrm" / f".{run_id}.partial" / "config.json").is_file()  # kept: resumable


@pytest.mark.corpus("traceback")
def test_ctrl_c_outside_a_run_is_one_line(cli, tmp_path, monkeypatch):
    import repro.cli

    def interrupted(args, console):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(repro.cli, "cmd_report", interrupted)
    monkeypatch.setattr(repro.cli, "cmd_list", interrupted)
    out = cli("list", "--results", str(tmp_path), code=130)
    assert "interrupted" in out.err


def test_debug_shows_the_traceback(tmp_path, capsys):
    from repro.cli import main

    with pytest.raises(Exception, match="not a run id"):
        main(["--debug", "figures", "*", "--results", str(tmp_path)])
    with pytest.raises(Exception, match="not a run id"):
        main(["figures", "*", "--results", str(tmp_path), "--debug"])


# ------------------------------------------------------------------ broken resumes

def _partial(results: Path, config: str | None) -> str:
    run_id = "20250101T120000Z-smoke-abc123"
    partial = results / "dlrm" / f".{run_id}.partial"
    partial.mkdir(parents=True)
    if config is not None:
        (partial / "config.json").write_text(config)
    return run_id


@pytest.mark.corpus("traceback")
@pytest.mark.parametrize("config, message", [
    (None, "config.json: missing"),
    ("{ broken", "not valid JSON"),
    ("[1, 2]", "not a run config"),
    ('{"profile": "smoke"}', "missing or mistyped: seeds"),
])
def test_resume_of_a_partial_without_a_usable_config(cli, tmp_path, results, config, message):
    run_id = _partial(results, config)
    out = cli("run", "dlrm", "--resume", run_id, "--results", str(results), allow_leftovers=True)
    assert message in out.err and "start a new run" in out.err


@pytest.mark.corpus("weak")
def test_resume_of_an_unknown_run_names_the_folder_searched(cli, tmp_path, results):
    out = cli("run", "dlrm", "--resume", "20250101T120000Z-smoke-abc123", "--results", str(results),
              clean=[tmp_path])
    assert "no unfinished run" in out.err and "--results" in out.err


def test_resume_finishes_an_interrupted_run(cli, tmp_path, results, monkeypatch):
    original = Paper.experiment
    _interrupt_after(monkeypatch, checkpoint=False)
    out = cli("run", "dlrm", "--profile", "smoke", "--results", str(results), "--no-figures", code=130,
              allow_leftovers=True, max_lines=4)
    run_id = re.search(r"--resume (\S+)", out.err).group(1)
    monkeypatch.setattr(Paper, "experiment", original)
    cli("run", "dlrm", "--resume", run_id, "--results", str(results), "--no-figures", code=0, clean=[results])
    assert records.iter_records(results, "dlrm")[0]["run_id"] == run_id
    assert json.loads((results / "dlrm" / run_id / "record.json").read_text())["profile"] == "smoke"


# ------------------------------------------------------------------ version and completion

def test_version_and_completion(cli):
    assert "recrepro" in cli("--version", code=0).out
    assert "_shtab_repro" in cli("completion", "bash", code=0).out
    assert "#compdef repro" in cli("completion", "zsh", code=0).out


@pytest.mark.corpus("weak")
def test_a_huge_argument_is_quoted_as_a_bounded_excerpt(cli):
    out = cli("run", "x" * 200_000)
    assert len(out.err) < 5000 and "unknown paper id" in out.err and "`repro list` shows every paper" in out.err

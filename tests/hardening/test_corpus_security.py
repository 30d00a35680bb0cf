"""Security cases: links planted in a run folder are never published; run ids cannot carry paths or globs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from records_fixture import RUN_A, record, write

SECRET = "root:x:0:0:secret-marker"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "passwd"
    path.parent.mkdir()
    path.write_text(SECRET)
    return path


def _site_text(site: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in site.rglob("*") if p.is_file())


@pytest.mark.corpus("security")
def test_symlinked_figure_is_not_published(cli, tmp_path, secret):
    run_dir = write(tmp_path / "results", record(figures=["figures/x.png"]))
    (run_dir / "figures").mkdir()
    os.symlink(secret, run_dir / "figures" / "x.png")
    cli("report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "site"), code=0,
        clean=[tmp_path])
    assert SECRET not in _site_text(tmp_path / "site")
    assert not [p for p in (tmp_path / "site").rglob("x.png")]


@pytest.mark.corpus("security")
def test_symlinked_figures_folder_is_not_published(cli, tmp_path, secret):
    run_dir = write(tmp_path / "results", record(figures=["figures/passwd"], notebook="figures/passwd"))
    os.symlink(secret.parent, run_dir / "figures")
    cli("report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "site"), code=0, clean=[tmp_path])
    assert SECRET not in _site_text(tmp_path / "site")


@pytest.mark.corpus("security")
def test_symlinked_run_folder_and_record_are_skipped_with_a_warning(cli, tmp_path, secret):
    elsewhere = write(tmp_path / "elsewhere", record())
    (tmp_path / "results" / "dlrm").mkdir(parents=True)
    os.symlink(elsewhere, tmp_path / "results" / "dlrm" / RUN_A)
    out = cli("report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "site"), code=0)
    assert "skipped" in out.err and "symbolic link" in out.err
    assert not (tmp_path / "site" / "papers" / "dlrm").exists()


@pytest.mark.corpus("security")
@pytest.mark.parametrize("run_id", ["./../outside/evil", "../../etc", "/etc", "20250101T120000Z-smoke-abc123/..",
                                    "*", "2025*", ""])
def test_resume_refuses_anything_but_a_run_id(cli, tmp_path, run_id):
    outside = tmp_path / "outside" / "evil"
    outside.mkdir(parents=True)
    (outside / "config.json").write_text('{"profile": "smoke", "seeds": [0], "device": "cpu", "data_dir": "x", "params": {}}')
    out = cli("run", "dlrm", "--profile", "smoke", "--resume", run_id, "--results", str(tmp_path / "results"),
              clean=[tmp_path])
    assert "is not a run id" in out.err
    assert sorted(p.name for p in outside.iterdir()) == ["config.json"]
    assert not (tmp_path / "results").exists()


@pytest.mark.corpus("security")
@pytest.mark.parametrize("run_id", ["*", "../dlrm", "?*"])
def test_figures_takes_a_run_id_not_a_glob_or_path(cli, tmp_path, run_id):
    write(tmp_path / "results", record())
    out = cli("figures", run_id, "--results", str(tmp_path / "results"), clean=[tmp_path])
    assert "is not a run id" in out.err
    assert not (tmp_path / "results" / "dlrm" / RUN_A / "figures").exists()


@pytest.mark.corpus("security")
def test_record_run_id_must_match_its_folder(cli, tmp_path):
    write(tmp_path / "results", record(run_id="20250101T120000Z-smoke-000000"), run_id=RUN_A)
    out = cli("list", "--results", str(tmp_path / "results"), code=0)
    assert "differs from its folder name" in out.err


@pytest.mark.corpus("leftover")
def test_report_removes_the_staging_folders_of_a_killed_build(cli, tmp_path):
    import subprocess
    import sys

    write(tmp_path / "results", record())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = [tmp_path / f".site.{dead_pid}-abcdef.tmp", tmp_path / f".site.{dead_pid}-123456.old"]
    live = tmp_path / f".site.{os.getpid()}-fedcba.tmp"  # a build in progress in a live process
    for folder in (*stale, live):
        folder.mkdir()
        (folder / "index.html").write_text("half-built")
    cli("report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "site"), code=0)
    assert not any(p.exists() for p in stale)
    assert live.is_dir()
    live.joinpath("index.html").unlink()
    live.rmdir()


def test_finalize_fsyncs_the_results_folder(tmp_path, monkeypatch):
    from repro import records

    synced = []
    monkeypatch.setattr(records, "fsync_dir", synced.append)
    run_id, partial = records.new_run(tmp_path, "dlrm", "smoke")
    final = records.finalize(partial, record(run_id=run_id))
    assert synced == [final.parent]

"""Fixtures for the report and figures tests: realistic run records built by a small factory.

The factory mimics what ``repro run adatt`` writes (three UCI Census-Income tasks, three models,
several seeds, per-epoch curves, verdicts of every status) without training anything.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any, Callable

import pytest

from harness.atomic import write_json
from repro.records import SCHEMA_VERSION

TASKS = ("income", "never_married", "education")
MODELS = {"adatt_6": 0.012, "ple_6": 0.008, "ml_mmoe_6": 0.0}
BASE_AUC = {"income": 0.935, "never_married": 0.978, "education": 0.872}


def _runs(seeds: list[int], epochs: int) -> list[dict[str, Any]]:
    """Per-(model, seed) metrics and curves with a model effect and seed noise."""
    runs = []
    for model, lift in MODELS.items():
        for seed in seeds:
            rng = random.Random(f"{model}-{seed}")
            final = {t: BASE_AUC[t] + lift * (0.3 if t == "never_married" else 1.0) + rng.gauss(0, 0.0015)
                     for t in TASKS}
            curve = [{"epoch": e, "train_loss": 0.45 * math.exp(-0.35 * e) + 0.12 + rng.gauss(0, 0.004),
                      **{f"val_auc_{t}": final[t] - 0.03 * math.exp(-0.8 * e) + rng.gauss(0, 0.001) for t in TASKS}}
                     for e in range(1, epochs + 1)]
            metrics = {f"test_auc_{t}": final[t] for t in TASKS}
            metrics |= {f"val_auc_{t}": curve[-1][f"val_auc_{t}"] for t in TASKS}
            runs.append({"model": model, "seed": seed, "metrics": metrics, "curve": curve,
                         "wall_time_s": 41.7 + rng.random(), "examples_per_s": 5200.0 + 300 * rng.random(),
                         "config": {"lr": 0.001, "batch_size": 1024}})
    return runs


def _verdicts(statement_suffix: str) -> list[dict[str, Any]]:
    """One verdict of each status, the first transferred."""
    summary = {"mean": 0.947, "std": 0.0012, "n": 3}
    return [
        {"claim_id": "adatt-beats-ple-income", "status": "reproduced",
         "reason": "difference +0.0041 in the claimed direction (Welch's t, df=3.9), p=0.0071 < 0.05",
         "statement": "AdaTT-6 beats PLE-6 on income AUC" + statement_suffix, "source": "Table 2",
         "paper": "0.9506 > 0.9498", "ours": "0.9470 ± 0.0012 (n=3) > 0.9429 ± 0.0009 (n=3)",
         "transferred": True, "lhs": summary, "rhs": {"mean": 0.9429, "std": 0.0009, "n": 3},
         "p_value": 0.0071, "interval": None, "extra": {"difference": 0.0041}},
        {"claim_id": "adatt-beats-mmoe-married", "status": "not reproduced",
         "reason": "difference -0.0031 in the claimed direction (Welch's t, df=3.5): significantly against the claim, p=0.012 < 0.05",
         "statement": "AdaTT-6 beats ML-MMoE-6 on never-married AUC", "source": "Table 2",
         "paper": "0.9932 > 0.9925", "ours": "0.9811 ± 0.0010 (n=3) > 0.9842 ± 0.0008 (n=3)",
         "transferred": False, "lhs": summary, "rhs": summary, "p_value": 0.012, "interval": None, "extra": {}},
        {"claim_id": "adatt9-education-value", "status": "inconclusive",
         "reason": "95% interval [0.8790, 0.8900] overlaps the edge of the paper's band [0.8800, 0.8900]; more seeds may decide",
         "statement": "AdaTT-9 education AUC matches the paper", "source": "Table 3",
         "paper": "0.885 ± 0.005", "ours": "0.8845 ± 0.0022 (n=3)", "transferred": False,
         "lhs": summary, "rhs": None, "p_value": None, "interval": [0.879, 0.89], "extra": {}},
    ]


def make_record(paper_id: str = "adatt", run_id: str = "20250101T120000Z-smoke-abc123",
                finished_at: str = "2025-01-01T12:05:00+00:00", seeds: int = 3, epochs: int = 4,
                statement_suffix: str = "", protocol_notes: list[str] | None = None) -> dict[str, Any]:
    """A run record shaped like the ones ``repro run`` writes (see repro/records.py)."""
    seed_list = list(range(seeds))
    runs = _runs(seed_list, epochs)
    verdicts = _verdicts(statement_suffix)
    counts = {"reproduced": 0, "not reproduced": 0, "inconclusive": 0}
    for v in verdicts:
        counts[v["status"]] += 1
    return {
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "status": "completed", "profile": run_id.split("-")[1],
        "paper": {"id": paper_id, "title": "AdaTT: Adaptive Task-to-Task Fusion Network for Multitask Learning in Recommendations",
                  "arxiv": "2304.04959", "venue": "KDD 2023", "year": 2023, "family": "multi-task",
                  "authors": ["Danwei Li", "Zhengyu Zhang", "Siyang Yuan"]},
        "started_at": "2025-01-01T12:00:00+00:00", "finished_at": finished_at, "wall_time_s": 300.2,
        "config": {"seeds": seed_list, "device": "cpu", "params": {"epochs": epochs, "batch_size": 1024, "lr": 0.001}},
        "config_hash": "3f9a2c1e7b6d5a40",
        "environment": {"packages": {"torch": "2.13.0", "torchrec": "1.8.0", "fbgemm-gpu-cpu": "1.8.0", "python": "3.11.2"},
                        "platform": "Linux-6.1-x86_64", "cpu": "AMD EPYC 7B13", "cpu_count": 2, "torch_threads": 2,
                        "gpus": [], "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False},
                        "hostname": "runner-1"},
        "dataset": {"manifest": {"id": "census_income_kdd", "protocol": "official train/test; 10% of train held out for validation (seed 0)",
                                 "files": [{"name": "census-income.data.gz", "sha256": "a" * 64, "rows": 199523},
                                           {"name": "census-income.test.gz", "sha256": "b" * 64, "rows": 99762}],
                                 "splits": {"train": 179571, "val": 19952, "test": 99762}}},
        "protocol_notes": protocol_notes if protocol_notes is not None else [
            "The paper trains on internal short-video data; this run uses UCI Census-Income (KDD) with three tasks.",
            "Task groups follow the paper's Section 4.3 but feature processing follows the MMoE census protocol."],
        "models": {"adatt_6": {"description": "AdaTT, 6 experts per task", "params": 412345},
                   "ple_6": {"description": "PLE, 6 experts per task", "params": 398001},
                   "ml_mmoe_6": {"description": "Multi-level MMoE, 6 experts", "params": 377890}},
        "runs": runs, "verdicts": verdicts, "verdict_counts": counts,
        "throughput": {"examples_per_s_mean": 5321.5},
    }


def write_record(results_dir: Path, record: dict[str, Any]) -> Path:
    """Write `record` where ``repro run`` would put it; return the run folder."""
    run_dir = results_dir / record["paper"]["id"] / record["run_id"]
    write_json(run_dir / "record.json", record)
    return run_dir


@pytest.fixture
def record_factory() -> Callable[..., dict[str, Any]]:
    """:func:`make_record`, for tests that vary a field."""
    return make_record


@pytest.fixture
def run_writer() -> Callable[[Path, dict[str, Any]], Path]:
    """:func:`write_record`."""
    return write_record


@pytest.fixture
def catalog() -> list[dict[str, Any]]:
    """A small catalog as the CLI passes it: one implemented paper, two planned."""
    return [
        {"id": "adatt", "title": "AdaTT: Adaptive Task-to-Task Fusion Network for Multitask Learning in Recommendations",
         "year": 2023, "arxiv": "2304.04959", "family": "multi-task", "status": "implemented"},
        {"id": "dhen", "title": "DHEN: A Deep and Hierarchical Ensemble Network for Large-Scale CTR Prediction",
         "year": 2022, "arxiv": "2203.11014", "family": "architecture", "status": "planned"},
        {"id": "wukong", "title": "Wukong: Towards a Scaling Law for Large-Scale Recommendation",
         "year": 2024, "arxiv": "2403.02545", "family": "architecture", "status": "planned"},
    ]

"""SYNTHETIC CTR data with planted structure: Criteo-like features, labels from a hidden teacher DLRM.

The dataset ids ``synthetic-ctr-teacher`` (500,000 rows) and ``synthetic-ctr-teacher-small``
(50,000 rows) are generated, not downloaded: ``repro data prepare`` writes them into the ordinary
prepared cache (train/val/test 80/10/10, memory-mapped, checked), so ``load_splits`` reads them as
any dataset. The numbers say nothing about real click-through rates; they serve the accuracy claims
that the 10,109-line Criteo sample is too small for (spec-sharding-distributed.md, Sec. 0.2): a
known Bayes-optimal predictor (the teacher) and enough rows to resolve AUC differences of 1e-3.

Measured on ``synthetic-ctr-teacher`` (test split, seed 0, one torch thread): the teacher's AUC
0.850; a DLRM (bottom 13-64-16, top 64-1, Adam 1e-3, row-wise Adagrad 0.05 tables) 0.769 after 2
epochs (~25 s each); logistic regression 0.720. With ``vocab_cap`` 10,000 instead of 1,000 the
interactions, spread over ten times more rare ids, were barely learnable (DLRM 0.735, LR 0.728):
the cap keeps the planted structure within reach of a half-million-row run.

Features, like Criteo's after the dlrm protocol: 13 dense features on the ``log(x+1)`` scale
(exponential with a per-feature scale) and 26 categorical fields whose ids follow a truncated
Zipf law over ``min(Criteo Kaggle cardinality, vocab_cap)`` values (id order permuted per field,
so popularity does not follow the id).

The teacher, a DLRM with a linear top: ``logit = bias + w . dense + sum_f a_f[id_f] +
sum_{f<g, same group} <e_f[id_f], e_g[id_g]>`` plus the dot products of a projected dense
vector with group 0's embeddings. The 26 fields are split into `groups` planted feature groups
(fields ``j`` with ``j % groups == g``): interactions exist only inside a group, a structure a
tower partitioner (DMT) can recover. The label is Bernoulli(sigmoid(logit)); each split stores the
teacher's logit (``<split>/teacher_logit.npy``, :func:`teacher_logits`), whose AUC is the ceiling
(no model can beat the true probability in expectation).
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.atomic import write_json
from harness.data.cache import MANIFEST, ArrayWriter, file_digests, load_npy
from harness.data.catalog import DatasetSpec
from harness.data.checks import check_cache
from harness.data.progress import ProgressFn, RateMeter
from harness.data.synthetic import CRITEO_KAGGLE_CARDINALITY, zipf_ranks

NUM_DENSE = 13
NUM_SPARSE = len(CRITEO_KAGGLE_CARDINALITY)
DENSE_NAMES = tuple(f"int_{i}" for i in range(NUM_DENSE))
SPARSE_NAMES = tuple(f"cat_{i}" for i in range(NUM_SPARSE))
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
CHUNK_ROWS = 100_000
TEACHER_LOGIT = "teacher_logit"
INTERACTION_VARIANCE = 0.8


def spec(dataset_id: str) -> DatasetSpec:
    """The catalog entry of a generated dataset: no raw files, nothing to download."""
    return DatasetSpec(id=dataset_id, title="Synthetic CTR with a hidden teacher DLRM (synthetic, not real data)",
                       folder=dataset_id, homepage="harness/data/teacher_ctr.py", files=(), license="generated",
                       download_note=f"it is synthetic: `repro data prepare {dataset_id}` generates it")


def params(rows: int, seed: int = 0, vocab_cap: int = 1_000, zipf_s: float = 1.1, dim: int = 4,
           groups: int = 4) -> dict[str, Any]:
    """The generation parameters (they name the cache folder, so a change regenerates)."""
    return {"generator": "teacher_ctr", "version": 1, "synthetic": True, "rows": rows, "seed": seed,
            "vocab_cap": vocab_cap, "zipf_s": zipf_s, "dim": dim, "groups": groups,
            "split_fractions": list(SPLIT_FRACTIONS)}


@dataclass(frozen=True)
class Teacher:
    """The hidden model: first-order effects, embeddings, dense weights and the planted groups."""

    vocab: tuple[int, ...]
    permutations: tuple[np.ndarray, ...]
    dense_scale: np.ndarray
    dense_weight: np.ndarray
    dense_projection: np.ndarray
    first_order: tuple[np.ndarray, ...]
    embeddings: tuple[np.ndarray, ...]
    groups: tuple[tuple[int, ...], ...]
    bias: float

    @classmethod
    def draw(cls, p: dict[str, Any]) -> "Teacher":
        """The teacher of the generation parameters `p` (seeded by ``p["seed"]``)."""
        rng = np.random.default_rng([p["seed"], 0])
        vocab = tuple(min(c, p["vocab_cap"]) for c in CRITEO_KAGGLE_CARDINALITY)
        groups = tuple(tuple(j for j in range(NUM_SPARSE) if j % p["groups"] == g) for g in range(p["groups"]))
        pairs = sum(len(g) * (len(g) - 1) // 2 for g in groups)
        # Logit variance: first order 26 x 0.2^2 ~ 1.0, interactions pairs x dim x sd^4 = 0.8, dense ~ 0.35:
        # a logit s.d. near 1.5, a teacher AUC near 0.8 (Criteo-like models reach about 0.80).
        emb_sd = (INTERACTION_VARIANCE / (pairs * p["dim"])) ** 0.25
        return cls(vocab=vocab, permutations=tuple(rng.permutation(v) for v in vocab),
                   dense_scale=rng.uniform(0.5, 2.5, NUM_DENSE), dense_weight=rng.normal(0, 0.1, NUM_DENSE),
                   dense_projection=rng.normal(0, 0.3, (NUM_DENSE, p["dim"])),
                   first_order=tuple(rng.normal(0, 0.2, v) for v in vocab),
                   embeddings=tuple(rng.normal(0, emb_sd, (v, p["dim"])) for v in vocab),
                   groups=groups, bias=-1.4)

    def logits(self, dense: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """The teacher's logit of each row (dense ``[n, 13]``, ids ``[n, 26]``)."""
        centred = dense - self.dense_scale
        logit = self.bias + centred @ self.dense_weight
        vectors = [emb[ids[:, j]] for j, emb in enumerate(self.embeddings)]
        for j, table in enumerate(self.first_order):
            logit += table[ids[:, j]]
        for group in self.groups:
            for a in range(len(group)):
                for b in range(a + 1, len(group)):
                    logit += np.einsum("nd,nd->n", vectors[group[a]], vectors[group[b]])
        projected = np.tanh(centred @ self.dense_projection)
        for j in self.groups[0]:
            logit += np.einsum("nd,nd->n", projected, vectors[j])
        return logit


def generate_chunk(teacher: Teacher, p: dict[str, Any], index: int, rows: int) -> dict[str, np.ndarray]:
    """Rows of chunk `index` (seeded by (seed, 1, index), so any chunk can be regenerated alone)."""
    rng = np.random.default_rng([p["seed"], 1, index])
    dense = rng.exponential(teacher.dense_scale, size=(rows, NUM_DENSE))
    ids = np.stack([perm[zipf_ranks(rng, v, rows, p["zipf_s"])] for v, perm in zip(teacher.vocab, teacher.permutations)],
                   axis=1)
    logit = teacher.logits(dense, ids)
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return {"labels": labels, "dense": dense.astype(np.float32), "sparse": ids.astype(np.int32),
            TEACHER_LOGIT: logit.astype(np.float32)}


def split_rows(rows: int) -> dict[str, tuple[int, int]]:
    """Contiguous [start, stop) of train / val / test (rows are i.i.d., so order carries nothing)."""
    n_train = int(round(SPLIT_FRACTIONS[0] * rows))
    n_val = int(round(SPLIT_FRACTIONS[1] * rows))
    return {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, rows)}


def build(p: dict[str, Any], dataset_id: str, folder: Path, progress: ProgressFn | None) -> dict[str, Any]:
    """Generate the dataset of parameters `p` into the cache `folder`; returns the manifest (written last)."""
    began = time.perf_counter()
    teacher = Teacher.draw(p)
    rows = p["rows"]
    bounds = split_rows(rows)
    meter = RateMeter("generate", rows, progress)
    with ArrayWriter(folder) as writer:
        out = {split: {"labels": writer.create(f"{split}/labels", (b - a,), np.float32),
                       "dense": writer.create(f"{split}/dense", (b - a, NUM_DENSE), np.float32),
                       "sparse": writer.create(f"{split}/sparse", (b - a, NUM_SPARSE), np.int32),
                       "row_ids": writer.create(f"{split}/row_ids", (b - a,), np.int64),
                       TEACHER_LOGIT: writer.create(f"{split}/{TEACHER_LOGIT}", (b - a,), np.float32)}
               for split, (a, b) in bounds.items()}
        for index, start in enumerate(range(0, rows, CHUNK_ROWS)):
            stop = min(start + CHUNK_ROWS, rows)
            chunk = {**generate_chunk(teacher, p, index, stop - start), "row_ids": np.arange(start, stop)}
            for split, (a, b) in bounds.items():
                lo, hi = max(a, start), min(b, stop)
                if lo < hi:
                    for name, appender in out[split].items():
                        appender.append(chunk[name][lo - start: hi - start])
            meter.report(stop, stop)
    manifest: dict[str, Any] = {
        "dataset_id": dataset_id, "params": p, "label": "click (synthetic: Bernoulli of the teacher's probability)",
        "dense_names": list(DENSE_NAMES), "sparse_names": list(SPARSE_NAMES), "jagged_names": [],
        "table_sizes": dict(zip(SPARSE_NAMES, teacher.vocab)),
        "splits": {split: b - a for split, (a, b) in bounds.items()}, "sources": [], "rows": rows,
        "skipped_lines": 0, "padded_lines": 0, "synthetic": True,
        "planted_groups": [[SPARSE_NAMES[j] for j in g] for g in teacher.groups],
        "seconds": round(time.perf_counter() - began, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    manifest["checks"] = check_cache(folder, manifest)
    manifest["digests"] = file_digests(folder)
    write_json(folder / MANIFEST, manifest)
    return manifest


def teacher_logits(folder: Path, split: str) -> np.ndarray:
    """The teacher's logit of every row of `split` in a prepared cache `folder` (``Splits.folder``), in file order."""
    return np.asarray(load_npy(folder / split / f"{TEACHER_LOGIT}.npy"))

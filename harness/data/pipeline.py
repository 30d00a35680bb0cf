"""Two-pass, streaming, resumable preprocessing of row-oriented raw files into the split cache.

Pass 1 reads each raw file in blocks of whole lines (:mod:`.textblocks`), parses a block into
labels, dense features and raw categorical values with the format's parser, and stores the chunk
with the categorical encoder's per-chunk statistics (:class:`~.cache.ChunkStore`). A killed run
restarts after its last stored chunk. Pass 2 fits the encoder on the statistics, assigns every row
to a split with the protocol's split rule (which needs the total row counts, known only now), and
appends each chunk's rows to the final per-split arrays (plain file writes, not memory maps, whose
pages would count in the process's memory). Peak memory is a few blocks plus the vocabularies,
whatever the file size (measurements: PERFORMANCE.md). The integrity checks of :mod:`.checks` run on the result before the manifest
(the "prepared" mark) is written.
"""

from __future__ import annotations

import functools
import resource
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np

from harness.atomic import write_json
from harness.data.cache import MANIFEST, ArrayWriter, ChunkStore, NpyAppender, file_digests, save_npy
from harness.data.checks import check_cache
from harness.data.encoders import ChunkStats
from harness.data.jagged import take_jagged
from harness.data.progress import ProgressFn, RateMeter
from harness.data.textblocks import DEFAULT_BLOCK_BYTES, BlockCut, TextBlock, after_last_line, iter_blocks
from harness.errors import DataError


@dataclass(frozen=True)
class ParsedRows:
    """One block after parsing: float32 labels [n] and dense [n, D], raw categorical values [n, K]."""

    labels: np.ndarray
    dense: np.ndarray
    cat: np.ndarray
    skipped: int = 0
    padded: int = 0
    jagged: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    split: np.ndarray | None = None  # per-row split codes, for protocols that split by row content (time)


class Encoder(Protocol):
    """What pass 1 and pass 2 need from a categorical encoder (see :mod:`.encoders`)."""

    stat_names: tuple[str, ...]

    def chunk_stats(self, cat: np.ndarray) -> ChunkStats: ...
    def dictionaries(self) -> list[np.ndarray]: ...
    def index_dtype(self) -> type: ...
    def transform_column(self, j: int, values: np.ndarray) -> np.ndarray: ...
    def encode_chunk(self, load: Callable[[str], np.ndarray]) -> np.ndarray: ...
    def fit(self, chunks: Sequence[Callable[[], ChunkStats]]) -> list[int]: ...
    def transform(self, cat: np.ndarray) -> np.ndarray: ...


Parser = Callable[[TextBlock, Path, bool], ParsedRows]
SplitAssigner = Callable[[np.ndarray, int], np.ndarray]
SplitRule = Callable[[list[int]], SplitAssigner]


@dataclass(frozen=True)
class TabularJob:
    """Everything one preprocessing run needs: inputs, parser, encoder, split rule and names."""

    dataset_id: str
    sources: Sequence[Path]
    parse: Parser
    encoder: Encoder
    split_rule: SplitRule | None  # None: the parser assigns each row's split (ParsedRows.split)
    split_names: tuple[str, ...]
    dense_names: tuple[str, ...]
    sparse_names: tuple[str, ...]
    label_name: str
    params: dict[str, Any]
    block_bytes: int = DEFAULT_BLOCK_BYTES
    jagged_names: tuple[str, ...] = ()
    jagged_vocab: dict[str, str] = field(default_factory=dict)
    jagged_sizes: dict[str, int] = field(default_factory=dict)
    block_cut: BlockCut = after_last_line
    group_key: str | None = None  # a key whose rows must lie in one block (see check_groups_whole)

    def jagged_table_sizes(self, table_sizes: list[int]) -> dict[str, int]:
        """Table size of each jagged key: its own, or that of the single-valued key whose vocabulary it uses."""
        sizes = dict(zip(self.sparse_names, table_sizes))
        return {k: sizes[self.jagged_vocab[k]] if k in self.jagged_vocab else self.jagged_sizes[k]
                for k in self.jagged_names}


def _resume_point(markers: list[dict[str, Any]]) -> tuple[int, int, int, int]:
    """(file index, byte offset, line number, global row count) where pass 1 continues."""
    if not markers:
        return 0, 0, 1, 0
    last = markers[-1]
    return last["file"], last["end"], last["end_line"], last["row_end"]


def _parse_with_stats(job: TabularJob, block: TextBlock, path: Path,
                      skip_bad_lines: bool) -> tuple[ParsedRows, dict[str, np.ndarray]]:
    """Parse `block` and compute the encoder's statistics of its categorical values."""
    parsed = job.parse(block, path, skip_bad_lines)
    return parsed, job.encoder.chunk_stats(parsed.cat)


def _parsed_blocks(job: TabularJob, path: Path, start: int, first_line: int,
                   skip_bad_lines: bool) -> Iterator[tuple[TextBlock, ParsedRows, dict[str, np.ndarray]]]:
    """The blocks of `path` in order, parsed; the next block is parsed in a worker thread meanwhile.

    Reading (and gunzipping) a block and storing the previous chunk run in the calling thread while
    the worker parses, so both cores work (pyarrow and numpy release the GIL). At most three blocks
    are in memory at once.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse") as pool:
        pending: tuple[TextBlock, Future] | None = None
        for block in iter_blocks(path, job.block_bytes, start=start, first_line=first_line, cut=job.block_cut):
            future = pool.submit(_parse_with_stats, job, block, path, skip_bad_lines)
            if pending is not None:
                yield pending[0], *pending[1].result()
            pending = (block, future)
        if pending is not None:
            yield pending[0], *pending[1].result()


def pass1(job: TabularJob, store: ChunkStore, skip_bad_lines: bool, progress: ProgressFn | None) -> list[dict]:
    """Parse every raw file into stored chunks, continuing after the last finished one."""
    markers = store.markers()
    file_index, offset, line, rows = _resume_point(markers)
    total_bytes = sum(p.stat().st_size for p in job.sources)
    done_before = sum(p.stat().st_size for p in job.sources[:file_index])
    meter = RateMeter("parse", total_bytes, progress, start_bytes=done_before)
    rows_this_session = 0
    for fi in range(file_index, len(job.sources)):
        path = job.sources[fi]
        start, first = (offset, line) if fi == file_index else (0, 1)
        compressed_ratio = None
        for block, parsed, stats in _parsed_blocks(job, path, start, first, skip_bad_lines):
            n = len(parsed.labels)
            arrays = {"labels": parsed.labels, "dense": parsed.dense, **stats}
            if parsed.split is not None:
                arrays["split"] = parsed.split
            for key, (values, offsets) in parsed.jagged.items():
                arrays[f"{key}.values"], arrays[f"{key}.offsets"] = values, offsets
            meta = {"file": fi, "start": block.start, "end": block.end, "end_line": block.first_line + block.n_lines,
                    "rows": n, "row_start": rows, "row_end": rows + n, "skipped": parsed.skipped,
                    "padded": parsed.padded}
            store.save(len(markers), arrays, meta)
            markers.append({"index": len(markers), **meta})
            rows += n
            rows_this_session += n
            compressed_ratio = compressed_ratio or max(block.end / max(path.stat().st_size, 1), 1.0)
            meter.report(rows_this_session, done_before + int(block.end / compressed_ratio))
        done_before += path.stat().st_size
        if not any(m["file"] == fi and m["rows"] for m in markers):
            raise DataError(f"{path}: no data rows were read (every line was skipped or the file holds no "
                            f"lines); check that it is the right file.")
    return markers


def _rows_per_file(markers: list[dict], n_files: int) -> list[int]:
    """Data rows of each raw file, from the chunk markers."""
    counts = [0] * n_files
    for m in markers:
        counts[m["file"]] += m["rows"]
    return counts


def _encode_jagged(job: TabularJob, key: str, values: np.ndarray) -> np.ndarray:
    """Indices of a jagged key's raw values (through a single-valued key's vocabulary, if it shares one)."""
    if key in job.jagged_vocab:
        return job.encoder.transform_column(job.sparse_names.index(job.jagged_vocab[key]), values)
    return values.astype(job.encoder.index_dtype())


def _jagged_totals(job: TabularJob, store: ChunkStore, markers: list[dict],
                   codes: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Number of values of each jagged key in each split (to size the output arrays)."""
    totals = {}
    for key in job.jagged_names:
        per_split = np.zeros(len(job.split_names), dtype=np.int64)
        for m, code in zip(markers, codes):
            lengths = np.diff(np.asarray(store.load(m["index"], f"{key}.offsets")))
            per_split += np.bincount(code, weights=lengths, minlength=len(job.split_names)).astype(np.int64)
        totals[key] = per_split
    return totals


def check_groups_whole(job: TabularJob, store: ChunkStore, markers: list[dict], table_sizes: list[int]) -> None:
    """Every value of `job.group_key` occurs in one chunk only (the raw file is grouped by that key).

    Per-group features (time-ordered histories) are built inside a chunk, so a group split over two
    chunks would get truncated histories. Checked from the dictionary statistics: the distinct
    values per chunk add up to the table size exactly when no value is in two chunks.
    """
    j = job.sparse_names.index(job.group_key)
    per_chunk = sum(int(np.asarray(store.load(m["index"], "uniq_lengths"))[j]) for m in markers)
    if per_chunk != table_sizes[j]:
        raise DataError(f"{job.sources[0]}: the rows of a '{job.group_key}' are not contiguous ({per_chunk} "
                        f"per-block groups for {table_sizes[j]} distinct values). '{job.dataset_id}' needs the "
                        f"file grouped by {job.group_key}, as published; restore the original order "
                        f"(e.g. a stable sort by the first column) and prepare again.")


def _create_outputs(job: TabularJob, writer: ArrayWriter, counts: np.ndarray,
                    jagged_totals: dict[str, np.ndarray]) -> dict[str, dict[str, NpyAppender]]:
    """The appendable output arrays of every split, sized from the split row counts."""
    index_dtype = job.encoder.index_dtype()
    out = {}
    for s, name in enumerate(job.split_names):
        n = int(counts[s])
        out[name] = {"labels": writer.create(f"{name}/labels", (n,), np.float32),
                     "dense": writer.create(f"{name}/dense", (n, len(job.dense_names)), np.float32),
                     "sparse": writer.create(f"{name}/sparse", (n, len(job.sparse_names)), index_dtype),
                     "row_ids": writer.create(f"{name}/row_ids", (n,), np.int64)}
        for key in job.jagged_names:
            out[name][f"{key}.values"] = writer.create(f"{name}/{key}.values", (jagged_totals[key][s],), index_dtype)
            out[name][f"{key}.offsets"] = writer.create(f"{name}/{key}.offsets", (n + 1,), np.int64)
            out[name][f"{key}.offsets"].append(np.zeros(1, np.int64))
    return out


def pass2(job: TabularJob, folder: Path, store: ChunkStore, markers: list[dict],
          progress: ProgressFn | None) -> dict[str, Any]:
    """Fit the encoder, assign splits and append each chunk's rows to the per-split arrays; returns split facts."""
    names = job.encoder.stat_names
    def chunk_stats(index: int) -> Callable[[], dict[str, Any]]:
        return lambda: {k: store.load(index, k) for k in names}

    table_sizes = job.encoder.fit([chunk_stats(m["index"]) for m in markers])
    for name, vocab in zip(job.sparse_names, job.encoder.dictionaries()):
        save_npy(folder / "dicts" / f"{name}.npy", vocab)
    if job.group_key is not None:
        check_groups_whole(job, store, markers, table_sizes)
    if job.split_rule is None:
        codes = [np.asarray(store.load(m["index"], "split")) for m in markers]
    else:
        assign = job.split_rule(_rows_per_file(markers, len(job.sources)))
        codes = [assign(np.arange(m["row_start"], m["row_end"], dtype=np.int64), m["file"]) for m in markers]
    counts = sum((np.bincount(c, minlength=len(job.split_names)) for c in codes),
                 np.zeros(len(job.split_names), np.int64))
    jagged_totals = _jagged_totals(job, store, markers, codes)
    meter = RateMeter("write", int(counts.sum()), progress)
    with ArrayWriter(folder) as writer:
        out = _create_outputs(job, writer, counts, jagged_totals)
        jagged_filled = {key: np.zeros(len(job.split_names), dtype=np.int64) for key in job.jagged_names}
        done = 0
        for m, code in zip(markers, codes):
            i = m["index"]
            labels, dense = np.asarray(store.load(i, "labels")), np.asarray(store.load(i, "dense"))
            sparse = job.encoder.encode_chunk(functools.partial(store.load, i))
            row_ids = np.arange(m["row_start"], m["row_end"], dtype=np.int64)
            jagged = {key: (_encode_jagged(job, key, np.asarray(store.load(i, f"{key}.values"))),
                            np.asarray(store.load(i, f"{key}.offsets"))) for key in job.jagged_names}
            for s, name in enumerate(job.split_names):
                rows = np.flatnonzero(code == s)
                if not len(rows):
                    continue
                whole = len(rows) == len(code)  # the usual case: the chunk lies inside one split
                target = out[name]
                for key, array in (("labels", labels), ("dense", dense), ("sparse", sparse), ("row_ids", row_ids)):
                    target[key].append(array if whole else array[rows])
                for key, (values, offsets) in jagged.items():
                    sub_values, sub_offsets = take_jagged(values, offsets, rows)
                    base = jagged_filled[key][s]
                    target[f"{key}.values"].append(sub_values)
                    target[f"{key}.offsets"].append(base + sub_offsets[1:])
                    jagged_filled[key][s] = base + len(sub_values)
            done += m["rows"]
            meter.report(done, done)
    return {"table_sizes": table_sizes + list(job.jagged_table_sizes(table_sizes).values()),
            "split_rows": {n: int(c) for n, c in zip(job.split_names, counts)}}


def run(job: TabularJob, folder: Path, skip_bad_lines: bool = False,
        progress: ProgressFn | None = None) -> dict[str, Any]:
    """Prepare `job` into `folder` (resuming pass 1 if interrupted); returns the manifest."""
    began = time.perf_counter()
    store = ChunkStore(folder)
    try:
        markers = pass1(job, store, skip_bad_lines, progress)
        facts = pass2(job, folder, store, markers, progress)
    except DataError:
        # Bad input: the stored chunks cannot be resumed into a good cache, so none is kept.
        # (An interruption, by contrast, keeps them: the next run resumes after the last one.)
        shutil.rmtree(folder, ignore_errors=True)
        raise
    rows = sum(m["rows"] for m in markers)
    manifest = {
        "dataset_id": job.dataset_id,
        "params": job.params,
        "label": job.label_name,
        "dense_names": list(job.dense_names),
        "sparse_names": list(job.sparse_names),
        "jagged_names": list(job.jagged_names),
        "table_sizes": dict(zip([*job.sparse_names, *job.jagged_names], facts["table_sizes"])),
        "splits": facts["split_rows"],
        "sources": [{"path": str(p), "bytes": p.stat().st_size,
                     "rows": sum(m["rows"] for m in markers if m["file"] == i),
                     "skipped_lines": sum(m["skipped"] for m in markers if m["file"] == i),
                     "padded_lines": sum(m["padded"] for m in markers if m["file"] == i)}
                    for i, p in enumerate(job.sources)],
        "rows": rows,
        "skipped_lines": sum(m["skipped"] for m in markers),
        "padded_lines": sum(m["padded"] for m in markers),
        "seconds": round(time.perf_counter() - began, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    manifest["rows_per_s"] = round(rows / max(manifest["seconds"], 1e-9))
    manifest["checks"] = check_cache(folder, manifest)
    manifest["digests"] = file_digests(folder)
    write_json(folder / MANIFEST, manifest)
    store.clear()
    return manifest

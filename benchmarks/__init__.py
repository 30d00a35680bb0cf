"""The asv benchmark suite of recrepro (see ci/README.md for how to run and compare it).

Modules are grouped by area, in the style of numpy's ``benchmarks/`` and pandas' ``asv_bench/``:
``bench_metrics`` (evaluation metrics), ``bench_quality`` (``track_*`` quality after a short,
fixed training run), ``bench_data``, ``bench_embeddings`` and ``bench_train`` (throughput).
Shared, deterministic fixtures live in :mod:`benchmarks.common`.
"""

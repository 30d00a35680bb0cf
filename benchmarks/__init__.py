"""The asv benchmark suite of recrepro (see ci/README.md for how to run and compare it).

Modules are grouped by area, in the style of numpy's ``benchmarks/`` and pandas' ``asv_bench/``:
``bench_metrics`` (evaluation metrics), ``bench_quality`` (``track_*`` quality after a short,
fixed training run), ``bench_data``, ``bench_embeddings`` and ``bench_train`` (speed, measured
as time). Shared, deterministic fixtures live in :mod:`benchmarks.common`.

Convention: every number is lower-is-better, because asv compares them all that way
(``asv compare`` / ``asv continuous`` flag an increase beyond ``--factor``) and has no switch to
reverse it. Speed is a time (``time_*``, or ``track_*`` with ``unit = "seconds"``), never a rate
such as rows/s; memory is in bytes (``peakmem_*``, or ``track_*`` with ``unit = "bytes"``);
quality is a loss (``1 - AUC``, NE), never a score. tests/ci/test_asv_suite.py checks the units.
"""

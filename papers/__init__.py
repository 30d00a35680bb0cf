"""One sub-package per implemented paper (folder name = paper id with '-' as '_').

Each holds ``paper.toml`` (metadata, profiles, claims), ``experiment.py`` (``run(ctx)``),
``figures.ipynb`` (papermill figure notebook) and a README. Papers import only the harness.
"""

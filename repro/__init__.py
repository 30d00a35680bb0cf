"""recrepro: reproductions of the DLRM family of recommendation-systems papers.

``repro`` holds the CLI, the paper registry, the claims engine, run records and the report;
``harness`` (folder harness/) the shared data, models and trainer; ``papers``
(folder papers/) one sub-package per implemented paper.
"""

__version__ = "0.1.0"

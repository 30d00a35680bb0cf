"""Training-step throughput on the DLRM Kaggle shape (issue 4, point 7), all numbers from one run.

26 tables x 100,000 rows x dim 16, bottom 13-512-256-64-16, top 512-256-1, batch 2048, SGD
(tables: FBGEMM fused SGD), CPU. Reported side by side: our trainer's step (fp32 and bf16
autocast), ``torchrec.models.dlrm.DLRM`` under DistributedModelParallel with fused SGD (one-process
gloo world), and the fp32/bf16 matmul floors (one step ~6.0 GFLOP over a large matmul's FLOP/s
measured in the same run). Wall times and, for shared machines, CPU time per thread.
References on this 2-core machine (issue 4): facebookresearch/dlrm ~80 ms/step, TorchRec DMP
~72 ms/step, fp32 matmul ~130 GFLOP/s -> floor ~46 ms. Targets: ours <= 54 ms fp32, <= 25 ms bf16.
``python -m repro.harness.train.throughput`` prints the same table for the README.
"""

from __future__ import annotations

from repro.harness.train.throughput import measure


class DLRMKaggleStep:
    """One measurement of every step time and floor, shared by the ``track_*`` numbers below."""

    timeout = 900
    number = 1
    repeat = 1
    unit = "ms/step"

    def setup_cache(self) -> dict[str, float]:
        """Measure everything once, in one process, so the numbers are comparable."""
        return measure(steps=20)

    def track_ours_fp32(self, m: dict[str, float]) -> float:
        """Our trainer's fp32 step, mean wall ms."""
        return m["ours_ms"]

    def track_ours_bf16(self, m: dict[str, float]) -> float:
        """Our trainer's step under bf16 autocast, wall ms."""
        return m["ours_bf16_ms"]

    def track_torchrec_dmp(self, m: dict[str, float]) -> float:
        """torchrec.models.dlrm.DLRM under DMP with fused SGD, mean wall ms."""
        return m["torchrec_dmp_ms"]

    def track_fp32_floor(self, m: dict[str, float]) -> float:
        """FLOPs per step over the measured fp32 matmul FLOP/s, ms."""
        return m["fp32_floor_ms"]

    def track_bf16_floor(self, m: dict[str, float]) -> float:
        """FLOPs per step over the measured bf16 matmul FLOP/s, ms."""
        return m["bf16_floor_ms"]

    def track_ours_fp32_cpu(self, m: dict[str, float]) -> float:
        """Our fp32 step in CPU ms per thread (robust to other load on the machine)."""
        return m["ours_cpu_ms"]

    def track_torchrec_dmp_cpu(self, m: dict[str, float]) -> float:
        """TorchRec DMP step in CPU ms per thread."""
        return m["torchrec_dmp_cpu_ms"]

    def track_fp32_floor_cpu(self, m: dict[str, float]) -> float:
        """The fp32 floor from the matmul's CPU time, ms."""
        return m["fp32_floor_cpu_ms"]

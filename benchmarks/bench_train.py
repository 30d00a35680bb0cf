"""Training-step time on the DLRM Kaggle shape, each precision's numbers from one run.

26 tables x 100,000 rows x dim 16, bottom 13-512-256-64-16, top 512-256-1, batch 2048, SGD
(tables: FBGEMM fused SGD), CPU. Reported side by side: our trainer's step (fp32 and bf16
autocast), ``torchrec.models.dlrm.DLRM`` under DistributedModelParallel with fused SGD (one-process
gloo world), and the fp32/bf16 matmul floors (one step ~6.0 GFLOP over a large matmul's FLOP/s
measured in the same run), interleaved over rounds and reported as medians
(:func:`~harness.train.throughput.interleaved`). Wall times and, for shared machines, CPU
time per thread.
References on a 2-core machine: facebookresearch/dlrm ~80 ms/step, TorchRec DMP
~72 ms/step, fp32 matmul ~130 GFLOP/s -> floor ~46 ms. Targets: ours <= 54 ms fp32, <= 25 ms bf16.
``python -m harness.train.throughput`` prints the same table for the README.

The bf16 numbers are measured only where oneDNN runs bf16 natively (AVX512 or AMX); elsewhere
(e.g. an AVX2-only CPU) torch's bf16 matmul falls back to a kernel ~300x slower than fp32 (0.3 vs
83 GFLOP/s measured), whose figures say nothing about the code and take over ten minutes, so
those benchmarks are skipped (asv shows n/a).

Direction: asv counts every number as lower-is-better, so every ``track_*`` here is a time per
step in seconds (``unit = "seconds"``, which asv also prints as a time), never a rate such as
steps/s or GFLOP/s.
"""

from __future__ import annotations

from harness.train.throughput import native_bf16, precision_step_ms

STEPS = 20
ROUNDS = 3
TIMES = ("ours", "ours_cpu", "floor", "floor_cpu", "torchrec_dmp", "torchrec_dmp_cpu")


def step_seconds(precision: str) -> dict[str, float]:
    """Medians of interleaved rounds in seconds: our step and the matmul floor in `precision`, and
    in fp32 TorchRec DMP's step too (:func:`~harness.train.throughput.precision_step_ms`)."""
    measured = precision_step_ms(precision, STEPS, ROUNDS, with_torchrec=precision == "fp32")
    return {key: measured[key] / 1000 for key in TIMES if key in measured}


class _MeasuredOnce:
    """asv settings of a class whose numbers are measured once in ``setup_cache`` and read by ``track_*``."""

    timeout = 900
    number = 1
    repeat = 1
    unit = "seconds"


class DLRMKaggleStep(_MeasuredOnce):
    """fp32: our step, TorchRec DMP's step and the fp32 floor, measured once in one process."""

    def setup_cache(self) -> dict[str, float]:
        """Measure every fp32 number once, in one process and interleaved, so that they are comparable."""
        return step_seconds("fp32")

    def track_ours_fp32(self, m: dict[str, float]) -> float:
        """Our trainer's fp32 step, mean wall seconds."""
        return m["ours"]

    def track_torchrec_dmp(self, m: dict[str, float]) -> float:
        """torchrec.models.dlrm.DLRM under DMP with fused SGD, mean wall seconds."""
        return m["torchrec_dmp"]

    def track_fp32_floor(self, m: dict[str, float]) -> float:
        """FLOPs per step over the measured fp32 matmul FLOP/s, seconds."""
        return m["floor"]

    def track_ours_fp32_cpu(self, m: dict[str, float]) -> float:
        """Our fp32 step in CPU seconds per thread (robust to other load on the machine)."""
        return m["ours_cpu"]

    def track_torchrec_dmp_cpu(self, m: dict[str, float]) -> float:
        """TorchRec DMP step in CPU seconds per thread."""
        return m["torchrec_dmp_cpu"]

    def track_fp32_floor_cpu(self, m: dict[str, float]) -> float:
        """The fp32 floor from the matmul's CPU time, seconds."""
        return m["floor_cpu"]


class DLRMKaggleStepBF16(_MeasuredOnce):
    """bf16 autocast: our step and the bf16 floor, measured once in one process; skipped without native bf16."""

    def setup_cache(self) -> dict[str, float]:
        """Measure the bf16 numbers once; empty (nothing measured) where bf16 is not native.

        Empty rather than None: asv passes a None cache to no method at all.
        """
        return step_seconds("bf16") if native_bf16() else {}

    def setup(self, m: dict[str, float]) -> None:
        """Skip (asv: n/a) where bf16 was not measured."""
        if not m:
            raise NotImplementedError("no native bf16 on this CPU (oneDNN): torch's fallback is not worth timing")

    def track_ours_bf16(self, m: dict[str, float]) -> float:
        """Our trainer's step under bf16 autocast, mean wall seconds."""
        return m["ours"]

    def track_bf16_floor(self, m: dict[str, float]) -> float:
        """FLOPs per step over the measured bf16 matmul FLOP/s, seconds."""
        return m["floor"]

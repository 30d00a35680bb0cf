"""Training-step throughput on the DLRM Kaggle shape: ours, TorchRec's DLRM under DMP, and the roofline.

Shape (issue 4): 26 tables x 100,000 rows x dimension 16, bottom MLP 13-512-256-64-16, top MLP
512-256-1, batch 2048, SGD (tables: FBGEMM fused SGD). One step costs about 6.0 GFLOP (forward
plus twice that backward, see :func:`dlrm_step_flops`); the fp32 floor is that divided by the
FLOP/s of a large fp32 matmul measured in the same process.

``python -m harness.train.throughput`` prints the three numbers side by side;
benchmarks/bench_train.py reports them through asv.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torchrec.datasets.utils import Batch
from torchrec.models.dlrm import DLRM as TorchRecDLRM
from torchrec.models.dlrm import DLRMTrain
from torchrec.modules.embedding_modules import EmbeddingBagCollection

from harness.models.dlrm import DLRM
from harness.models.embedding import make_tables
from harness.train.distributed import init_single_process, shard_model
from harness.train.optim import SparseSpec, build_optimizers
from harness.train.synthetic import BatchList, random_ctr_batches
from harness.train.timing import PHASES
from harness.train.trainer import TrainConfig, fit, seed_everything


@dataclass(frozen=True)
class Shape:
    """The benchmarked model and batch."""

    tables: int = 26
    rows: int = 100_000
    dim: int = 16
    bottom: tuple[int, ...] = (13, 512, 256, 64, 16)
    top: tuple[int, ...] = (512, 256, 1)
    batch: int = 2048
    lr: float = 0.1

    def table_configs(self):  # type: ignore[no-untyped-def]
        """The TorchRec table configs (features ``f0..f25``)."""
        return make_tables([f"f{i}" for i in range(self.tables)], [self.rows] * self.tables, self.dim)


KAGGLE = Shape()


def dlrm_step_flops(shape: Shape = KAGGLE) -> float:
    """FLOPs of one training step: 2 per multiply-add, backward twice the forward (about 6.0e9)."""
    interaction_in = shape.tables + 1
    top_in = shape.dim + interaction_in * (interaction_in - 1) // 2
    layers = list(zip(shape.bottom[:-1], shape.bottom[1:])) + list(zip((top_in, *shape.top[:-1]), shape.top))
    macs = sum(a * b for a, b in layers) + interaction_in * interaction_in * shape.dim
    return 3 * 2 * macs * shape.batch


def matmul_flops(n: int = 2048, dtype: torch.dtype = torch.float32, repeats: int = 10) -> tuple[float, float]:
    """Best-of FLOP/s of an ``n x n`` matmul on this CPU by wall clock and by process CPU time.

    The compute ceiling of the roofline. With one thread the CPU-time figure is the machine's
    speed even when other processes share the cores; the wall figure is what a run would see.
    """
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        torch.mm(a, b)
        wall, cpu = min(wall, time.perf_counter() - w), min(cpu, time.process_time() - c)
    threads = torch.get_num_threads()
    return 2 * n ** 3 / wall, 2 * n ** 3 / (cpu / threads)


def _batches(shape: Shape, count: int) -> list[Batch]:
    return random_ctr_batches(count, shape.batch, shape.bottom[0], [shape.rows] * shape.tables, seed=0)


StepRunner = Callable[[int], dict[str, float]]
"""Trains `steps` more steps of a model built once; returns mean ms per step: ``total`` (wall),
``cpu_total`` (process CPU time per thread) and, for our trainer, the phases."""


def our_trainer(shape: Shape = KAGGLE, precision: str = "fp32") -> StepRunner:
    """Our trainer (:func:`~harness.train.trainer.fit`) on the shape, built once; two warm-up steps per call."""
    batches = BatchList(_batches(shape, 4))
    tiny = {"val": BatchList(batches.batches[:1])}
    seed_everything(0)
    model = DLRM.from_tables(list(shape.bottom), list(shape.top), shape.table_configs())

    def train(steps: int) -> dict[str, float]:
        config = TrainConfig(epochs=steps, lr=shape.lr, optimizer="sgd", sparse_optimizer="sgd",
                             precision=precision, max_steps=steps, eval_every_steps=10 ** 9)
        return fit(model, batches, tiny, [""], config, "cpu").step_ms

    def run(steps: int) -> dict[str, float]:
        train(2)  # warm-up, as for TorchRec's step in _time_steps
        step_ms = train(steps)
        return {**step_ms, "cpu_total": step_ms["cpu_total"] / torch.get_num_threads()}

    return run


def _time_steps(step: Callable[[Batch], None], batches: list[Batch], steps: int) -> dict[str, float]:
    """Mean wall ms and mean CPU ms (per thread) of `step` over `steps` steps after two warm-ups.

    Means, like the trainer's step timer, so that ours and TorchRec's are the same statistic.
    """
    for batch in batches[:2]:
        step(batch)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(steps):
        step(batches[i % len(batches)])
    wall_ms = 1000 * (time.perf_counter() - wall) / steps
    cpu_ms = 1000 * (time.process_time() - cpu) / steps / torch.get_num_threads()
    return {"total": wall_ms, "cpu_total": cpu_ms}


def torchrec_dmp(shape: Shape = KAGGLE) -> StepRunner:
    """``torchrec.models.dlrm.DLRM`` under DistributedModelParallel with fused SGD, built once."""
    world = init_single_process(torch.device("cpu"))
    seed_everything(0)
    ebc = EmbeddingBagCollection(tables=shape.table_configs(), device=torch.device("cpu"))
    module = DLRMTrain(TorchRecDLRM(ebc, shape.bottom[0], list(shape.bottom[1:]), list(shape.top)))
    model, _ = shard_model(module, SparseSpec("sgd", shape.lr), world, batch_size=shape.batch)
    _, optimizers = build_optimizers(model, "sgd", shape.lr, 0.0, SparseSpec("sgd", shape.lr), world.device)
    batches = _batches(shape, 4)

    def step(batch: Batch) -> None:
        loss, _ = model(batch)
        loss.backward()
        optimizers.step()
        optimizers.zero_grad()

    return lambda steps: _time_steps(step, batches, steps)


def native_bf16() -> bool:
    """Whether oneDNN multiplies bf16 natively on this CPU (AVX512-BF16 or AMX).

    Elsewhere (e.g. AVX2 only) torch's bf16 matmul is a fallback about 300x slower than fp32,
    whose timings say nothing about our code and take many minutes.
    """
    return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def interleaved(runners: dict[str, StepRunner], dtype: torch.dtype, steps: int, rounds: int) -> dict[str, float]:
    """Medians over `rounds` rounds, each timing the `dtype` matmul floor and then every runner.

    On a shared machine the speed drifts by 10-20% within a minute; interleaving puts every
    contender in every period, and the paired ratios (``<name>_roofline``: floor over that
    round's step; ``ours_over_<name>``) cancel what the rounds share. Keys: ``floor``,
    ``floor_cpu``, ``gflops``, ``<name>`` and ``<name>_cpu`` (ms per step), our phases.
    """
    flops = dlrm_step_flops()
    rows: list[dict[str, float]] = []
    for _ in range(rounds):
        wall, cpu = matmul_flops(dtype=dtype)
        row = {"floor": 1000 * flops / wall, "floor_cpu": 1000 * flops / cpu, "gflops": wall / 1e9}
        for name, run in runners.items():
            timed = run(steps)
            row.update({name: timed["total"], f"{name}_cpu": timed["cpu_total"],
                        f"{name}_roofline": row["floor"] / timed["total"]})
            row.update({f"{name}_{phase}": timed[phase] for phase in PHASES if phase in timed})
        for name in runners:
            if name != "ours" and "ours" in runners:
                row[f"ours_over_{name}"] = row["ours"] / row[name]
        rows.append(row)
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def precision_step_ms(precision: str, steps: int = 20, rounds: int = 3,
                      with_torchrec: bool = False) -> dict[str, float]:
    """Our trainer's step in `precision` beside that precision's matmul floor (:func:`interleaved`),
    and with `with_torchrec` TorchRec DMP's fp32 step in the same rounds (key ``torchrec_dmp``)."""
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    runners = {"ours": our_trainer(precision=precision)}
    if with_torchrec:
        runners["torchrec_dmp"] = torchrec_dmp()
    return interleaved(runners, dtype, steps, rounds)


def measure(steps: int = 20, rounds: int = 3) -> dict[str, float]:
    """All numbers of one benchmark run: fp32 ours, TorchRec DMP and the floor interleaved, then bf16.

    The bf16 entries are NaN where bf16 is not native (:func:`native_bf16`).
    """
    fp32 = precision_step_ms("fp32", steps, rounds, with_torchrec=True)
    nan = float("nan")
    bf16 = (precision_step_ms("bf16", steps, rounds) if native_bf16()
            else dict.fromkeys(("ours", "ours_cpu", "floor", "floor_cpu", "gflops"), nan))
    return {"gflop_per_step": dlrm_step_flops() / 1e9, "threads": torch.get_num_threads(), "rounds": rounds,
            "ours_ms": fp32["ours"], "ours_cpu_ms": fp32["ours_cpu"],
            "ours_bf16_ms": bf16["ours"], "ours_bf16_cpu_ms": bf16["ours_cpu"],
            "torchrec_dmp_ms": fp32["torchrec_dmp"], "torchrec_dmp_cpu_ms": fp32["torchrec_dmp_cpu"],
            "fp32_gflops": fp32["gflops"], "fp32_floor_ms": fp32["floor"], "fp32_floor_cpu_ms": fp32["floor_cpu"],
            "bf16_gflops": bf16["gflops"], "bf16_floor_ms": bf16["floor"], "bf16_floor_cpu_ms": bf16["floor_cpu"],
            "ours_roofline": fp32["ours_roofline"], "torchrec_dmp_roofline": fp32["torchrec_dmp_roofline"],
            "ours_over_torchrec_dmp": fp32["ours_over_torchrec_dmp"],
            **{f"ours_{k}_ms": fp32[f"ours_{k}"] for k in PHASES}}


def main() -> None:
    """Print our ms/step (fp32, bf16), TorchRec DMP's and the matmul floors side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are printed")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    m = measure(args.steps, args.rounds)
    print(f"DLRM Kaggle shape, batch {KAGGLE.batch}, {m['gflop_per_step']:.2f} GFLOP/step, {m['threads']} thread(s), "
          f"median of {m['rounds']} interleaved rounds of {args.steps} steps")
    print(f"{'':34s} {'wall ms/step':>12s} {'CPU ms/step':>12s}   (CPU = process CPU time / threads)")
    rows = [("ours fp32 (trainer step)", "ours"), ("ours bf16 autocast", "ours_bf16"),
            ("torchrec DLRM + DMP, fused SGD", "torchrec_dmp"), ("fp32 matmul floor", "fp32_floor"),
            ("bf16 matmul floor", "bf16_floor")]
    for label, key in rows:
        print(f"{label:34s} {m[key + '_ms']:12.1f} {m[key + '_cpu_ms']:12.1f}")
    if not native_bf16():
        print("bf16: not measured (no native bf16 in oneDNN on this CPU; torch's fallback is ~300x slower)")
    print(f"fp32 matmul {m['fp32_gflops']:.0f} GFLOP/s, bf16 {m['bf16_gflops']:.0f} GFLOP/s (wall); our fp32 split: "
          + ", ".join(f"{k} {m[f'ours_{k}_ms']:.1f}" for k in PHASES))
    print(f"paired per round: ours at {100 * m['ours_roofline']:.0f}% of the fp32 roofline (TorchRec DMP "
          f"{100 * m['torchrec_dmp_roofline']:.0f}%); ours / TorchRec DMP = {m['ours_over_torchrec_dmp']:.2f}")


if __name__ == "__main__":
    main()

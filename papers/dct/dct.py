"""Dynamic Communication Thresholding (Gupta et al., KDD 2021, arXiv 2010.08899): the two filters.

DCT-DP (Sec. "communication-efficient DP"): each data-parallel worker sends the parameter server
only the gradient entries whose magnitude reaches a threshold ``tau``; ``tau`` is the K-th largest
magnitude, recomputed only every ``period`` steps (the paper: once every few thousand iterations,
so the top-K selection is not paid on every step). Between recomputations the number of entries
that pass drifts, so the communicated volume is measured, not assumed. With error feedback the
entries not sent are accumulated into the next step's gradient (the research notes could not
verify whether the paper uses it, so both are run).

DCT-MP (Sec. "communication-efficient MP"): at the model-parallel boundary (the pooled embeddings
that the embedding shards send to the dense workers) only the largest activations of each sample
pass; the others are zeroed, and the backward pass sends gradients only for the kept entries (the
same mask, which multiplying by the mask gives for free). ``tau`` is again the K-th largest
magnitude of a batch, recomputed every ``period`` steps; ``per_sample_topk`` keeps exactly the
top-K of every sample on every step instead (the ablation without a shared threshold).

Wire format counted (our choice; the paper's encoding is not verified): a sparse message is an
int64 entry count, then an int32 index and a float32 value per entry (:func:`sparse_message_bytes`);
a dense message is the float32 vector. The MP backward message carries values only (the receiver
kept the forward mask).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from harness.cluster.comm import ByteCounter
from harness.errors import ConfigError
from papers.dct.params import MpMode

INDEX_BYTES = 4
VALUE_BYTES = 4
COUNT_BYTES = 8


def sparse_message_bytes(entries: int) -> int:
    """Bytes of one sparse message of `entries` (index, value) pairs: the count, then the pairs."""
    return COUNT_BYTES + entries * (INDEX_BYTES + VALUE_BYTES)


def kept_count(numel: int, keep: float) -> int:
    """K = ceil(keep x numel), at least 1: how many entries the top-K selection keeps."""
    if not 0 < keep <= 1:
        raise ConfigError(f"a keep fraction must lie in (0, 1], got {keep}")
    return max(1, math.ceil(keep * numel))


def kth_largest_magnitude(values: torch.Tensor, keep: float) -> float:
    """The threshold tau of DCT: the K-th largest |value| with K = :func:`kept_count` (ties all pass)."""
    flat = values.detach().reshape(-1).abs()
    return float(torch.topk(flat, kept_count(flat.numel(), keep), sorted=False).values.min())


def hard_threshold(values: torch.Tensor, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(int32 indices, values) of the entries of a 1-D tensor with ``|value| >= tau``: the DCT filter."""
    index = torch.nonzero(values.abs() >= tau).reshape(-1)
    return index.to(torch.int32), values[index]


class ThresholdCompressor:
    """DCT-DP on one worker: the hard-threshold filter of its flat gradient, ``tau`` refreshed every
    `period` steps as the K-th largest magnitude (K = `keep` x size), optional error feedback."""

    def __init__(self, size: int, keep: float, period: int, error_feedback: bool) -> None:
        if period < 1:
            raise ConfigError(f"the threshold period must be >= 1 step, got {period}")
        kept_count(size, keep)
        self.keep, self.period, self.error_feedback = keep, period, error_feedback
        self.residual = torch.zeros(size)
        self.tau = 0.0
        self.steps = 0

    def compress(self, gradient: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The (indices, values) this worker sends for `gradient`; keeps what it did not send when
        error feedback is on."""
        accumulated = gradient + self.residual if self.error_feedback else gradient
        if self.steps % self.period == 0:
            self.tau = kth_largest_magnitude(accumulated, self.keep)
        self.steps += 1
        index, values = hard_threshold(accumulated, self.tau)
        if self.error_feedback:
            self.residual = accumulated.detach().clone()
            self.residual[index.long()] = 0
        return index, values


@dataclass
class ExchangeTally:
    """What the data-parallel exchanges moved: steps, entries sent (values), and entries of the dense gradients."""

    steps: int = 0
    values_sent: int = 0
    dense_values: int = 0


class GradientExchange:
    """The data-parallel gradient synchronisation of `workers` workers: each worker's flat gradient
    goes to every other (the parameter server's aggregate, here its mean), dense or DCT-filtered.

    :meth:`virtual` takes every worker's gradient in one process and records into `counter` what the
    real exchange (:meth:`distributed`, over ``torch.distributed``) moves: with compressors, one
    ``all_gather`` of the entry counts, then one ``broadcast`` per worker of its packed (int32
    index, float32 value) pairs; dense, one ``broadcast`` per worker of its float32 gradient.
    """

    def __init__(self, size: int, workers: int, counter: ByteCounter, keep: float | None = None,
                 period: int = 1, error_feedback: bool = False) -> None:
        self.size, self.workers, self.counter = size, workers, counter
        self.compressors = None if keep is None else [ThresholdCompressor(size, keep, period, error_feedback)
                                                      for _ in range(workers)]
        self.tally = ExchangeTally()

    def virtual(self, gradients: list[torch.Tensor]) -> torch.Tensor:
        """The mean over workers of what each sends, recording the messages a real exchange moves."""
        if len(gradients) != self.workers:
            raise ConfigError(f"the exchange has {self.workers} workers, got {len(gradients)} gradients")
        self.tally.steps += 1
        self.tally.dense_values += self.size * self.workers
        if self.compressors is None:
            for g in gradients:
                self.counter.record("broadcast", g.numel() * VALUE_BYTES, self.workers)
            self.tally.values_sent += self.size * self.workers
            return torch.stack(gradients).mean(dim=0)
        total = torch.zeros(self.size)
        self.counter.record("all_gather", COUNT_BYTES, self.workers)
        for g, compressor in zip(gradients, self.compressors):
            index, values = compressor.compress(g)
            self.counter.record("broadcast", index.numel() * (INDEX_BYTES + VALUE_BYTES), self.workers)
            self.tally.values_sent += index.numel()
            total.index_add_(0, index.long(), values)
        return total / self.workers

    def distributed(self, gradient: torch.Tensor) -> torch.Tensor:
        """This rank's share of the exchange over ``torch.distributed`` (every rank calls it): the mean."""
        world, rank = dist.get_world_size(), dist.get_rank()
        if world != self.workers:
            raise ConfigError(f"the exchange has {self.workers} workers but the process group {world} ranks")
        self.tally.steps += 1
        self.tally.dense_values += self.size * world
        if self.compressors is None:
            total = torch.zeros(self.size)
            for src in range(world):
                buffer = gradient.detach().clone() if src == rank else torch.empty(self.size)
                dist.broadcast(buffer, src=src)
                total += buffer
            self.tally.values_sent += self.size * world
            return total / world
        index, values = self.compressors[0].compress(gradient)
        counts = [torch.zeros(1, dtype=torch.int64) for _ in range(world)]
        dist.all_gather(counts, torch.tensor([index.numel()], dtype=torch.int64))
        total = torch.zeros(self.size)
        for src in range(world):
            entries = int(counts[src].item())
            packed = (torch.cat([index, values.float().view(torch.int32)]) if src == rank
                      else torch.empty(2 * entries, dtype=torch.int32))
            dist.broadcast(packed, src=src)
            total.index_add_(0, packed[:entries].long(), packed[entries:].view(torch.float32))
            self.tally.values_sent += entries
        return total / world


class BoundaryThreshold(nn.Module):
    """DCT-MP at the model-parallel boundary: zero the small activations of ``[batch, width]``.

    In training, ``tau`` is the K-th largest magnitude of the batch (K = `keep` x entries), refreshed
    every `period` steps (``threshold``), or each sample keeps exactly its top ``keep x width``
    entries (``per_sample_topk``). Multiplying by the mask also masks the gradient, i.e. only the kept
    neurons' gradients travel back. At evaluation the mask applies when `mask_at_eval` (the
    deployed model keeps the boundary). `keep` 1 is the uncompressed boundary. The module tallies
    the entries that crossed (forward) and the entries of the dense boundary, per training step.
    """

    def __init__(self, keep: float = 1.0, period: int = 1, mode: MpMode = "threshold") -> None:
        super().__init__()
        kept_count(1, keep)
        if period < 1:
            raise ConfigError(f"the threshold period must be >= 1 step, got {period}")
        if mode not in ("threshold", "per_sample_topk"):
            raise ConfigError(f"unknown DCT-MP mode {mode!r}; known: threshold, per_sample_topk")
        self.keep, self.period, self.mode = keep, period, mode
        self.mask_at_eval = True
        self.tau = 0.0
        self.steps = 0
        self.kept_entries = 0
        self.dense_entries = 0
        self.samples = 0

    def _mask(self, activations: torch.Tensor) -> torch.Tensor:
        magnitude = activations.detach().abs()
        if self.mode == "per_sample_topk":
            k = kept_count(activations.shape[1], self.keep)
            index = torch.topk(magnitude, k, dim=1).indices
            return torch.zeros_like(magnitude).scatter_(1, index, 1.0)
        return (magnitude >= self.tau).to(activations.dtype)

    def forward(self, activations: torch.Tensor) -> torch.Tensor:
        """`activations` with the entries below the threshold zeroed (identity at `keep` 1)."""
        if self.training:
            self.dense_entries += activations.numel()
            self.samples += activations.shape[0]
        if self.keep >= 1 or (not self.training and not self.mask_at_eval):
            if self.training:
                self.kept_entries += activations.numel()
            return activations
        if self.training and self.mode == "threshold" and self.steps % self.period == 0:
            self.tau = kth_largest_magnitude(activations, self.keep)
        mask = self._mask(activations)
        if self.training:
            self.steps += 1
            self.kept_entries += int(mask.sum().item())
        return activations * mask


def mp_bytes(kept: int, dense: int, samples: int, compressed: bool) -> tuple[int, int]:
    """(forward, backward) bytes across the MP boundary for `kept` of `dense` entries over `samples` rows.

    Dense: float32 activations forward and float32 gradients back. Compressed: per sample an int32
    entry count, then an int32 index and a float32 value per kept entry forward; float32 gradients of
    the kept entries back.
    """
    if not compressed:
        return dense * VALUE_BYTES, dense * VALUE_BYTES
    return samples * INDEX_BYTES + kept * (INDEX_BYTES + VALUE_BYTES), kept * VALUE_BYTES

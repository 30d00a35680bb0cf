"""A cluster as hosts x local ranks, and the time of each collective on it (alpha-beta cost model).

Every link is ``(latency alpha in s, bandwidth in bytes/s)``: a message of ``n`` bytes takes
``alpha + n / bandwidth`` (Hockney's model, as used by Thakur, Rabenseifner & Gropp,
"Optimization of Collective Communication Operations in MPICH", IJHPCA 19(1), 2005, Sec. 3,
whose ``beta`` is our ``1 / bandwidth``). The collective formulas below are that paper's, for
``p`` ranks and ``n`` bytes, on the algorithm each docstring names:

* all-gather, ring: ``(p-1) alpha + (p-1)/p n beta`` (n = gathered output per rank);
* reduce-scatter, ring / pairwise: ``(p-1) alpha + (p-1)/p n beta`` (n = input per rank; the
  reduction's compute term ``gamma`` is left out, it is negligible next to the wire on CPUs);
* all-reduce, ring = reduce-scatter + all-gather: ``2(p-1) alpha + 2(p-1)/p n beta``, which is
  bandwidth-optimal (Patarasuk & Yuan, "Bandwidth optimal all-reduce algorithms for clusters of
  workstations", JPDC 69(2), 2009);
* broadcast, binomial tree: ``ceil(log2 p) (alpha + n beta)``;
* all-to-all, pairwise exchange: ``(p-1)`` rounds of one ``n/p``-byte message (n = the per-rank
  send buffer).

On two levels (``hosts`` x ``local_ranks``), a flat ring or a flat pairwise exchange is paced by
its slowest link, the inter-host one; the hierarchical all-reduce (reduce-scatter inside each host,
all-reduce of the ``n/L`` shards across hosts, all-gather inside each host) is that of Jia et al.,
"Highly Scalable Deep Learning Training System with Mixed-Precision", arXiv 1807.11205, Sec. 3.3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.errors import ConfigError


@dataclass(frozen=True)
class Link:
    """One point-to-point channel: latency (seconds per message) and bandwidth (bytes per second)."""

    latency_s: float
    bandwidth_bytes_per_s: float

    def __post_init__(self) -> None:
        if self.latency_s < 0 or self.bandwidth_bytes_per_s <= 0:
            raise ConfigError(f"a link needs latency >= 0 and bandwidth > 0, got latency {self.latency_s} s, "
                              f"bandwidth {self.bandwidth_bytes_per_s} bytes/s")

    def message_s(self, nbytes: float) -> float:
        """Time of one message of `nbytes` bytes: ``alpha + n / bandwidth``."""
        return self.latency_s + nbytes / self.bandwidth_bytes_per_s


def ring_all_reduce_s(link: Link, ranks: int, nbytes: float) -> float:
    """Ring all-reduce of `nbytes` per rank: ``2(p-1) alpha + 2(p-1)/p n / bw`` (Patarasuk & Yuan 2009)."""
    if ranks <= 1:
        return 0.0
    return 2 * (ranks - 1) * link.latency_s + 2 * (ranks - 1) / ranks * nbytes / link.bandwidth_bytes_per_s


def ring_all_gather_s(link: Link, ranks: int, output_bytes: float) -> float:
    """Ring all-gather producing `output_bytes` per rank: ``(p-1) alpha + (p-1)/p n / bw`` (Thakur et al. 2005)."""
    if ranks <= 1:
        return 0.0
    return (ranks - 1) * link.latency_s + (ranks - 1) / ranks * output_bytes / link.bandwidth_bytes_per_s


def ring_reduce_scatter_s(link: Link, ranks: int, input_bytes: float) -> float:
    """Ring reduce-scatter of `input_bytes` per rank: ``(p-1) alpha + (p-1)/p n / bw`` (Thakur et al. 2005)."""
    return ring_all_gather_s(link, ranks, input_bytes)


def tree_broadcast_s(link: Link, ranks: int, nbytes: float) -> float:
    """Binomial-tree broadcast of `nbytes`: ``ceil(log2 p) (alpha + n / bw)`` (Thakur et al. 2005)."""
    if ranks <= 1:
        return 0.0
    return math.ceil(math.log2(ranks)) * link.message_s(nbytes)


def pairwise_all_to_all_s(link: Link, ranks: int, send_bytes: float) -> float:
    """Pairwise-exchange all-to-all of a `send_bytes` buffer per rank: ``(p-1) (alpha + n/p / bw)``."""
    if ranks <= 1:
        return 0.0
    return (ranks - 1) * link.message_s(send_bytes / ranks)


@dataclass(frozen=True)
class Topology:
    """`hosts` machines of `local_ranks` ranks each, an intra-host and an inter-host link per rank.

    Ranks are numbered host-major (rank ``h * local_ranks + l``), as torchrun numbers them.
    """

    hosts: int
    local_ranks: int
    intra: Link
    inter: Link

    def __post_init__(self) -> None:
        if self.hosts < 1 or self.local_ranks < 1:
            raise ConfigError(f"a topology needs hosts >= 1 and local_ranks >= 1, got {self.hosts} x {self.local_ranks}")

    @property
    def world(self) -> int:
        """Number of ranks."""
        return self.hosts * self.local_ranks

    def bottleneck(self) -> Link:
        """The link that paces a flat ring or pairwise exchange over all ranks (inter-host if there are hosts)."""
        return self.inter if self.hosts > 1 else self.intra

    def all_reduce_s(self, nbytes: float) -> float:
        """Flat ring all-reduce over every rank, paced by the bottleneck link."""
        return ring_all_reduce_s(self.bottleneck(), self.world, nbytes)

    def hierarchical_all_reduce_s(self, nbytes: float) -> float:
        """Reduce-scatter in each host, all-reduce of the ``n/L`` shards across hosts, all-gather in each host."""
        local, hosts = self.local_ranks, self.hosts
        return (ring_reduce_scatter_s(self.intra, local, nbytes) if local > 1 else 0.0) \
            + ring_all_reduce_s(self.inter, hosts, nbytes / local) \
            + (ring_all_gather_s(self.intra, local, nbytes) if local > 1 else 0.0)

    def all_gather_s(self, output_bytes: float) -> float:
        """Flat ring all-gather (`output_bytes` gathered per rank)."""
        return ring_all_gather_s(self.bottleneck(), self.world, output_bytes)

    def broadcast_s(self, nbytes: float) -> float:
        """Binomial-tree broadcast over every rank, paced by the bottleneck link."""
        return tree_broadcast_s(self.bottleneck(), self.world, nbytes)

    def all_to_all_s(self, send_bytes: float) -> float:
        """Flat pairwise-exchange all-to-all: ``L-1`` rounds on the intra link, ``p-L`` on the inter link."""
        piece = send_bytes / self.world
        return (self.local_ranks - 1) * self.intra.message_s(piece) \
            + (self.world - self.local_ranks) * self.inter.message_s(piece)

    def collective_s(self, collective: str, nbytes: float) -> float:
        """Time of `collective` (``all_reduce``, ``all_gather``, ``broadcast``, ``all_to_all``) on `nbytes` per rank.

        `nbytes` is the per-rank *input* buffer, as :mod:`harness.cluster.comm` measures it; for
        all-gather the gathered output is ``world x nbytes``.
        """
        if collective == "all_reduce":
            return self.all_reduce_s(nbytes)
        if collective == "all_gather":
            return self.all_gather_s(nbytes * self.world)
        if collective == "broadcast":
            return self.broadcast_s(nbytes)
        if collective == "all_to_all":
            return self.all_to_all_s(nbytes)
        raise ConfigError(f"unknown collective {collective!r}; known: {', '.join(COLLECTIVES)}")


COLLECTIVES = ("all_reduce", "all_gather", "broadcast", "all_to_all")


def ring_wire_bytes(collective: str, ranks: int, nbytes: float) -> float:
    """Bytes sent per rank, averaged over the ranks, for `collective` on `nbytes` per-rank input.

    Ring all-reduce ``2(p-1)/p n`` (``2(p-1)`` chunks of ``n/p``); ring all-gather ``(p-1) n``
    (``p-1`` chunks of ``n``); ring reduce-scatter ``(p-1)/p n``; broadcast ``(p-1)/p n`` (every
    rank but the root receives ``n`` once, whatever the tree); pairwise all-to-all ``(p-1)/p n``;
    a point-to-point ``send`` moves its ``n`` bytes (counted on the sender).
    """
    if collective == "send":
        return float(nbytes)
    if ranks <= 1:
        return 0.0
    if collective == "all_reduce":
        return 2 * (ranks - 1) / ranks * nbytes
    if collective == "all_gather":
        return (ranks - 1) * nbytes
    if collective in ("broadcast", "all_to_all", "reduce_scatter"):
        return (ranks - 1) / ranks * nbytes
    raise ConfigError(f"unknown collective {collective!r}; known: {', '.join(COUNTED)}")


COUNTED = (*COLLECTIVES, "reduce_scatter", "send")

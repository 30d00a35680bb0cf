"""DES and DMT benchmarks: the substituted operators and the tower transform on one process.

``DesStep`` times one forward+backward of a rank's DES compute (its tables' partial sums for the
whole batch and the replicated head) and of the embedding-exchange baseline's compute (its tables
for the whole batch, the head on its slice), for 2 and 8 workers: the measured service times the DES
throughput simulation uses. ``DmtTowers`` times the forward+backward of the flat DLRM and of the DMT
tower model (group-aligned towers, tower modules) on one batch, and the tower transform's bytes per
step by hand (``track_*``, lower is better, ``unit = "bytes"``) so a change to the exchange shows up.
"""

from __future__ import annotations

import torch

from harness.cluster.exchange import blocks
from harness.models.dlrm import DLRM
from harness.models.embedding import make_tables
from harness.train.synthetic import random_ctr_batches
from papers.des.des import DeepFM, des_shard, owned_features
from papers.dmt.dmt import flat_wire_bytes, sptt_wire_bytes
from papers.dmt.experiment import aligned_towers, build_tower_dlrm, tower_outputs
from papers.dmt.params import Params as DmtParams

ROWS = [1000] * 26
FEATURES = [f"f{i}" for i in range(len(ROWS))]
BATCH = 512


class DesStep:
    """Seconds of one worker's DES compute and embedding-exchange compute (forward + backward)."""

    params = [2, 8]
    param_names = ["workers"]

    def setup(self, workers: int) -> None:
        """A DeepFM (k = 16, MLP 64-32) over 26 tables and one batch of 512."""
        torch.manual_seed(0)
        torch.set_num_threads(1)
        self.model = DeepFM(FEATURES, ROWS, 16, 13, (64, 32))
        self.batch = random_ctr_batches(1, BATCH, 13, ROWS, seed=0)[0]
        self.owned = blocks(len(FEATURES), workers)[0]
        self.shard = des_shard(self.model, self.owned)
        self.ids = owned_features(self.batch.sparse_features, self.owned)
        self.local = BATCH // workers

    def time_des_rank(self, workers: int) -> None:
        """Partials of the rank's tables for the whole batch, the head on the whole batch."""
        self.shard.head(self.shard.partials(self.ids), self.batch.dense_features).sum().backward()

    def time_exchange_rank(self, workers: int) -> None:
        """Lookups of the rank's tables for the whole batch, the first layer and head on its slice."""
        factors, weights = self.shard.lookup(self.ids)
        copies = -(-len(FEATURES) // len(self.owned))
        f = factors[:self.local].repeat(1, copies, 1)[:, :len(FEATURES)]
        w = weights[:self.local].repeat(1, copies)[:, :len(FEATURES)]
        self.model.head(self.model.partials_from(f, w), self.batch.dense_features[:self.local]).sum().backward()


class DmtTowers:
    """Seconds of a flat DLRM and of the DMT tower model (forward + backward), and the exchange's bytes."""

    def setup(self) -> None:
        """Both models at dim 16 over 26 tables, towers aligned with 4 planted groups, 4-fold TMs."""
        torch.manual_seed(0)
        torch.set_num_threads(1)
        p = DmtParams()
        self.towers = aligned_towers(FEATURES, 2, p.groups)
        self.flat = DLRM.from_tables(list(p.bottom), list(p.top), make_tables(FEATURES, ROWS, p.dim))
        self.dmt = build_tower_dlrm(p, dict(zip(FEATURES, ROWS)), self.towers, with_tms=True)
        self.batch = random_ctr_batches(1, BATCH, 13, ROWS, seed=0)[0]
        self.widths = [m * p.dim for m in tower_outputs(self.towers, p.compression)]
        self.dim = p.dim

    def time_flat_dlrm(self) -> None:
        """Flat DLRM step."""
        self.flat(self.batch).sum().backward()

    def time_dmt_towers(self) -> None:
        """DMT tower model step."""
        self.dmt(self.batch).sum().backward()

    def track_cross_host_bytes_flat(self) -> float:
        """Cross-host bytes per step of the flat all-to-all, 2 hosts x 2 ranks, batch 512 (by hand)."""
        return flat_wire_bytes(BATCH, [len(b) for b in blocks(len(FEATURES), 4)], self.dim, 2)["inter"]

    track_cross_host_bytes_flat.unit = "bytes"  # type: ignore[attr-defined]

    def track_cross_host_bytes_sptt_tm(self) -> float:
        """Cross-host bytes per step of SPTT with tower modules, same setting (by hand)."""
        return sptt_wire_bytes(BATCH, [len(t) for t in self.towers], self.widths, self.dim, 2)["inter"]

    track_cross_host_bytes_sptt_tm.unit = "bytes"  # type: ignore[attr-defined]

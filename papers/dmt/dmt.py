"""Disaggregated Multi-Tower (Luo et al., arXiv 2403.00877 v3, MLSys 2024): towers of features placed on hosts.

The features are partitioned into towers, one per host. :class:`TowerDLRM` is the modelling side:
each tower has its own tables and a *tower module* (TM, :class:`TowerModule`) that interacts the
tower's embeddings and compresses them to fewer vectors; DLRM's dot interaction and top MLP then
read the dense vector and every tower's output. Without tower modules (``outputs=None``) the towers
are only a reordering of the flat model's lookups.

:func:`sptt_lookup` is the *semantic-preserving tower transform* (SPTT) on a ``hosts x local_ranks``
gloo world: (1) each rank sends its samples' ids of tower t's features to its peer (same local
index) on host t, cross-host; (2) inside host t the ids go to the local rank holding each table
(table-wise within the host), are pooled, and the vectors come back intra-host; (3) the tower module
runs on host t over its peers' samples; (4) the tower outputs go back cross-host to the ranks that
own the samples. Cross-host traffic is then peer-to-peer (``hosts - 1`` partners per rank instead
of ``world - local_ranks``) and, with a TM, compressed. :func:`flat_lookup` is the baseline:
table-wise sharding over the whole world, ids and pooled vectors exchanged among all ranks
(TorchRec's table-wise sharding, the paper's flat all-to-all).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from torchrec.modules.embedding_modules import EmbeddingBagCollection
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from harness.cluster.exchange import FLOAT_BYTES, ID_BYTES, HostGroups, blocks, exchange
from harness.models.dlrm import INTERACTION_ALIGN, SparseDenseBatch
from harness.models.embedding import PooledEmbeddings, make_tables
from harness.models.interaction import DotInteraction
from harness.models.mlp import MLP


def pairwise_dots(x: torch.Tensor) -> torch.Tensor:
    """``triu(x x^T, 1)`` of ``x [B, n, d]`` flattened: ``[B, n (n - 1) / 2]``."""
    n = x.shape[1]
    rows, cols = torch.triu_indices(n, n, offset=1)
    return torch.bmm(x, x.transpose(1, 2))[:, rows, cols]


class TowerModule(nn.Module):
    """TM: a tower's embeddings ``[B, F_t, d]`` and their pairwise dots, projected to ``[B, m_t, d]``.

    The dense interaction inside the tower (dots of its own features) is kept in the projection, so
    the compression to ``m_t < F_t`` vectors loses cross-feature signal only across towers.
    """

    def __init__(self, features: int, dim: int, outputs: int) -> None:
        super().__init__()
        self.dim, self.outputs = dim, outputs
        self.project = nn.Linear(features * dim + features * (features - 1) // 2, outputs * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, F_t, d]`` -> ``[B, m_t, d]``."""
        z = torch.cat([x.flatten(1), pairwise_dots(x)], dim=1)
        return self.project(z).view(-1, self.outputs, self.dim)


class TowerDLRM(nn.Module):
    """DLRM over towers: bottom MLP, per-tower tables (and TMs), dot interaction of every vector, top MLP; logits ``[B]``.

    `towers` lists each tower's feature names, `sizes` every feature's rows; `outputs` the vectors
    each TM emits (None: no TMs, the towers' pooled embeddings go straight to the interaction).
    """

    def __init__(self, towers: Sequence[Sequence[str]], sizes: dict[str, int], dim: int, bottom: Sequence[int],
                 top: Sequence[int], outputs: Sequence[int] | None) -> None:
        super().__init__()
        self.towers = [list(t) for t in towers]
        self.dim = dim
        self.bottom = MLP(list(bottom), activate_last=True)
        self.tables = nn.ModuleList(PooledEmbeddings.from_tables(make_tables(t, [sizes[f] for f in t], dim))
                                    for t in self.towers)
        self.tower_modules = nn.ModuleList(TowerModule(len(t), dim, m) for t, m in zip(self.towers, outputs)) \
            if outputs is not None else None
        vectors = sum(outputs) if outputs is not None else sum(len(t) for t in self.towers)
        self.interaction = DotInteraction(vectors, align=INTERACTION_ALIGN)
        self.top = MLP([self.interaction.output_dim(dim), *top], activate_last=False)

    def tower_tables(self, t: int) -> nn.Module:
        """Tower `t`'s pooled front-end (:class:`PooledEmbeddings`, table order even when DMP shards it)."""
        return self.tables[t]

    def plain_tables(self, t: int) -> EmbeddingBagCollection:
        """Tower `t`'s tables as the unsharded, unfused ``EmbeddingBagCollection`` they are built as."""
        tables = getattr(self.tables[t], "collection", None)
        if not isinstance(tables, EmbeddingBagCollection):
            raise TypeError(f"tower {t}'s tables are a {type(tables).__name__}; cut ranks from an unsharded model")
        return tables

    def tower_module(self, t: int) -> TowerModule | None:
        """Tower `t`'s TM (None without TMs)."""
        if self.tower_modules is None:
            return None
        module = self.tower_modules[t]
        assert isinstance(module, TowerModule)
        return module

    def output_widths(self) -> list[int]:
        """Floats per sample of each tower's output: ``m_t d`` with TMs, ``F_t d`` without."""
        modules = [self.tower_module(t) for t in range(len(self.towers))]
        return [(m.outputs if m is not None else len(t)) * self.dim for m, t in zip(modules, self.towers)]

    def tower_output(self, t: int, pooled: torch.Tensor) -> torch.Tensor:
        """Tower `t`'s output ``[B, m_t, d]`` (or its pooled ``[B, F_t, d]`` without TMs) from its pooled vectors."""
        x = pooled.view(-1, len(self.towers[t]), self.dim)
        module = self.tower_module(t)
        return module(x) if module is not None else x

    def tower_outputs(self, ids: KeyedJaggedTensor) -> list[torch.Tensor]:
        """Every tower's output on one process."""
        return [self.tower_output(t, self.tower_tables(t)(ids)) for t in range(len(self.towers))]

    def head(self, dense: torch.Tensor, outputs: list[torch.Tensor]) -> torch.Tensor:
        """Logits from the dense features and the towers' outputs (flattened or not)."""
        vectors = torch.cat([o.reshape(o.shape[0], -1, self.dim) for o in outputs], dim=1)
        return self.top(self.interaction(self.bottom(dense), vectors)).squeeze(1)

    def forward(self, batch: SparseDenseBatch) -> torch.Tensor:
        """Logits ``[B]``."""
        return self.head(batch.dense_features, self.tower_outputs(batch.sparse_features))


def kjt_of(ids: torch.Tensor, keys: Sequence[str]) -> KeyedJaggedTensor:
    """A KJT with one id per sample and key from ``ids [B, len(keys)]``."""
    return KeyedJaggedTensor.from_lengths_sync(keys=list(keys), values=ids.T.reshape(-1),
                                               lengths=torch.ones(ids.numel(), dtype=torch.int32))


def _sub_collection(collection: EmbeddingBagCollection, names: Sequence[str], dim: int) -> EmbeddingBagCollection:
    """A collection of the tables of features `names`, weights copied from `collection`."""
    configs = {c.feature_names[0]: c for c in collection.embedding_bag_configs()}
    sub = EmbeddingBagCollection(tables=make_tables(list(names), [configs[n].num_embeddings for n in names], dim))
    with torch.no_grad():
        for name in names:
            sub.embedding_bags[f"t_{name}"].weight.copy_(collection.embedding_bags[f"t_{name}"].weight)
    return sub


@dataclass
class SpttRank:
    """What rank (host, local) holds under SPTT: its block of its host's tower tables and that tower's TM."""

    groups: HostGroups
    columns: list[list[int]]  # each tower's columns in the ids matrix (feature order of the data)
    local_blocks: list[range]  # the local ranks' blocks of this host's tower
    tables: EmbeddingBagCollection
    tower_module: nn.Module | None
    names: list[str]
    dim: int
    output_widths: list[int]  # floats per sample of each tower's output


def sptt_rank(model: TowerDLRM, features: Sequence[str], groups: HostGroups) -> SpttRank:
    """This rank's part of `model` under SPTT (tower ``t`` on host ``t``, its tables split over the local ranks)."""
    if len(model.towers) != groups.hosts:
        raise ValueError(f"SPTT places one tower per host: {len(model.towers)} towers, {groups.hosts} hosts")
    tower = model.towers[groups.host]
    local = blocks(len(tower), groups.local_ranks)
    names = tower[local[groups.local].start:local[groups.local].stop]
    index = {f: i for i, f in enumerate(features)}
    tm = copy.deepcopy(model.tower_module(groups.host))
    return SpttRank(groups, [[index[f] for f in t] for t in model.towers], local,
                    _sub_collection(model.plain_tables(groups.host), names, model.dim), tm, names, model.dim,
                    model.output_widths())


def sptt_lookup(rank: SpttRank, ids: torch.Tensor) -> list[torch.Tensor]:
    """Every tower's output ``[b, m_t d]`` for this rank's ``b`` samples (ids ``[b, F]``), by SPTT."""
    g, d = rank.groups, rank.dim
    b = ids.shape[0]
    hosts, local = g.hosts, g.local_ranks
    width = [len(c) for c in rank.columns]
    mine = len(rank.columns[g.host])
    # (1) cross-host: tower t's ids to the peer on host t
    send = torch.cat([ids[:, c].reshape(-1) for c in rank.columns])
    got = exchange(send, [b * w for w in width], [b * mine] * hosts, g.peers)
    tower_ids = torch.cat([part.view(b, mine) for part in got.split(b * mine)])  # [hosts b, F_h], host-major
    # (2) intra-host: ids to the local rank holding each table, pooled, vectors back
    send = torch.cat([tower_ids[:, blk.start:blk.stop].reshape(-1) for blk in rank.local_blocks])
    own = len(rank.names)
    got = exchange(send, [hosts * b * len(blk) for blk in rank.local_blocks], [hosts * b * own] * local, g.intra)
    block_ids = torch.cat([part.view(hosts * b, own) for part in got.split(hosts * b * own)])  # [B, own]
    pooled = rank.tables(kjt_of(block_ids, rank.names)).values()  # [B, own d]
    back = exchange(pooled.reshape(-1), [hosts * b * own * d] * local,
                    [hosts * b * len(blk) * d for blk in rank.local_blocks], g.intra)
    parts = back.split([hosts * b * len(blk) * d for blk in rank.local_blocks])
    tower = torch.cat([p.view(hosts * b, len(blk) * d) for p, blk in zip(parts, rank.local_blocks)], dim=1)
    # (3) the tower module on this host, for the peers' samples
    x = tower.view(hosts * b, mine, d)
    out = (rank.tower_module(x) if rank.tower_module is not None else x).reshape(hosts * b, -1)
    # (4) cross-host: tower outputs back to the samples' ranks
    sizes = rank.output_widths
    got = exchange(out.reshape(-1), [b * out.shape[1]] * hosts, [b * s for s in sizes], g.peers)
    return [part.view(b, s) for part, s in zip(got.split([b * s for s in sizes]), sizes)]


@dataclass
class FlatRank:
    """What rank r holds under flat table-wise sharding: a contiguous block of every feature's tables."""

    block: range
    blocks: list[range]
    tables: EmbeddingBagCollection
    names: list[str]
    dim: int


def flat_rank(model: TowerDLRM, features: Sequence[str], rank: int, world: int) -> FlatRank:
    """Rank's block of the features (data order), tables copied from the model's towers."""
    parts = blocks(len(features), world)
    names = list(features[parts[rank].start:parts[rank].stop])
    tower_of = {f: t for t, tower in enumerate(model.towers) for f in tower}
    configs = [c for t in range(len(model.towers)) for c in model.plain_tables(t).embedding_bag_configs()]
    rows = {c.feature_names[0]: c.num_embeddings for c in configs}
    tables = EmbeddingBagCollection(tables=make_tables(names, [rows[n] for n in names], model.dim))
    with torch.no_grad():
        for n in names:
            tables.embedding_bags[f"t_{n}"].weight.copy_(model.plain_tables(tower_of[n]).embedding_bags[f"t_{n}"].weight)
    return FlatRank(parts[rank], parts, tables, names, model.dim)


def flat_lookup(rank: FlatRank, ids: torch.Tensor, group: object = None) -> torch.Tensor:
    """Pooled vectors ``[b, F d]`` (data feature order) of this rank's samples, by a world-wide exchange."""
    b, d, world = ids.shape[0], rank.dim, len(rank.blocks)
    own = len(rank.names)
    send = torch.cat([ids[:, blk.start:blk.stop].reshape(-1) for blk in rank.blocks])
    got = exchange(send, [b * len(blk) for blk in rank.blocks], [b * own] * world, group)
    block_ids = torch.cat([part.view(b, own) for part in got.split(b * own)])  # [world b, own]
    pooled = rank.tables(kjt_of(block_ids, rank.names)).values()
    back = exchange(pooled.reshape(-1), [b * own * d] * world, [b * len(blk) * d for blk in rank.blocks], group)
    parts = back.split([b * len(blk) * d for blk in rank.blocks])
    return torch.cat([p.view(b, len(blk) * d) for p, blk in zip(parts, rank.blocks)], dim=1)


# ------------------------------------------------------------------ bytes by hand

def flat_wire_bytes(batch: int, feature_blocks: Sequence[int], dim: int, local_ranks: int) -> dict[str, float]:
    """Wire bytes of one step of :func:`flat_lookup` (ids, pooled vectors, their gradients), summed over ranks,
    split into intra- and cross-host: rank r sends ``b |block_r'|`` ids to owner r' and receives as many vectors."""
    world = len(feature_blocks)
    b = batch // world
    out = {"intra": 0.0, "inter": 0.0}
    for r in range(world):
        for owner, size in enumerate(feature_blocks):
            if owner != r:
                link = "intra" if owner // local_ranks == r // local_ranks else "inter"
                out[link] += b * size * (ID_BYTES + 2 * dim * FLOAT_BYTES)
    return out


def sptt_wire_bytes(batch: int, tower_sizes: Sequence[int], output_widths: Sequence[int], dim: int,
                    local_ranks: int, tm_parameter_bytes: Sequence[int] = ()) -> dict[str, float]:
    """Wire bytes of one step of :func:`sptt_lookup`, summed over ranks: cross-host ids (``b F_t`` to each other
    host's peer) and tower outputs (``b w_t`` floats back, and their gradients); intra-host ids and pooled vectors
    (each local rank's block, forward and backward) and, with TMs, the ring all-reduce of each TM's gradients."""
    hosts = len(tower_sizes)
    world = hosts * local_ranks
    b = batch // world
    inter = 0.0
    for h in range(hosts):
        for t in range(hosts):
            if t != h:
                inter += local_ranks * b * (tower_sizes[t] * ID_BYTES + 2 * output_widths[t] * FLOAT_BYTES)
    intra = 0.0
    for h, size in enumerate(tower_sizes):
        local = [len(blk) for blk in blocks(size, local_ranks)]
        for l in range(local_ranks):
            for other, own in enumerate(local):
                if other != l:
                    intra += hosts * b * own * (ID_BYTES + 2 * dim * FLOAT_BYTES)
        if tm_parameter_bytes and local_ranks > 1:
            intra += local_ranks * 2 * (local_ranks - 1) / local_ranks * tm_parameter_bytes[h]
    return {"intra": intra, "inter": inter}

"""The study's model builders: DLRM and DCN are composed with the same table front-end."""

from __future__ import annotations

import torch
from torch import nn

from harness.embeddings.collection import TableCollection
from harness.embeddings.qr import QREmbeddingBag
from harness.models.dcn import DCN
from harness.models.embedding import PooledEmbeddings
from harness.embeddings.study import build_dcn, build_dlrm, table_factory
from harness.train.synthetic import random_ctr_batches

SIZES = {"f0": 500, "f1": 7, "f2": 300, "f3": 20}


def test_dlrm_and_dcn_get_the_factorys_tables_in_feature_order() -> None:
    make = table_factory("qr", {"collisions": 4, "operation": "mult", "threshold": 10})
    torch.manual_seed(0)
    dlrm = build_dlrm(SIZES, 8, [3, 8], [8, 1], make)
    dcn = build_dcn(SIZES, 8, 3, 2, [16, 8], make)
    for model in (dlrm, dcn):
        tables = model.sparse.collection.tables
        assert list(tables) == list(SIZES)
        assert [isinstance(tables[n], QREmbeddingBag) for n in SIZES] == [True, False, True, True]
    assert dcn.input_dim == 4 * 8 + 3


def test_dcn_with_qr_tables_trains_the_quotient_and_remainder_rows() -> None:
    torch.manual_seed(0)
    model = build_dcn(SIZES, 8, 3, 2, [16, 8], table_factory("qr", {"collisions": 4, "threshold": 10}))
    batch = random_ctr_batches(1, 16, 3, list(SIZES.values()))[0]
    logits = model(batch)
    assert logits.shape == (16,)
    torch.nn.functional.binary_cross_entropy_with_logits(logits, batch.labels).backward()
    qr = model.sparse.collection.tables["f0"]
    assert qr.weight_q.grad is not None and qr.weight_q.grad.abs().sum() > 0
    assert qr.weight_r.grad is not None and qr.weight_r.grad.abs().sum() > 0


def test_the_front_end_describes_the_tables_it_holds() -> None:
    """A model reads its input widths from the front-end it is given (no stale sizes of replaced tables)."""
    front = PooledEmbeddings(TableCollection({"a": nn.EmbeddingBag(10, 4, mode="sum"),
                                              "b": nn.EmbeddingBag(20, 6, mode="sum")}, {"a": 4, "b": 6}))
    assert (front.num_features, front.output_dim, front.keys) == (2, 10, ["a", "b"])
    assert DCN(front, num_dense=3, cross_layers=1, deep=[8]).input_dim == 13

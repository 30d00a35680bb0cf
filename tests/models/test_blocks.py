"""Model blocks: interaction and cross layers against float64 references; embedding backends agree."""

from __future__ import annotations

import itertools

import pytest
import torch
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from harness.models.cross import CrossNet, LowRankCrossNet
from harness.models.dlrm import DLRM
from harness.models.embedding import PooledEmbeddings, make_tables
from harness.models.interaction import DotInteraction
from harness.train.synthetic import random_ctr_batches

ROWS = [50, 7, 300, 20]


def test_dot_interaction_matches_pairwise_loop() -> None:
    gen = torch.Generator().manual_seed(0)
    dense, sparse = torch.randn(5, 4, generator=gen, dtype=torch.float64), torch.randn(5, 3, 4, generator=gen,
                                                                                       dtype=torch.float64)
    out = DotInteraction(3)(dense, sparse)
    vectors = [dense] + [sparse[:, f] for f in range(3)]
    pairs = [(vectors[i] * vectors[j]).sum(1) for i, j in itertools.combinations(range(4), 2)]
    expected = torch.cat([dense, torch.stack(pairs, dim=1)], dim=1)
    assert out.shape == (5, 4 + 6) and DotInteraction(3).output_dim(4) == 10
    torch.testing.assert_close(out, expected)


def test_dot_interaction_alignment_only_appends_zero_columns() -> None:
    gen = torch.Generator().manual_seed(0)
    dense, sparse = torch.randn(5, 4, generator=gen), torch.randn(5, 3, 4, generator=gen)
    aligned = DotInteraction(3, align=8)
    out = aligned(dense, sparse)
    assert aligned.interaction_dim(4) == 10 and aligned.output_dim(4) == 16 and out.shape == (5, 16)
    torch.testing.assert_close(out[:, :10], DotInteraction(3)(dense, sparse), rtol=0, atol=0)
    assert torch.count_nonzero(out[:, 10:]) == 0


def test_dlrm_alignment_padding_weights_stay_zero_through_training() -> None:
    tables = make_tables(["f0", "f1", "f2", "f3"], ROWS, dim=4)  # 4 + 10 interaction columns -> 16
    batch = random_ctr_batches(1, 8, 3, ROWS)[0]
    torch.manual_seed(0)
    model = DLRM.from_tables([3, 8, 4], [8, 1], tables)
    first = model.top.layers[0]
    assert first.in_features == 16 and torch.count_nonzero(first.weight[:, 14:]) == 0
    opt = torch.optim.SGD(model.parameters(), lr=0.5, weight_decay=0.1)
    for _ in range(3):
        torch.nn.functional.binary_cross_entropy_with_logits(model(batch), batch.labels).backward()
        assert torch.count_nonzero(first.weight.grad[:, 14:]) == 0 and torch.count_nonzero(first.weight.grad) > 0
        opt.step()
        opt.zero_grad()
    assert torch.count_nonzero(first.weight[:, 14:]) == 0


def test_crossnet_is_dcnv2_equation() -> None:
    torch.manual_seed(0)
    net = CrossNet(in_features=6, num_layers=2).double()
    x0 = torch.randn(4, 6, dtype=torch.float64)
    x = x0
    for w, b in zip(net.kernels, net.bias):
        x = x0 * (x @ w.T + b.reshape(-1)) + x
    torch.testing.assert_close(net(x0), x)
    low = LowRankCrossNet(in_features=6, num_layers=2, low_rank=3).double()
    x = x0
    for w, v, b in zip(low.W_kernels, low.V_kernels, low.bias):
        x = x0 * (x @ v.T @ w.T + b) + x
    torch.testing.assert_close(low(x0), x)


def _copy_weights(src: torch.nn.Module, dst: torch.nn.Module) -> None:
    missing = dst.load_state_dict(src.state_dict(), strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys


def test_embedding_backends_agree_on_outputs_and_gradients() -> None:
    tables = make_tables(["f0", "f1", "f2", "f3"], ROWS, dim=8)
    batch = random_ctr_batches(1, 16, 3, ROWS, seed=1)[0]
    # bags of several ids, and an empty bag, exercise pooling beyond the one-hot case
    lengths = torch.cat([batch.sparse_features.lengths()[:-6], torch.tensor([0, 2, 2, 3, 1, 3])])
    kjt = KeyedJaggedTensor.from_lengths_sync(keys=["f0", "f1", "f2", "f3"], lengths=lengths,
                                              values=torch.randint(0, min(ROWS), (int(lengths.sum()),)))
    torch.manual_seed(0)
    ref = PooledEmbeddings.from_tables(tables, backend="torchrec")
    alt = PooledEmbeddings.from_tables(tables, backend="torch")
    _copy_weights(ref, alt)
    out_ref, out_alt = ref(kjt), alt(kjt)
    assert out_ref.shape == (16, 32)
    torch.testing.assert_close(out_ref, out_alt, rtol=0, atol=0)
    upstream = torch.randn_like(out_ref)
    (out_ref * upstream).sum().backward()
    (out_alt * upstream).sum().backward()
    for (name, p_ref), p_alt in zip(ref.named_parameters(), alt.parameters()):
        assert p_alt.grad is not None and p_alt.grad.is_sparse, name
        torch.testing.assert_close(p_ref.grad, p_alt.grad.to_dense(), msg=name)


@pytest.mark.parametrize("backend", ["torchrec", "torch"])
def test_dlrm_forward_and_backends_equal(backend: str) -> None:
    tables = make_tables(["f0", "f1", "f2", "f3"], ROWS, dim=4)
    batch = random_ctr_batches(1, 8, 3, ROWS)[0]
    torch.manual_seed(0)
    ref = DLRM.from_tables([3, 8, 4], [8, 1], tables, backend="torchrec")
    model = DLRM.from_tables([3, 8, 4], [8, 1], tables, backend=backend)
    _copy_weights(ref, model)
    logits = model(batch)
    assert logits.shape == (8,)
    torch.testing.assert_close(logits, ref(batch))


def test_dlrm_rejects_mismatched_dims() -> None:
    with pytest.raises(ValueError, match="dot interaction"):
        DLRM.from_tables([3, 8, 5], [8, 1], make_tables(["a"], [4], dim=4))


def test_dot_interaction_gradient_matches_autograd_reference() -> None:
    gen = torch.Generator().manual_seed(1)
    dense = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    sparse = torch.randn(4, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda d, s: DotInteraction(2)(d, s), (dense, sparse))

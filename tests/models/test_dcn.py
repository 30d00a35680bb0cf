"""DCN (arXiv 1708.05123): the cross layer against a hand computation, shapes, layout and gradients."""

from __future__ import annotations

import pytest
import torch

from harness.models.cross import VectorCrossNet
from harness.models.dcn import DCN
from harness.models.embedding import Backend, make_tables
from harness.train.synthetic import random_ctr_batches

ROWS = [50, 7, 300, 20]


def test_cross_layer_by_hand() -> None:
    """x0 = [1, 2]; layer 1: w = [3, -1], b = [0.5, 0]; layer 2: w = [1, 1], b = 0.

    x1 = x0 (x0 . w1) + b1 + x0 = [1, 2] * 1 + [0.5, 0] + [1, 2] = [2.5, 4];
    x2 = x0 (x1 . w2) + b2 + x1 = [1, 2] * 6.5 + [2.5, 4] = [9, 17].
    """
    net = VectorCrossNet(in_features=2, num_layers=2).double()
    with torch.no_grad():
        net.kernels[0].copy_(torch.tensor([[3.0], [-1.0]]))
        net.bias[0].copy_(torch.tensor([[0.5], [0.0]]))
        net.kernels[1].copy_(torch.tensor([[1.0], [1.0]]))
        net.bias[1].zero_()
    x0 = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    torch.testing.assert_close(net(x0), torch.tensor([[9.0, 17.0]], dtype=torch.float64))


def test_cross_network_is_eq3_with_the_outer_product() -> None:
    """Eq. 3 literally, x_{l+1} = (x0 x_l^T) w_l + b_l + x_l with the rank-one matrix x0 x_l^T, float64."""
    torch.manual_seed(0)
    net = VectorCrossNet(in_features=6, num_layers=3).double()
    with torch.no_grad():
        for bias in net.bias:
            bias.normal_()
    x0 = torch.randn(4, 6, dtype=torch.float64)
    x = x0
    for w, b in zip(net.kernels, net.bias):
        outer = x0.unsqueeze(2) @ x.unsqueeze(1)  # [B, N, N]
        x = (outer @ w).squeeze(2) + b.reshape(-1) + x
    torch.testing.assert_close(net(x0), x)


def _dcn(dim: int = 4, backend: Backend = "torch") -> DCN:
    return DCN.from_tables(3, make_tables(["f0", "f1", "f2", "f3"], ROWS, dim), cross_layers=2, deep=[16, 8],
               backend=backend)


def test_dcn_shapes_and_stacking_layout() -> None:
    torch.manual_seed(0)
    model = _dcn()
    batch = random_ctr_batches(1, 8, 3, ROWS)[0]
    x0 = model.stack(batch)
    assert model.input_dim == 4 * 4 + 3 and x0.shape == (8, 19)
    torch.testing.assert_close(x0[:, 16:], batch.dense_features)
    torch.testing.assert_close(x0[:, :16], model.sparse(batch.sparse_features))
    logits = model(batch)
    assert logits.shape == (8,)
    expected = model.logit(torch.cat([model.cross(x0), model.deep(x0)], dim=1)).squeeze(1)
    torch.testing.assert_close(logits, expected)
    assert model.logit.in_features == 19 + 8


def test_dcn_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    model = _dcn()
    batch = random_ctr_batches(1, 16, 3, ROWS)[0]
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(batch), batch.labels)
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        grad = param.grad.to_dense() if param.grad.is_sparse else param.grad
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, name


def test_dcn_cross_network_gradcheck() -> None:
    torch.manual_seed(0)
    net = VectorCrossNet(in_features=5, num_layers=2).double()
    x0 = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(net, (x0,))


def test_dcn_backends_agree() -> None:
    torch.manual_seed(0)
    ref = _dcn(backend="torchrec")
    model = _dcn(backend="torch")
    model.load_state_dict(ref.state_dict(), strict=True)
    batch = random_ctr_batches(1, 8, 3, ROWS, seed=2)[0]
    torch.testing.assert_close(model(batch), ref(batch))


def test_dcn_rejects_empty_networks() -> None:
    tables = make_tables(["a"], [4], dim=4)
    with pytest.raises(ValueError, match="cross layer"):
        DCN.from_tables(3, tables, cross_layers=0, deep=[8])
    with pytest.raises(ValueError, match="deep layer"):
        DCN.from_tables(3, tables, cross_layers=1, deep=[])

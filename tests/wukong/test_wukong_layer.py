"""The Wukong layer (arXiv 2403.02545, Sec. 3): equivalence with FuxiCTR's WuKongLayer, blocks by construction.

``tests/fixtures/wukong_fuxictr.pt`` was made once, outside the project, by FuxiCTR's own
``WuKongLayer`` (reczoo/FuxiCTR, commit stored in the fixture): a two-layer stack where layer 0 maps
5 embeddings to 3 FMB + 3 LCB ones (its residual is the projection) and layer 1 maps 6 to 6
(identity residual); ``d = 4``, optimized-FM rank ``k = 3``, FMB MLP hidden ``[8]``, dropout 0,
LayerNorm on, every parameter redrawn at random. It holds the input, the weights under our
parameter names, both layers' outputs and the commit; no FuxiCTR code is kept here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.models.fields import field_embeddings
from harness.train.synthetic import random_ctr_batches
from papers.wukong.wukong import OptimizedFM, Wukong, WukongLayer

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "wukong_fuxictr.pt"
ROWS = [50, 7, 300, 20, 9]


def _stack_from_config(config: dict) -> torch.nn.Sequential:
    width = config["num_fmb"] + config["num_lcb"]
    return torch.nn.Sequential(*(
        WukongLayer(config["num_inputs"] if i == 0 else width, config["num_fmb"], config["num_lcb"], config["dim"],
                    config["rank"], config["fmb_hidden"]) for i in range(config["layers"])))


def test_matches_fuxictr_wukong_layer_on_the_golden_fixture() -> None:
    """Two layers (5 -> 6 embeddings with the residual projection, then 6 -> 6) with FuxiCTR's weights.

    The fixture (tests/fixtures/make_wukong_fuxictr.py) holds FuxiCTR 0245987's outputs for the
    same input and weights; our layer must give them to 1e-6.
    """
    golden = torch.load(FIXTURE, weights_only=True)
    assert golden["fuxictr_commit"].startswith("0245987")
    stack = _stack_from_config(golden["config"]).eval()
    stack.load_state_dict(golden["state_dict"], strict=True)
    with torch.no_grad():
        first = stack[0](golden["input"])
        output = stack[1](first)
    torch.testing.assert_close(first, golden["layer_0_output"], rtol=0, atol=1e-6)
    torch.testing.assert_close(output, golden["output"], rtol=0, atol=1e-6)
    assert stack[0].residual is not None and stack[1].residual is None


def test_optimized_fm_is_x_times_x_transpose_y() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 5, 4, dtype=torch.float64)
    fm = OptimizedFM(5, rank=2).double()
    torch.testing.assert_close(fm(x), (x @ x.transpose(1, 2) @ fm.projection).flatten(1))
    basic = OptimizedFM(5, rank=None)
    torch.testing.assert_close(basic(x), (x @ x.transpose(1, 2)).flatten(1))
    identity = OptimizedFM(5, rank=5).double()
    with torch.no_grad():
        identity.projection.copy_(torch.eye(5, dtype=torch.float64))
    torch.testing.assert_close(identity(x), basic(x))  # Y = I: the optimized FM is the full n x n FM


def test_lcb_recombines_embeddings_linearly() -> None:
    """W = [[1, 1, 0], [0, 0, 2]]: outputs e_1 + e_2 and 2 e_3."""
    lcb = WukongLayer(3, 1, 2, 4, rank=2, fmb_hidden=[]).lcb
    with torch.no_grad():
        lcb.linear.weight.copy_(torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 2.0]]))
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(lcb(x), torch.stack([x[:, 0] + x[:, 1], 2 * x[:, 2]], dim=1))


def test_layer_normalises_each_embedding_over_d_and_ablations_zero_branches() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 6, 8)
    layer = WukongLayer(6, 3, 3, 8, rank=2, fmb_hidden=[16]).eval()
    out = layer(x)
    assert out.shape == (4, 6, 8)
    torch.testing.assert_close(out.mean(dim=2), torch.zeros(4, 6), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.var(dim=2, unbiased=False), torch.ones(4, 6), atol=1e-3, rtol=0)
    no_fmb = WukongLayer(6, 3, 3, 8, rank=2, fmb_hidden=[16], ablate=["fmb"])
    no_fmb.load_state_dict(layer.state_dict())
    expected = layer.norm(torch.cat([torch.zeros(4, 3, 8), layer.lcb(x)], dim=1) + x)
    torch.testing.assert_close(no_fmb(x), expected)
    bare = WukongLayer(6, 3, 3, 8, rank=2, fmb_hidden=[16], ablate=["lcb", "residual"])
    bare.load_state_dict(layer.state_dict())
    torch.testing.assert_close(bare(x), layer.norm(torch.cat([layer.fmb(x), torch.zeros(4, 3, 8)], dim=1)))
    with pytest.raises(ValueError, match="unknown Wukong ablation"):
        WukongLayer(6, 3, 3, 8, rank=2, fmb_hidden=[16], ablate=["fcb"])


def test_wukong_model_shapes_gradients_and_ablation_keeps_parameters() -> None:
    torch.manual_seed(0)
    sizes = {f"f{i}": r for i, r in enumerate(ROWS)}

    def build(ablate: tuple[str, ...] = ()) -> Wukong:
        return Wukong(field_embeddings(sizes, dim=8), num_layers=3, num_fmb=4, num_lcb=4, rank=3, fmb_hidden=[16],
                      head=[16], dropout=0.1, ablate=ablate)

    model = build()
    batch = random_ctr_batches(1, 32, 0, ROWS)[0]
    logits = model(batch)
    assert logits.shape == (32,)
    torch.nn.functional.binary_cross_entropy_with_logits(logits, batch.labels).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    count = sum(p.numel() for p in model.parameters())
    assert count == sum(p.numel() for p in build(("fmb",)).parameters())

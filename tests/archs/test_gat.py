"""GAT with identity quantizers equals torch_geometric's GATConv; attention is an unsigned edge-kind point."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import GATConv

from dqbench.archs.gat import GATLayer
from dqbench.errors import DQBenchError
from tests.archs.helpers import Recorder, build, random_graph


def paired(heads: int, channels: int, last: bool):
    torch.manual_seed(0)
    layer = GATLayer(5, heads * channels, last=last, heads=heads, attn_dropout=0.0)
    conv = GATConv(5, channels, heads=layer.heads, concat=True)
    with torch.no_grad():
        layer.lin.lin.weight.copy_(conv.lin.weight)
        layer.att_src.copy_(conv.att_src)
        layer.att_dst.copy_(conv.att_dst)
        layer.bias.copy_(torch.randn_like(layer.bias))
        conv.bias.copy_(layer.bias)
    return layer.eval(), conv.eval()


@pytest.mark.parametrize("heads,last", [(4, False), (1, True)])
def test_layer_matches_gatconv(heads, last):
    layer, conv = paired(heads, 3 if not last else 6, last)
    data = random_graph(n=14, e=40, isolated=3)
    data.edge_index = torch.cat([data.edge_index, torch.tensor([[1], [1]])], dim=1)
    want = conv(data.x, data.edge_index)
    torch.testing.assert_close(layer(data.x, data.edge_index), want if last else F.elu(want))


def test_attention_is_a_softmax_over_incoming_edges():
    layer, _ = paired(2, 4, False)
    rec = Recorder()
    layer.quant["attention"] = rec
    data = random_graph(n=10, e=25, isolated=2)
    layer(data.x, data.edge_index)
    (alpha, _), = rec.calls
    keep = data.edge_index[0] != data.edge_index[1]
    dst = torch.cat([data.edge_index[1, keep], torch.arange(10)])
    assert alpha.shape == (dst.numel(), 2) and (alpha >= 0).all()
    sums = torch.zeros(10, 2).index_add_(0, dst, alpha)
    torch.testing.assert_close(sums, torch.ones(10, 2))


def test_heads_must_divide_hidden():
    with pytest.raises(DQBenchError, match="multiple of heads"):
        build("gat", hidden=10, heads=4)
    with pytest.raises(DQBenchError, match="heads must be"):
        build("gat", heads=0)


def test_points_and_head_layout():
    model = build("gat", "node", hidden=16, heads=4)
    kinds = {(p.path, p.role): p.kind for p in model.quant_points()}
    assert kinds[("convs.0", "attention")] == "edge" and kinds[("convs.0", "aggregate")] == "node"
    assert model.convs[0].heads == 4 and model.convs[-1].heads == 1
    g = build("gat", "graph", hidden=16, heads=4)
    assert all(c.heads == 4 for c in g.convs)

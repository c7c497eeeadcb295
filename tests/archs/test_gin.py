"""GIN with identity quantizers equals torch_geometric's GINConv on the same MLP; defaults follow the papers."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.nn import GINConv

from dqbench.archs.gin import GINLayer
from tests.archs.helpers import build, random_graph


@pytest.mark.parametrize("last", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.25])
def test_layer_matches_ginconv(last, eps):
    torch.manual_seed(0)
    layer = GINLayer(5, 6, last=last, hidden=8, eps=eps)
    for bn in (layer.bn1, layer.bn2):
        if bn is not None:  # non-trivial running statistics and affine parameters
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.data.uniform_(0.5, 2)
            bn.bias.data.uniform_(-1, 1)
    mlp = [layer.lin1.lin, layer.bn1, nn.ReLU(), layer.lin2.lin]
    if not last:
        mlp += [layer.bn2, nn.ReLU()]
    conv = GINConv(nn.Sequential(*mlp), eps=eps)
    data = random_graph(n=14, e=40, isolated=3)
    layer.eval(), conv.eval()
    torch.testing.assert_close(layer(data.x, data.edge_index), conv(data.x, data.edge_index))


def test_graph_default_is_five_layers_node_default_two():
    g = build("gin", "graph")
    assert len(g.convs) == 5 and g.arch_kwargs["layers"] == 5
    n = build("gin", "node")
    assert len(n.convs) == 2 and n.arch_kwargs["layers"] == 2
    assert len(build("gin", "graph", layers=3).convs) == 3


def test_last_node_layer_keeps_hidden_width():
    model = build("gin", "node", hidden=16, out=3)
    last = model.convs[-1]
    assert last.lin1.weight.shape == (16, 16) and last.lin2.weight.shape == (3, 16) and last.bn2 is None


def test_message_is_per_source_node():
    model = build("gin", "node")
    kinds = {p.role: p.kind for p in model.quant_points() if p.path == "convs.0"}
    assert kinds == {"input": "node", "message": "node", "aggregate": "node", "update": "node"}
    data = random_graph()
    model.eval()
    assert model(data).shape == (data.num_nodes, 3)

"""GCN with identity quantizers equals torch_geometric's GCNConv; the edge weights are the symmetric norm."""

from __future__ import annotations

import torch
from torch_geometric.nn import GCNConv
from torch_geometric.utils import to_dense_adj

from dqbench.archs.gcn import GCNLayer, gcn_norm_weights
from tests.archs.helpers import build, random_graph


def copy_into(layer: GCNLayer, conv: GCNConv) -> None:
    with torch.no_grad():
        layer.lin.lin.weight.copy_(conv.lin.weight)
        layer.bias.copy_(torch.randn_like(layer.bias))
        conv.bias.copy_(layer.bias)


def test_layer_matches_gcnconv_with_self_loops_and_isolated_nodes():
    data = random_graph(n=15, e=40, isolated=4)
    data.edge_index = torch.cat([data.edge_index, torch.tensor([[2, 5], [2, 5]])], dim=1)  # existing self loops
    conv, layer = GCNConv(5, 7), GCNLayer(5, 7, last=True)
    copy_into(layer, conv)
    torch.testing.assert_close(layer(data.x, data.edge_index), conv(data.x, data.edge_index))
    hidden = GCNLayer(5, 7, last=False)
    copy_into(hidden, conv)
    torch.testing.assert_close(hidden(data.x, data.edge_index), conv(data.x, data.edge_index).relu())


def test_model_matches_two_gcnconvs():
    model = build("gcn", "node", hidden=8, layers=2).eval()
    convs = [GCNConv(5, 8), GCNConv(8, 3)]
    for layer, conv in zip(model.convs, convs):
        copy_into(layer, conv)
    data = random_graph(n=20, e=50, isolated=2)
    want = convs[1](convs[0](data.x, data.edge_index).relu(), data.edge_index)
    torch.testing.assert_close(model(data), want)


def test_norm_weights_are_symmetric_normalised_adjacency():
    data = random_graph(n=9, e=20, isolated=2)
    ei, w = gcn_norm_weights(data.edge_index, 9)
    assert ei.size(1) == int((data.edge_index[0] != data.edge_index[1]).sum()) + 9
    a = to_dense_adj(data.edge_index, max_num_nodes=9)[0]
    a.fill_diagonal_(0)
    a += torch.eye(9)
    d = a.sum(0).pow(-0.5)  # in-degree (edges j -> i are counted at their target i)
    want = d[:, None] * a * d[None, :]
    got = to_dense_adj(ei, edge_attr=w, max_num_nodes=9)[0]
    torch.testing.assert_close(got, want)
    assert (w > 0).all() and (w <= 1).all()

"""Every registered arch, both tasks: shapes, batching, isolated nodes, dropout, every role applied, masks."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from tests.archs.helpers import ARCH_NAMES, Zero, batch_of, build, random_graph, record_all

TASKS = ["node", "graph"]


def data_for(task):
    return batch_of(4, 7, 5) if task == "graph" else random_graph(n=12, isolated=3)


@pytest.mark.parametrize("name", ARCH_NAMES)
def test_node_task_shape(name):
    model = build(name, "node", out=3)
    for m in (model.train(), model.eval()):
        out = m(random_graph(n=12, isolated=3))
        assert out.shape == (12, 3) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", ARCH_NAMES)
def test_graph_task_shape_and_batching(name):
    model = build(name, "graph", out=2).eval()
    graphs = [random_graph(n, 5, 3 * n, seed=i) for i, n in enumerate((4, 7, 5))]
    out = model(batch_of(4, 7, 5))
    assert out.shape == (3, 2) and torch.isfinite(out).all()
    # each row is the graph on its own: no information leaks between graphs of a batch
    for i, g in enumerate(graphs):
        torch.testing.assert_close(out[i], model(g)[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ARCH_NAMES)
@pytest.mark.parametrize("task", TASKS)
def test_no_edges_and_isolated_nodes(name, task):
    model = build(name, task).eval()
    data = Data(x=torch.randn(6, 5), edge_index=torch.empty(2, 0, dtype=torch.long))
    out = model(data)
    assert out.shape == ((6, 3) if task == "node" else (1, 3)) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", ARCH_NAMES)
@pytest.mark.parametrize("task", TASKS)
def test_dropout_only_in_training(name, task):
    model = build(name, task, dropout=0.5)
    data = data_for(task)
    model.eval()
    torch.testing.assert_close(model(data), model(data))
    model.train()
    torch.manual_seed(1)
    a = model(data)
    torch.manual_seed(2)
    assert not torch.allclose(a, model(data))


@pytest.mark.parametrize("name", ARCH_NAMES)
def test_conv_dropout_zero_leaves_only_the_readout_dropout(name):
    """conv_dropout=0: layer inputs are never dropped; the readout still drops with ``dropout``."""
    extra = {"attn_dropout": 0.0} if name == "gat" else {}
    model = build(name, "graph", dropout=0.5, conv_dropout=0.0, **extra).train()
    recs = record_all(model)
    data = data_for("graph")
    torch.manual_seed(1)
    a = model(data)
    first = next(rec for point, rec in recs.items() if point.path == "convs.0" and point.role == "input")
    torch.testing.assert_close(first.calls[0][0], data.x)  # the first layer saw the features undropped
    torch.manual_seed(2)
    assert not torch.allclose(a, model(data))  # the readout's dropout is still there
    model.readout.dropout = 0.0
    torch.manual_seed(1)
    b = model(data)
    torch.manual_seed(2)
    torch.testing.assert_close(b, model(data))


@pytest.mark.parametrize("name", ARCH_NAMES)
@pytest.mark.parametrize("task", TASKS)
def test_every_role_is_applied(name, task):
    model = build(name, task).eval()
    data = data_for(task)
    base = model(data)
    recs = record_all(model)
    torch.testing.assert_close(model(data), base)  # recorders are transparent
    for point, rec in recs.items():
        assert len(rec.calls) == 1, f"{point} called {len(rec.calls)} times"
    for point in model.quant_points():
        model.set_quantizer(point.path, point.role, Zero())
        assert not torch.allclose(model(data), base), f"{point} has no effect on the output"
        model.set_quantizer(point.path, point.role, recs[point])


def expected_rows(model, point, data):
    """Rows a point's tensor has: nodes, edges (+ one self loop per node for GCN/GAT), graphs, or a weight."""
    if point.kind == "node":
        return data.num_nodes
    if point.kind == "graph":
        return data.num_graphs
    if point.kind == "edge":
        return int((data.edge_index[0] != data.edge_index[1]).sum()) + data.num_nodes
    return model.get_submodule(point.path).weight.size(0)


@pytest.mark.parametrize("name", ARCH_NAMES)
@pytest.mark.parametrize("task", TASKS)
def test_protect_masks_follow_nodes_and_sources(name, task):
    model = build(name, task)
    data = data_for(task)
    mask = torch.rand(data.num_nodes, generator=torch.Generator().manual_seed(3)) < 0.5
    seen = []
    model.protector = lambda d: seen.append(d) or mask
    recs = record_all(model)
    model.train()
    model(data)
    assert len(seen) == 1 and seen[0] is data  # computed once per forward
    keep = data.edge_index[0] != data.edge_index[1]
    src = torch.cat([data.edge_index[0, keep], torch.arange(data.num_nodes)])
    for point, rec in recs.items():
        (x, protect), = rec.calls
        assert x.size(0) == expected_rows(model, point, data), point
        if point.kind == "node":
            assert torch.equal(protect, mask), point
        elif point.kind == "edge":
            assert torch.equal(protect, mask[src]), point
        else:
            assert protect is None, point
    # no protection at inference
    for rec in recs.values():
        rec.calls.clear()
    model.eval()
    model(data)
    assert not seen[1:] and all(p is None for rec in recs.values() for _, p in rec.calls)


@pytest.mark.parametrize("name", ARCH_NAMES)
def test_trains_on_a_tiny_task(name):
    """A few Adam steps fit a tiny node classification (the graph is informative: labels follow features)."""
    torch.manual_seed(0)
    data = random_graph(n=30, e=60)
    data.y = (data.x[:, 0] > 0).long()
    extra = {"attn_dropout": 0.0} if name == "gat" else {}
    model = build(name, "node", out=2, dropout=0.0, **extra)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(data), data.y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]

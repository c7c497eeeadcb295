"""Aggregation range vs in-degree: capture at the aggregate points, restore the model, bin and plot."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from dqbench.archs.base import Identity
from dqbench.diagnostics.analyze import COLUMNS, aggregation_range_by_degree, binned_by_degree, plot_range_vs_degree
from dqbench.errors import DQBenchError
from dqbench.registry import ARCHS


def skewed_graph(n: int = 60, seed: int = 0) -> Data:
    """Node i receives about i edges from random sources (in-degrees 0..n-1), plus positive features."""
    gen = torch.Generator().manual_seed(seed)
    dst = torch.cat([torch.full((i,), i) for i in range(n)])
    src = torch.randint(0, n, (dst.numel(),), generator=gen)
    return Data(x=torch.rand(n, 4, generator=gen), edge_index=torch.stack([src, dst]))


def model(name: str):
    torch.manual_seed(0)
    return ARCHS.get(name)(in_channels=4, out_channels=3, task="node", hidden=16)


def spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.mark.parametrize("name", ["gcn", "gin", "gat"])
def test_rows_per_layer_and_node(name):
    data = skewed_graph()
    df = aggregation_range_by_degree(model(name), data)
    assert list(df.columns) == COLUMNS
    assert sorted(df["layer"].unique()) == ["convs.0", "convs.1"]
    layer0 = df[df["layer"] == "convs.0"]
    assert layer0["node"].tolist() == list(range(60))
    assert layer0["in_degree"].tolist() == list(range(60))
    assert (df["range"] >= 0).all() and (df["variance"] >= 0).all() and (df["abs_max"] * 2 >= df["range"]).all()


def test_sum_aggregation_range_grows_with_in_degree():
    """GIN's first aggregate is x_i + sum_j x_j of positive features: its magnitude and range track the
    in-degree (the paper's motivation), and the recorded range is exactly that of the aggregate."""
    df = aggregation_range_by_degree(model("gin"), skewed_graph())
    first = df[df["layer"] == "convs.0"]
    assert spearman(first["in_degree"], first["abs_max"]) > 0.9
    assert spearman(first["in_degree"], first["range"]) > 0.5
    data = skewed_graph()
    want = data.x.index_add(0, data.edge_index[1], data.x[data.edge_index[0]])
    np.testing.assert_allclose(first["range"], (want.max(1).values - want.min(1).values).numpy(), rtol=1e-5)


def test_model_is_left_as_it_was():
    m = model("gcn").train()
    sentinel = Identity()
    m.set_quantizer("convs.1", "aggregate", sentinel)
    before = {(p.path, p.role): m.get_quantizer(p.path, p.role) for p in m.quant_points()}
    aggregation_range_by_degree(m, skewed_graph())
    assert m.training
    assert {(p.path, p.role): m.get_quantizer(p.path, p.role) for p in m.quant_points()} == before


def test_list_of_graphs_runs_on():
    graphs = [skewed_graph(10, seed=1), skewed_graph(7, seed=2)]
    df = aggregation_range_by_degree(model("gin"), graphs)
    layer0 = df[df["layer"] == "convs.0"]
    assert len(layer0) == 17 and layer0["in_degree"].tolist() == list(range(10)) + list(range(7))


def test_errors():
    with pytest.raises(DQBenchError, match="at least one graph"):
        aggregation_range_by_degree(model("gcn"), [])
    with pytest.raises(DQBenchError, match="columns"):
        plot_range_vs_degree(aggregation_range_by_degree(model("gcn"), skewed_graph()), "x.png", value="nope")


def test_bins_cover_every_node_once():
    df = aggregation_range_by_degree(model("gin"), skewed_graph())
    binned = binned_by_degree(df, bins=6)
    for layer, part in binned.groupby("layer"):
        assert part["nodes"].sum() == 60
        assert part["degree_lo"].iloc[0] == 0 and part["degree_hi"].iloc[-1] >= 59
        assert (part["degree_lo"].to_numpy()[1:] == part["degree_hi"].to_numpy()[:-1] + 1).all()
    assert (binned["p10"] <= binned["median"]).all() and (binned["median"] <= binned["p90"]).all()


def test_plot_writes_an_image(tmp_path):
    df = aggregation_range_by_degree(model("gcn"), skewed_graph())
    out = plot_range_vs_degree(df, tmp_path / "sub" / "range.png")
    assert out.exists() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000

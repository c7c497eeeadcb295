"""`dqbench infer`: a graph file that does not meet the model's input contract, or a bad model file, ends in one
line and exit status 2; .pt and .npz graphs give the same predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dqbench.cli import main
from dqbench.engine import lower


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
    from test_lowering import converted_model, make_graph

    path = tmp_path_factory.mktemp("m") / "gcn.dqb"
    lower(converted_model("gcn", make_graph("powerlaw"), 8)).save(path)
    return path


def save_npz(path, **arrays):
    np.savez(path, **{k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in arrays.items()})
    return path


def test_pt_and_npz_give_the_same_predictions(model, tmp_path, capsys):
    from torch_geometric.data import Data

    x, ei = torch.randn(50, 12), torch.randint(0, 50, (2, 200))
    torch.save(Data(x=x, edge_index=ei), tmp_path / "g.pt")
    save_npz(tmp_path / "g.npz", x=x, edge_index=ei)
    assert main(["infer", str(model), str(tmp_path / "g.pt")]) == 0
    assert main(["infer", str(model), str(tmp_path / "g.npz"), "-o", str(tmp_path / "other.npz"),
                 "--backend", "torch", "--threads", "1"]) == 0
    a, b = np.load(tmp_path / "g.predictions.npz"), np.load(tmp_path / "other.npz")
    assert a["logits"].shape == (50, 5) and np.array_equal(a["logits"], b["logits"])
    assert "50 predictions" in capsys.readouterr().out


def test_reading_a_graph_leaves_pyg_classes_allow_listed(tmp_path):
    """Datasets (ogb's processed files) load with weights_only and need PyG's Data allow-listed afterwards too."""
    from torch_geometric.data import Data

    from dqbench.deploy.graph_file import read_graph

    torch.save(Data(x=torch.randn(3, 12), edge_index=torch.tensor([[0, 1], [1, 2]])), tmp_path / "g.pt")
    read_graph(tmp_path / "g.pt")
    assert Data in torch.serialization.get_safe_globals()
    torch.save(Data(x=torch.ones(1)), tmp_path / "again.pt")
    assert isinstance(torch.load(tmp_path / "again.pt", weights_only=True), Data)


@pytest.mark.parametrize("case, says", [
    ("features", "13 features per node; the model takes 12"),
    ("out of range", "outside 0..49"),
    ("float edges", "edge_index must be an integer tensor"),
    ("no x", "lacks x"),
    ("suffix", "unknown graph file type"),
    ("not data", "not a PyG Data"),
    ("garbage pt", "not a readable PyG Data file"),
    ("missing", "no such graph file"),
    ("bad model", "not a dqbench model file"),
])
def test_bad_input_is_one_line_and_exit_2(model, tmp_path, capsys, case, says):
    x, ei = torch.randn(50, 12), torch.randint(0, 50, (2, 200))
    graph = tmp_path / "g.npz"
    use_model = model
    if case == "features":
        save_npz(graph, x=torch.randn(50, 13), edge_index=ei)
    elif case == "out of range":
        save_npz(graph, x=x, edge_index=ei + 1)
    elif case == "float edges":
        save_npz(graph, x=x, edge_index=ei.float())
    elif case == "no x":
        save_npz(graph, edge_index=ei)
    elif case == "suffix":
        graph = tmp_path / "g.csv"
        graph.write_text("1,2\n")
    elif case == "not data":
        graph = tmp_path / "g.pt"
        torch.save({"x": x}, graph)
    elif case == "garbage pt":
        graph = tmp_path / "g.pt"
        graph.write_bytes(b"junk")
    elif case == "missing":
        graph = tmp_path / "none.npz"
    elif case == "bad model":
        save_npz(graph, x=x, edge_index=ei)
        use_model = tmp_path / "bad.dqb"
        use_model.write_bytes(model.read_bytes()[:100])
    assert main(["infer", str(use_model), str(graph)]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1

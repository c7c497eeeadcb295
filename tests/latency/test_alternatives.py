"""The user-alternative controls compute the PyG model (ONNX Runtime FP32 within float rounding of it, the INT8
QDQ model close to it, torch.compile equal to it), and a control that cannot run here says why."""

from __future__ import annotations

import pytest
import torch

from dqbench.latency import alternatives
from dqbench.latency.harness import PygReadout, converted_for_trial, pyg_model, trial_data
from dqbench.registry import DATASETS


def module_for(arch: str, dataset):
    t = {"arch_name": arch, "arch_kwargs": {"hidden": 16, **({"heads": 2} if arch == "gat" else {})},
         "method_name": "ptq", "method_kwargs": {}, "bits": 8, "seed": 0}
    data = trial_data(dataset)
    sim = converted_for_trial(t, dataset, data).simulate()
    forward, layers = pyg_model(arch, sim, dataset.task)
    readout = PygReadout(sim) if dataset.task == "graph" else None
    return alternatives.PygModule(forward, layers, readout).eval(), data


@pytest.mark.parametrize("arch", ["gcn", "gin", "gat"])
def test_onnx_fp32_and_int8_compute_the_pyg_model(arch):
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
    dataset = DATASETS.get("synthetic")(num_nodes=300, num_features=12, num_classes=4)
    module, data = module_for(arch, dataset)
    with torch.no_grad():
        ref = module(data.x, data.edge_index)
    for int8, tol in ((False, 1e-4), (True, 0.25)):
        fn, reason = alternatives.onnx(module, [(data.x, data.edge_index)], threads=1, int8=int8)
        assert reason is None
        (out,) = fn()
        assert out.shape == tuple(ref.shape)
        err = (torch.from_numpy(out) - ref).abs().max() / ref.abs().max()
        assert err < tol, (arch, int8, float(err))


def test_graph_task_batches_are_exported_with_their_readout():
    """Batches of different sizes (a session each) give the module's outputs."""
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
    from torch_geometric.data import Batch

    dataset = DATASETS.get("synthetic-graphs")(num_graphs=30, num_folds=3, seed=0)
    module, _ = module_for("gin", dataset)
    graphs = list(dataset.split(0).test)
    batches = [Batch.from_data_list(graphs[i:i + n]) for i, n in ((0, 4), (4, 4), (8, 2))]
    args = [(b.x, b.edge_index, b.batch, int(b.num_graphs)) for b in batches]
    assert len({int(b.num_nodes) for b in batches}) == 3
    fn, reason = alternatives.onnx(module, args, threads=1, int8=False)
    assert reason is None and not module.training  # the export leaves the PyG control in eval mode
    outs = fn()
    assert len(outs) == 3
    with torch.no_grad():
        for out, a in zip(outs, args):
            ref = module(*a)
            assert torch.allclose(torch.from_numpy(out), ref, atol=1e-4) and ref.shape == (a[-1], dataset.out_channels)


def test_bf16_says_why_where_the_cpu_lacks_it(monkeypatch):
    monkeypatch.setattr(alternatives, "cpu_flags", lambda: {"avx2"})
    fn, reason = alternatives.bf16(torch.nn.Identity())
    assert fn is None and "AVX512-BF16" in reason


def test_onnx_without_onnxruntime_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    fn, reason = alternatives.onnx(torch.nn.Identity(), [], threads=1, int8=False)
    assert fn is None and "dqbench[onnx]" in reason

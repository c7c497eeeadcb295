"""Every registered method x every registered arch: train one step, calibrate, convert, simulate."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dqbench.quant.converted import FP32_BITS, ConvertedModel
from dqbench.registry import ARCHS, METHODS

NUM_FEATURES, NUM_CLASSES = 8, 3  # the shape of conftest.py's tiny graphs

ARCH_NAMES = ARCHS.names() or ["(none)"]
CASES = [(m, a, b) for m in METHODS.names() for a in ARCH_NAMES for b in ((FP32_BITS,) if m == "fp32" else (8, 4))]


def build(method_name, arch, bits, task):
    if arch not in ARCHS:
        pytest.skip(f"arch '{arch}' not registered yet")
    torch.manual_seed(0)
    method = METHODS.get(method_name)(**({} if bits == FP32_BITS else {"bits": bits}))
    model = ARCHS.get(arch)(in_channels=NUM_FEATURES, out_channels=NUM_CLASSES, task=task, hidden=16)
    return method, model


def train_one_step(method, model, batch):
    model = method.prepare(model)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    model.train()
    loss = F.cross_entropy(model(batch), batch.y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    changed = [k for k, v in model.named_parameters() if not torch.equal(before[k], v.detach())]
    assert changed, "no parameter was updated"
    return model


@pytest.mark.parametrize("method_name,arch,bits", CASES)
def test_node_task_train_convert_simulate(method_name, arch, bits, node_graph):
    method, model = build(method_name, arch, bits, "node")
    data = method.transform(node_graph)
    model = train_one_step(method, model, data)
    method.calibrate(model, [data])
    model.eval()
    with torch.no_grad():
        logits = model(data)
    conv = method.convert(model)
    assert isinstance(conv, ConvertedModel)
    assert conv.arch == arch and conv.method == method_name and conv.bits == bits
    assert bool(conv.weights) == method.is_quantized and bool(conv.activations) == method.is_quantized
    with torch.no_grad():
        simulated = conv.simulate()(data)
    assert torch.allclose(simulated, logits, atol=1e-5), (simulated - logits).abs().max()


@pytest.mark.parametrize("method_name,arch,bits", CASES)
def test_graph_task_train_convert_simulate(method_name, arch, bits, graph_list):
    from torch_geometric.data import Batch

    method, model = build(method_name, arch, bits, "graph")
    batch = Batch.from_data_list([method.transform(g) for g in graph_list])
    model = train_one_step(method, model, batch)
    method.calibrate(model, [batch])
    model.eval()
    with torch.no_grad():
        logits = model(batch)
        simulated = method.convert(model).simulate()(batch)
    assert logits.shape == (len(graph_list), NUM_CLASSES)
    assert torch.allclose(simulated, logits, atol=1e-5)


@pytest.mark.parametrize("method_name", [m for m in METHODS.names() if m != "fp32"])
def test_quantized_eval_is_on_the_integer_grid(method_name, node_graph):
    """After conversion, every weight is exactly representable by its integer codes."""
    method, model = build(method_name, "gcn", 4, "node")
    data = method.transform(node_graph)
    model = train_one_step(method, model, data)
    method.calibrate(model, [data])
    conv = method.convert(model)
    for name, qt in conv.weights.items():
        assert qt.values.dtype == torch.int8
        assert qt.values.min() >= qt.qparams.qmin and qt.values.max() <= qt.qparams.qmax
        assert qt.qparams.bits in getattr(method, "candidates", (4,)) and qt.qparams.signed  # mixq: its choice
    sim = conv.simulate()
    for name, qt in conv.weights.items():
        w = sim.get_submodule(name.rsplit(".", 1)[0]).weight
        quantized = sim.get_quantizer(name[: -len(".lin.weight")], "weight")(w)
        assert torch.allclose(quantized, qt.dequantize(), atol=1e-7)

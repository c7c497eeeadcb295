"""The exported model (pytest-benchmark): time to load a ``.dqb`` file and run its first inference, and the file's
size against the FP32 model's ``state_dict`` (torch.save), for GCN, GIN and GAT at INT8 on a Cora-sized graph.
Skipped unless benchmarks are enabled:

    pytest tests/benchmarks/test_artifact_load.py --benchmark-enable [-s]

Side by side in the same rounds, interleaved, the FP32 control: ``torch.load`` of the state_dict into a built
model and its first forward. Ratios go to ``benchmark.extra_info`` (``bytes_vs_fp32``, ``load_first_vs_fp32``)
and are printed; no assertions on speed (a shared machine).
"""

from __future__ import annotations

import io
import statistics
import time

import pytest
import torch

from dqbench.engine import load, lower
from dqbench.registry import ARCHS, METHODS

NUM_NODES, NUM_FEATURES, NUM_CLASSES, ROUNDS = 2708, 1433, 7, 7


@pytest.fixture(autouse=True)
def _only_when_enabled(request):
    opt = request.config.getoption
    if opt("benchmark_disable", default=True) and not opt("benchmark_enable", default=False):
        pytest.skip("benchmarks are disabled (run with --benchmark-enable)")


def cora_sized_graph():
    from torch_geometric.data import Data

    from dqbench.datasets.synthetic import power_law_edges

    gen = torch.Generator().manual_seed(0)
    edge_index = power_law_edges(NUM_NODES, 4.0, 2.5, gen)
    x = (torch.rand(NUM_NODES, NUM_FEATURES, generator=gen) < 0.013).float()
    return Data(x=x, edge_index=edge_index, num_nodes=NUM_NODES)


@pytest.mark.parametrize("arch", ["gcn", "gin", "gat"])
def test_load_and_first_inference(benchmark, tmp_path, arch):
    data = cora_sized_graph()
    kwargs = {"hidden": 64, **({"heads": 8, "hidden": 8} if arch == "gat" else {})}
    torch.manual_seed(0)
    fp32 = ARCHS.get(arch)(in_channels=NUM_FEATURES, out_channels=NUM_CLASSES, task="node", **kwargs).eval()
    state = io.BytesIO()
    torch.save(fp32.state_dict(), state)
    method = METHODS.get("ptq")(bits=8)
    model = method.prepare(ARCHS.get(arch)(in_channels=NUM_FEATURES, out_channels=NUM_CLASSES, task="node",
                                           **kwargs))
    model.load_state_dict(fp32.state_dict(), strict=False)
    method.calibrate(model, [method.transform(data)])
    path = tmp_path / f"{arch}.dqb"
    lower(method.convert(model.eval())).save(path)

    def int8_first():
        with torch.no_grad():
            return load(path).run(data)

    def fp32_first():
        built = ARCHS.get(arch)(in_channels=NUM_FEATURES, out_channels=NUM_CLASSES, task="node", **kwargs).eval()
        built.load_state_dict(torch.load(io.BytesIO(state.getvalue()), weights_only=True))
        with torch.no_grad():
            return built(data)

    times = {"int8": [], "fp32": []}
    for _ in range(ROUNDS):  # interleaved: machine noise hits both alike
        for name, fn in (("int8", int8_first), ("fp32", fp32_first)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    benchmark.extra_info.update({
        "artifact_bytes": path.stat().st_size, "fp32_state_dict_bytes": len(state.getvalue()),
        "bytes_vs_fp32": path.stat().st_size / len(state.getvalue()),
        "load_first_s": med["int8"], "fp32_load_first_s": med["fp32"], "load_first_vs_fp32": med["int8"] / med["fp32"],
    })
    print(f"\n{arch}: file {path.stat().st_size} B vs FP32 state_dict {len(state.getvalue())} B "
          f"({benchmark.extra_info['bytes_vs_fp32']:.3f}x); load + first inference {med['int8'] * 1e3:.1f} ms vs "
          f"FP32 {med['fp32'] * 1e3:.1f} ms")
    benchmark.pedantic(int8_first, rounds=ROUNDS, iterations=1)

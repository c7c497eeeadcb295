"""IntProgram keeps its ops' output buffers between calls (dqbench.engine.program.Workspace): the same results as
fresh allocations, the returned tensor never overwritten by a later call, buffers reused while shapes hold."""

from __future__ import annotations

import pytest
import torch

from dqbench.engine import kernels as K
from dqbench.engine import lower
from dqbench.engine.program import AliasOp, IntProgram, QuantizeOp
from dqbench.quant.qparams import QParams
from tests.engine.test_lowering import converted_model, make_graph

COMPILED = K.runnable_backends()[1:]


def gcn_program(seed: int, backend: str | None = None):
    """An INT8 GCN program on a small power-law graph: (data, program, prepared graph)."""
    data = make_graph("powerlaw", seed=seed)
    prog = lower(converted_model("gcn", data, 8), backend=backend or (COMPILED or ["torch"])[0])
    return data, prog, prog.prepare(data)


@pytest.mark.skipif(not COMPILED, reason="no compiled kernels here")
@pytest.mark.parametrize("arch", ["gcn", "gin", "gat"])
def test_reused_buffers_give_fresh_results(arch):
    data = make_graph("powerlaw", seed=5)
    conv = converted_model(arch, data, 8, **({"heads": 4} if arch == "gat" else {}))
    prog = lower(conv, backend=COMPILED[0])
    graph = prog.prepare(data)
    other = torch.randn_like(data.x)
    with torch.no_grad():
        want = prog.execute(data.x, graph, trace=True)[prog.output].clone()  # trace: fresh tensors
        want_other = prog.execute(other, graph, trace=True)[prog.output].clone()
        first = prog.execute(data.x, graph)
        ws = prog.workspace()
        ptrs = {k: b.data_ptr() for k, b in ws.buffers.items()}
        assert ptrs, "intermediates are kept"
        second = prog.execute(other, graph)
        assert {k: b.data_ptr() for k, b in ws.buffers.items()} == ptrs  # the same buffers, written again
    assert torch.equal(first, want) and torch.equal(second, want_other)
    assert not ws.holds(first) and not ws.holds(second)


def test_output_aliasing_a_kept_buffer_is_copied():
    qp = QParams(0.1, 0, 8, True)
    prog = IntProgram("gcn", "node", COMPILED[0] if COMPILED else "torch",
                      [QuantizeOp("q", "x", "codes", qp=qp), AliasOp("out", "codes", "logits")], "logits")
    x1, x2 = torch.randn(50, 8), torch.randn(50, 8)
    out1 = prog.execute(x1, {})
    want1 = out1.clone()
    prog.execute(x2, {})
    assert torch.equal(out1, want1)


def test_workspace_follows_shape_changes():
    from dqbench.engine.program import Workspace

    ws = Workspace()
    a = ws.alloc_for(0)((4, 3), torch.int8)
    assert ws.alloc_for(0)((4, 3), torch.int8) is a
    assert ws.alloc_for(0)((5, 3), torch.int8).shape == (5, 3)
    assert ws.alloc_for(0)((5, 3), torch.float32).dtype == torch.float32
    kept = ws.alloc_for(0)((5, 3), torch.float32)
    assert ws.alloc_for(0, output=True)((5, 3), torch.float32) is not kept  # an output is always new


def test_release_drops_the_calling_threads_buffers():
    data, prog, graph = gcn_program(8)
    with torch.no_grad():
        want = prog.execute(data.x, graph)
        assert prog.workspace().buffers
        prog.release()
        assert not prog.workspace().buffers
        assert torch.equal(prog.execute(data.x, graph), want)
    prog.release()
    prog.release()  # nothing kept: no error


@pytest.mark.skipif(not COMPILED, reason="no compiled kernels here")
def test_calling_threads_have_their_own_buffers():
    from concurrent.futures import ThreadPoolExecutor

    data, prog, graph = gcn_program(6, COMPILED[0])
    inputs = [torch.randn_like(data.x) for _ in range(4)]
    with torch.no_grad():
        want = [prog.execute(x, graph, trace=True)[prog.output].clone() for x in inputs]
        with ThreadPoolExecutor(2) as pool:
            got = list(pool.map(lambda x: prog.execute(x, graph, threads=1), inputs * 5))
    assert all(torch.equal(g, want[i % 4]) for i, g in enumerate(got))
    assert not prog.workspace().buffers  # the pool threads' buffers were theirs, not this thread's


def test_program_pickles_without_its_buffers():
    import pickle

    data, prog, graph = gcn_program(7)
    with torch.no_grad():
        want = prog.execute(data.x, graph)
        copy = pickle.loads(pickle.dumps(prog))
        assert not copy.workspace().buffers
        assert torch.equal(copy.execute(data.x, graph), want)

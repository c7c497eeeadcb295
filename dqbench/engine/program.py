"""IntProgram: a plain list of integer ops (with their integer tensors and requantization constants) that runs
a lowered model. Values live in an environment keyed by "<module path>:<role>" of the quantizer whose codes they
hold (the same keys as ``ConvertedModel.activations``), so traces line up with the simulated model.

Like an inference engine's static memory plan, a program keeps its ops' output buffers between calls (a
``Workspace`` per calling thread): a fresh tensor of tens of MB costs a page fault per 4 KiB page on every call.
The tensor ``execute`` returns is always the caller's own; ``trace`` runs allocate fresh."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import torch

from dqbench.engine import kernels as K
from dqbench.engine.attention import GatAttention, attention_codes
from dqbench.quant.qparams import QParams

STAGES = ("quantize_input", "gemm", "spmm", "requantize", "attention", "other")


@dataclass
class Op:
    name: str
    src: str
    dst: str

    stage = "other"
    precision = "INT8"

    def run(self, env: dict, graph: dict, backend: str, threads: int, alloc: K.Alloc = K.fresh) -> None:
        """Compute ``env[dst]``; compiled kernels take their output tensor from ``alloc``."""
        raise NotImplementedError

    def tensors(self) -> list[torch.Tensor]:
        """Constant tensors this op keeps (weights, tables), for memory accounting."""
        return []


@dataclass
class QuantizeOp(Op):
    qp: QParams = None
    stage = "quantize_input"
    precision = "FP32->INT8"

    def run(self, env, graph, backend, threads, alloc=K.fresh):
        env[self.dst] = K.quantize(backend, env[self.src], self.qp, threads, alloc)


@dataclass
class GemmOp(Op):
    weight: K.PackedWeight = None
    req: K.Requant = None
    stage = "gemm"
    precision = "INT8 x INT8 -> INT32, fused requantize"

    def run(self, env, graph, backend, threads, alloc=K.fresh):
        env[self.dst] = K.gemm(backend, env[self.src], self.weight, self.req, threads, alloc)

    def tensors(self):
        return [self.weight.packed, self.weight.colterm, self.req.alpha]


@dataclass
class SpmmOp(Op):
    graph_key: str = ""
    x_zp: int = 0
    req: K.Requant = None
    self_key: str | None = None
    row_div_key: str | None = None
    stage = "spmm"
    precision = "INT8 (UINT8 edge weights) -> INT32, fused requantize"

    def run(self, env, graph, backend, threads, alloc=K.fresh):
        g = graph[self.graph_key]
        self_codes = env[self.self_key] if self.self_key else None
        row_div = graph[self.row_div_key] if self.row_div_key else None
        env[self.dst] = K.spmm(backend, g, env[self.src], self.x_zp, self.req, self_codes, row_div, threads, alloc)

    def tensors(self):
        return [t for t in (self.req.alpha, self.req.beta, self.req.lut) if t is not None]


@dataclass
class LutOp(Op):
    table: torch.Tensor = None
    stage = "requantize"
    precision = "INT8 -> INT8 (256-entry table)"

    def run(self, env, graph, backend, threads, alloc=K.fresh):
        env[self.dst] = K.lut8(backend, env[self.src], self.table, threads, alloc)


@dataclass
class AliasOp(Op):
    """The requantization is the identity (equal qparams): share the codes."""

    stage = "other"
    precision = "INT8 (identity requantization)"

    def run(self, env, graph, backend, threads, alloc=K.fresh):
        env[self.dst] = env[self.src]


@dataclass
class AttentionOp(Op):
    """GAT attention coefficients in fixed point (``dqbench.engine.attention``): integer logits, per-destination
    softmax with a float64 exp and integer sums, quantized to unsigned codes; stored (CSR order) in ``env[dst]``
    and as the edge weights of ``graph[dst_graph]``."""

    x_zp: int = 0
    att: GatAttention = None
    base_graph: str = "gat"
    dst_graph: str = ""
    stage = "attention"
    precision = "INT8 x INT32 -> INT64 logits; softmax: float64 exp, INT64 sums -> UINT8 coefficients"

    def run(self, env, graph, backend, threads, alloc=K.fresh):
        csr = graph[self.base_graph]["csr"]
        codes = attention_codes(backend, csr, env[self.src], self.x_zp, self.att, threads, alloc)
        env[self.dst] = codes
        graph[self.dst_graph] = csr.with_weights(codes, self.att.heads)

    def tensors(self):
        return self.att.tensors()


def precision(op: Op) -> str:
    """The op's arithmetic, with the widths it reads and writes when lowering recorded them."""
    widths = getattr(op, "widths", "")
    return f"{op.precision}; {widths}" if widths else op.precision


class Workspace:
    """Output buffers of one program's ops, reused between calls while their shape and dtype stay the same."""

    def __init__(self):
        self.buffers: dict = {}

    def alloc_for(self, key, output: bool = False) -> K.Alloc:
        """Where the op ``key`` writes: its kept buffer, or a fresh tensor when it is the caller's ``output``
        (returned to the caller, so never overwritten by a later call)."""
        if output:
            return K.fresh

        def alloc(shape, dtype):
            t = self.buffers.get(key)
            if t is None or t.shape != torch.Size(shape) or t.dtype != dtype:
                t = self.buffers[key] = torch.empty(shape, dtype=dtype)
            return t

        return alloc

    def holds(self, t: torch.Tensor) -> bool:
        return any(t.untyped_storage().data_ptr() == b.untyped_storage().data_ptr() for b in self.buffers.values())


@dataclass
class IntProgram:
    arch: str
    task: str
    backend: str
    ops: list[Op]
    output: str
    graph_spec: dict = field(default_factory=dict)   # what prepare() must build (see lower.py)
    notes: list[tuple[str, str]] = field(default_factory=list)
    threads: int | None = None
    contract: dict = field(default_factory=dict)     # the input contract (engine.artifact.input_contract)
    source: dict = field(default_factory=dict)       # a loaded artifact's origin (run, trial, config)
    local: threading.local = field(default_factory=threading.local, init=False, repr=False, compare=False)

    def prepare(self, data) -> dict:
        """Graph structures for ``data`` (CSR in destination order, quantized edge weights): built once per graph,
        like a cached adjacency."""
        from dqbench.engine.graph import prepare_graph

        return prepare_graph(self.graph_spec, data)

    def execute(self, x: torch.Tensor, graph: dict, *, trace: bool = False, timings: dict | None = None,
                threads: int | None = None):
        """Run the ops on input features ``x``; returns the float logits (or the whole environment if trace)."""
        threads = K.default_threads(threads or self.threads)
        env = {"x": x}
        graph = dict(graph)
        ws = None if trace else self.workspace()
        for i, op in enumerate(self.ops):
            alloc = K.fresh if ws is None else ws.alloc_for(i, output=op.dst == self.output)
            t0 = time.perf_counter() if timings is not None else 0.0
            op.run(env, graph, self.backend, threads, alloc)
            if timings is not None:
                timings[op.stage] = timings.get(op.stage, 0.0) + time.perf_counter() - t0
        if trace:
            return env
        out = env[self.output]
        return out.clone() if ws is not None and ws.holds(out) else out

    def __getstate__(self):  # buffers are per process and thread: not pickled
        return {k: v for k, v in self.__dict__.items() if k != "local"}

    def __setstate__(self, state):
        self.__dict__.update(state, local=threading.local())

    def workspace(self) -> Workspace:
        """The calling thread's output buffers (freed with the thread, or by ``release``)."""
        if not hasattr(self.local, "ws"):
            self.local.ws = Workspace()
        return self.local.ws

    def release(self) -> None:
        """Drop the calling thread's kept buffers (the next call allocates them again)."""
        self.local.__dict__.pop("ws", None)

    def run(self, data) -> torch.Tensor:
        with torch.no_grad():
            return self.execute(data.x, self.prepare(data))

    __call__ = run

    def save(self, path, source: dict | None = None):
        """Export to one ``.dqb`` file (``dqbench.engine.artifact``); ``dqbench.engine.load`` reads it back."""
        from dqbench.engine.artifact import save

        return save(self, path, source)

    def precision_report(self) -> list[tuple[str, str]]:
        """(op, precision) for every op, plus the notes of what stays in float."""
        return [(f"{op.name} [{type(op).__name__[:-2].lower()}]", precision(op)) for op in self.ops] + list(self.notes)

    def weight_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for op in self.ops for t in op.tensors())

    def __repr__(self) -> str:
        lines = [f"IntProgram({self.arch}, task={self.task}, backend={self.backend}, output={self.output!r})"]
        lines += [f"  {op.name}: {type(op).__name__} {op.src} -> {op.dst} ({precision(op)})" for op in self.ops]
        return "\n".join(lines)

"""How close the INT8 program runs to this machine's limits. A small probe, run inside the latency trial at its
thread count, measures three rates; a per-op model counts what each op must do; each stage's limit is the time
those rates allow, and its fraction of the limit is that time over the stage's measured time (1.0 = at the limit).

Rates (best of a few runs):
* ``seq_bytes_per_s``: a streaming copy of 64 MiB (bytes read + written)
* ``gather_rows_per_s``: ``index_select`` of random rows of a 128 MiB int8 table, per row width (the SpMM's
  and GAT attention's access pattern: each edge reads its source's feature row)
* ``int8_ops_per_s``: the engine's own INT8 GEMM on cache-resident operands (the kernel's peak on this CPU: on a
  VNNI CPU the VNNI path, elsewhere the AVX2 or scalar one), 2 ops per multiply-add

Per op: GEMM moves its input, weights and output and does 2*N*K*F ops (limit: the larger of the two times); SpMM
gathers one input row per edge (gather rate) and streams indices, edge weights and its output (limit: the
larger); attention gathers one row per edge; input quantization and tables stream their input and output.
"""

from __future__ import annotations

import time

import torch

from dqbench.engine import kernels as K
from dqbench.engine.program import AliasOp, AttentionOp, GemmOp, LutOp, QuantizeOp, SpmmOp
from dqbench.quant.qparams import QParams

SEQ_BYTES = 64 << 20
TABLE_BYTES = 128 << 20
GATHER_ROWS = 1 << 19
GEMM_SHAPE = (2048, 256, 256)  # N, K, F: ~1 MiB of operands, cache resident
REPEATS = 5


def _best(fn, repeats: int = REPEATS) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def probe(backend: str, threads: int, row_widths: list[int]) -> dict:
    """This machine's rates at ``threads`` threads (torch's thread count set by the caller)."""
    src = torch.ones(SEQ_BYTES, dtype=torch.int8)
    dst = torch.empty_like(src)
    seq = 2 * SEQ_BYTES / _best(lambda: dst.copy_(src))
    gen = torch.Generator().manual_seed(0)
    gather = {}
    for width in sorted(set(row_widths)):
        table = torch.ones(max(TABLE_BYTES // width, GATHER_ROWS), width, dtype=torch.int8)
        idx = torch.randint(0, table.size(0), (GATHER_ROWS,), generator=gen)
        out = torch.empty(GATHER_ROWS, width, dtype=torch.int8)
        gather[str(width)] = GATHER_ROWS / _best(lambda: torch.index_select(table, 0, idx, out=out))
    n, k, f = GEMM_SHAPE
    x = torch.randint(-100, 100, (n, k), generator=gen, dtype=torch.int8)
    w = K.PackedWeight(torch.randint(-100, 100, (f, k), generator=gen, dtype=torch.int8), 0, 0, backend)
    req = K.Requant(alpha=torch.full((f,), 1e-4), qp=QParams(1.0, 0, 8, True))
    peak = 2 * n * k * f / _best(lambda: K.gemm(backend, x, w, req, threads))
    return {"seq_bytes_per_s": seq, "gather_rows_per_s": gather, "int8_ops_per_s": peak, "backend": backend,
            "threads": threads}


def row_widths(prog, envs: list[dict]) -> list[int]:
    """Byte widths of the rows the SpMM and attention ops gather (what the probe must measure)."""
    return [int(env[op.src].size(1) * env[op.src].element_size()) for env in envs for op in prog.ops
            if isinstance(op, (SpmmOp, AttentionOp))]


def op_limit(op, env: dict, graph: dict, rates: dict) -> float:
    """Seconds the rates allow for ``op`` on the tensors of one traced run."""
    seq = rates["seq_bytes_per_s"]

    def nbytes(t) -> int:
        return t.numel() * t.element_size()

    if isinstance(op, GemmOp):
        x, out = env[op.src], env[op.dst]
        n, k = x.shape
        f = op.weight.codes.size(0)
        moved = nbytes(x) + op.weight.codes.numel() + nbytes(out)
        return max(moved / seq, 2.0 * n * k * f / rates["int8_ops_per_s"])
    if isinstance(op, SpmmOp):
        x, out = env[op.src], env[op.dst]
        width = x.size(1) * x.element_size()
        g = graph.get(op.graph_key)
        if g is None:  # a GAT layer's graph, made by its attention op: the base CSR with the coefficients as weights
            g, weights = graph["gat"]["csr"], env[f"{op.name}:attention"]
        else:
            weights = g.weights
        nnz = g.indices.numel()
        streamed = nbytes(g.indices) + (nbytes(weights) if weights is not None else 0) + nbytes(out)
        return max(nnz / rates["gather_rows_per_s"][str(width)], streamed / seq)
    if isinstance(op, AttentionOp):
        x = env[op.src]
        width = x.size(1) * x.element_size()
        return graph[op.base_graph]["csr"].indices.numel() / rates["gather_rows_per_s"][str(width)]
    if isinstance(op, (QuantizeOp, LutOp)):
        return (nbytes(env[op.src]) + nbytes(env[op.dst])) / seq
    if isinstance(op, AliasOp):
        return 0.0
    return 0.0


def stage_limits(prog, runs: list[tuple[dict, dict]], rates: dict) -> dict[str, float]:
    """Seconds the rates allow per stage, summed over the traced runs (one per graph of the workload)."""
    out: dict[str, float] = {}
    for env, graph in runs:
        for op in prog.ops:
            out[op.stage] = out.get(op.stage, 0.0) + op_limit(op, env, graph, rates)
    return out


def fractions(limits: dict[str, float], measured: dict[str, float]) -> dict[str, float]:
    """Per stage: limit / measured (1.0 = at the limit); the stages with both."""
    return {s: limits[s] / measured[s] for s in limits if measured.get(s, 0) > 0 and limits[s] > 0}

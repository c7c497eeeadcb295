"""Latency trials: the INT8 engine against its controls on the same graph, same thread count, measured side by
side (round-robin, after warm-up), raw samples kept.

Controls:
* ``pyg``     FP32 torch_geometric model as users run it (GCNConv / GINConv / GATConv on edge_index)
* ``pyg_csr`` the same convs on a ``torch.sparse_csr_tensor`` adjacency (GCN normalisation cached)
* ``fp32``    FP32 kernels of the engine's structure: MKL linear + hand-written AVX-512 CSR SpMM, fused epilogue
* ``int32``   the engine's integer program on int32 data (int32 GEMM / SpMM, same fused epilogue; GCN and GIN)
* ``pyg_compile``, ``bf16``, ``onnx_fp32``, ``onnx_int8``: what users would pick instead (``alternatives``)

The headline ratio is against the fastest of the user alternatives (every control but ``int32``); each trial also
probes this machine's limits and reports the fraction of them each stage reaches (``roofline``). Node tasks time
one full-graph inference; graph tasks batched inference over many graphs, graph preparation included
(``workloads``).
"""

from __future__ import annotations

import copy
import statistics
import time
import warnings

import torch

from dqbench.engine import kernels as K
from dqbench.engine.lower import lower
from dqbench.engine.program import AliasOp, GemmOp, QuantizeOp, SpmmOp, Workspace
from dqbench.models import build_method, build_model

ALL_CONTROLS = ("pyg", "pyg_csr", "fp32", "int32", "pyg_compile", "bf16", "onnx_fp32", "onnx_int8")


# -- statistics ------------------------------------------------------------------------------------------------
def stats(samples: list[float]) -> dict:
    """pytest-benchmark-style statistics of raw seconds."""
    s = sorted(samples)
    q = statistics.quantiles(s, n=4) if len(s) >= 2 else [s[0], s[0], s[0]]
    sd = statistics.stdev(s) if len(s) > 1 else 0.0
    return {"min": s[0], "max": s[-1], "mean": statistics.fmean(s), "stddev": sd,
            "median": statistics.median(s), "iqr": q[2] - q[0], "rounds": len(s)}


MIN_ROUNDS = 3  # what a time budget still leaves: a median of three


def measure(fns: dict, rounds: int, warmup: int, cpu: dict | None = None,
            max_seconds: float = 0.0) -> dict[str, list[float]]:
    """Wall seconds of every callable, ``rounds`` times, interleaved round-robin so machine noise hits all alike.
    If ``cpu`` is given it receives the process CPU seconds of the same calls (robust to being descheduled on a
    shared machine; summed over threads). ``max_seconds`` > 0: stop after the round that passes this much timed
    time, but not before MIN_ROUNDS rounds (whole-dataset workloads take minutes per round)."""
    with torch.no_grad():
        for _ in range(max(warmup, 0)):
            for fn in fns.values():
                fn()
        samples = {name: [] for name in fns}
        spent = 0.0
        for r in range(rounds):
            for name, fn in fns.items():
                c0, t0 = time.process_time(), time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - t0)
                spent += samples[name][-1]
                if cpu is not None:
                    cpu.setdefault(name, []).append(time.process_time() - c0)
            if max_seconds > 0 and spent >= max_seconds and r + 1 >= min(MIN_ROUNDS, rounds):
                break
    return samples


# -- model + data ----------------------------------------------------------------------------------------------
def trial_data(dataset):
    split = dataset.split(0)
    if split.data is not None:
        return split.data
    from torch_geometric.data import Batch

    return Batch.from_data_list(list(split.test) or list(split.train))


def converted_for_trial(trial: dict, dataset, data):
    """Build the model, fill its roles with the method, calibrate on the graph (latency needs no training)."""
    torch.manual_seed(int(trial.get("seed", 0)))
    model = build_model(trial, dataset)
    method = build_method(trial)
    data = method.transform(data)
    model = method.prepare(model)
    if trial["method_name"] == "ptq":
        method.calibrate(model, [data])
    else:
        model.train()
        with torch.no_grad():
            model(data)
    return method.convert(model.eval())


def pyg_model(arch: str, sim, task: str, cached: bool = False):
    """A torch_geometric model with the simulated model's float weights (the FP32 baseline users would run)."""
    from torch import nn
    from torch_geometric.nn import GATConv, GCNConv, GINConv

    layers = []
    for layer in sim.convs:
        if arch == "gcn":
            w = layer.lin.lin.weight
            conv = GCNConv(w.size(1), w.size(0), cached=cached)
            conv.lin.weight.data.copy_(w.data)
            conv.bias.data.copy_(layer.bias.data)
        elif arch == "gin":
            mlp = nn.Sequential(layer.lin1.lin, layer.bn1, nn.ReLU(), layer.lin2.lin,
                                *([layer.bn2, nn.ReLU()] if layer.bn2 is not None else []))
            state = copy.deepcopy(mlp.state_dict())
            conv = GINConv(copy.deepcopy(mlp))  # GINConv resets its MLP's parameters: work on a copy, then reload
            conv.nn.load_state_dict(state)
        else:
            w = layer.lin.lin.weight
            conv = GATConv(w.size(1), layer.channels, heads=layer.heads, concat=True)
            conv.lin.weight.data.copy_(w.data)
            conv.att_src.data.copy_(layer.att_src.data)
            conv.att_dst.data.copy_(layer.att_dst.data)
            conv.bias.data.copy_(layer.bias.data)
        layers.append((conv, "elu" if arch == "gat" else "relu", layer))
    last_act = task != "node"

    def forward(x, adj):
        for i, (conv, act, _) in enumerate(layers):
            x = conv(x, adj)
            if i < len(layers) - 1 or last_act:
                if arch == "gcn":
                    x = torch.relu(x)
                elif arch == "gat":
                    x = torch.nn.functional.elu(x)
        return x

    for conv, _, _ in layers:
        conv.eval()
    return forward, layers


def fp32_control(arch: str, sim, data, threads: int):
    """The engine's structure in FP32: MKL linear + hand-written CSR SpMM with fused bias/self/ReLU (GAT: a
    hand-written attention kernel, per-destination softmax, then the SpMM with per-head weights and ELU).
    Intermediates are kept between calls, as the INT8 program keeps its own; the output is new each call."""
    from dqbench.archs.gat import LEAKY_SLOPE
    from dqbench.engine.graph import gat_csr, gcn_csr

    kern = K.kernels()
    if kern is None or arch not in ("gcn", "gin", "gat") or not kern.cpu_has("vnni"):
        return None
    n = data.num_nodes
    wf = None
    if arch == "gcn":
        g, w = gcn_csr(data.edge_index, n)
        wf = w.float().contiguous()
    elif arch == "gat":
        g, _ = gat_csr(data.edge_index, n)
    else:
        g, _ = K.Csr.from_edges(data.edge_index[0], data.edge_index[1], n)
    folded = []
    for layer in sim.convs:
        if arch == "gat":
            folded.append((layer.lin.lin.weight.detach().t().contiguous(),
                           *(a.detach().reshape(-1).contiguous() for a in (layer.att_src, layer.att_dst)),
                           layer.bias.detach(), layer.heads))
        elif arch == "gcn":
            folded.append((layer.lin.lin.weight.detach().t().contiguous(), layer.bias.detach(), not layer.last))
        else:
            mats = []
            for lin, bn in ((layer.lin1.lin, layer.bn1), (layer.lin2.lin, layer.bn2)):
                W, b = lin.weight.detach(), lin.bias.detach()
                if bn is not None:
                    k = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
                    W, b = W * k[:, None], (b - bn.running_mean) * k + bn.bias.detach()
                mats.append((W.t().contiguous(), b.contiguous(), bn is not None))
            folded.append(mats)

    ws = Workspace()

    def keep(key, shape, last=False):
        return ws.alloc_for(key, output=last)(shape, torch.float32)

    def spmm(x, bias, relu, self_x, out, w=wf, heads=1):
        kern.spmm_f32(K.ptr(g.indptr), K.ptr(g.indices), K.ptr(w), heads, n, K.ptr(x), x.size(1), K.ptr(self_x),
                      K.ptr(bias), int(relu), K.ptr(out), "vnni", threads)
        return out

    def attention(h, a_src, a_dst, heads, key):
        w = keep(key, (g.indices.numel(), heads))
        kern.gat_attention_f32(K.ptr(g.indptr), K.ptr(g.indices), n, heads, h.size(1) // heads, K.ptr(h),
                               K.ptr(a_src), K.ptr(a_dst), LEAKY_SLOPE, K.ptr(w), "vnni", threads)
        return w

    def forward(x):
        for li, item in enumerate(folded):
            last = li == len(folded) - 1
            if arch == "gat":
                W, a_src, a_dst, b, heads = item
                h = torch.mm(x, W, out=keep((li, "h"), (n, W.size(1))))
                x = spmm(h, b, False, None, keep((li, "out"), (n, W.size(1)), last),
                         attention(h, a_src, a_dst, heads, (li, "att")), heads)
                if not last:
                    torch.nn.functional.elu(x, inplace=True)
            elif arch == "gcn":
                W, b, relu = item
                h = torch.mm(x, W, out=keep((li, "h"), (n, W.size(1))))
                x = spmm(h, b, relu, None, keep((li, "out"), (n, W.size(1)), last))
            else:
                x = x.contiguous()
                x = spmm(x, None, False, x, keep((li, "agg"), tuple(x.shape)))
                for k, (W, b, relu) in enumerate(item):
                    x = torch.addmm(b, x, W, out=keep((li, k), (n, W.size(1)), last and k == len(item) - 1))
                    if relu:
                        x.relu_()
        return x

    return forward


def int32_control(prog, graph, threads: int):
    """The GCN or GIN integer program with int32 storage and int32 kernels (same ops, same fused epilogue; GIN's
    self term read as int32 codes). None where an op has no int32 form (GAT attention, a GIN message table).
    Intermediates are kept between calls, as the INT8 program keeps its own; the output is new each call."""
    kern = K.kernels()
    if kern is None or prog.arch not in ("gcn", "gin") or not kern.cpu_has("vnni") or prog.task != "node":
        return None
    plan, g32 = [], {}
    for op in prog.ops:
        if isinstance(op, QuantizeOp):
            plan.append(("q", op))
        elif isinstance(op, AliasOp):
            plan.append(("alias", op))
        elif isinstance(op, GemmOp):
            W = op.weight.codes.to(torch.int32)
            F, Kd = W.shape
            P = (F + 63) // 64
            wp = torch.zeros(P * 64, Kd, dtype=torch.int32)
            wp[:F] = W
            plan.append(("gemm", op, wp.view(P, 64, Kd).permute(0, 2, 1).contiguous()))
        elif isinstance(op, SpmmOp):
            g = graph[op.graph_key]
            g32[op.graph_key] = None if g.weights is None else g.weights.to(torch.int32).view(-1).contiguous()
            plan.append(("spmm", op))
        else:
            return None

    ws = Workspace()

    def forward(x):
        env = {}
        for i, item in enumerate(plan):
            kind, op = item[0], item[1]
            keep = ws.alloc_for(i, output=op.dst == prog.output)
            if kind == "q":
                q = K.quantize("vnni", x, op.qp, threads, ws.alloc_for(("q", i)))
                env[op.dst] = keep(tuple(q.shape), torch.int32).copy_(q)
                continue
            if kind == "alias":
                env[op.dst] = env[op.src]
                continue
            xin = env[op.src].contiguous()
            r = op.req
            out = keep((xin.size(0) if kind == "gemm" else graph[op.graph_key].rows, r.F),
                       torch.float32 if r.out_float is not None else torch.int32)
            e = K._epi(r, out, env[op.self_key] if kind == "spmm" and op.self_key else None)
            if kind == "gemm":
                kern.gemm_i32(K.ptr(xin), xin.size(0), xin.size(1), K.ptr(item[2]), r.F, op.weight.x_zp,
                              op.weight.w_zp, e, "vnni", threads)
            else:
                g = graph[op.graph_key]
                kern.spmm_i32(K.ptr(g.indptr), K.ptr(g.indices), K.ptr(g32[op.graph_key]), g.rows, K.ptr(xin),
                              op.x_zp, xin.size(1), e, "vnni", threads)
            env[op.dst] = out
        return env[prog.output]

    return forward


def memory_bytes(prog, graph, env, data) -> dict:
    """Activations (every intermediate tensor of one run) and weights, from tensor sizes; FP32 equivalents."""
    acts = sum(v.numel() * v.element_size() for k, v in env.items() if k != "x" and torch.is_tensor(v))
    acts_fp32 = sum(v.numel() * 4 for k, v in env.items() if k != "x" and torch.is_tensor(v))
    weights = prog.weight_bytes()
    weights_fp32 = sum(op.weight.codes.numel() * 4 for op in prog.ops if isinstance(op, GemmOp))
    gbytes = 0
    for v in graph.values():
        v = v.get("csr") if isinstance(v, dict) else v
        if isinstance(v, K.Csr):
            gbytes += sum(t.numel() * t.element_size() for t in (v.indptr, v.indices, v.weights) if t is not None)
    return {"int8_activations": acts, "int8_weights": weights, "int8_total": acts + weights,
            "fp32_activations": acts_fp32, "fp32_weights": weights_fp32, "fp32_total": acts_fp32 + weights_fp32,
            "graph": gbytes}


# -- the trial -------------------------------------------------------------------------------------------------
USER_ALTERNATIVES = ("pyg", "pyg_csr", "pyg_compile", "bf16", "onnx_fp32", "onnx_int8", "fp32")
NODE_ONLY = {"pyg_csr": "needs a CSR adjacency built per batch: timed on full-graph workloads only",
             "fp32": "same-structure kernels take one prepared graph: timed on full-graph workloads only",
             "int32": "same-structure kernels take one prepared graph: timed on full-graph workloads only"}


class PygReadout(torch.nn.Module):
    """The graph-task readout of the simulated model in float: global pool, Linear, ReLU, Linear."""

    def __init__(self, sim):
        super().__init__()
        r = sim.readout
        self.lin1, self.lin2, self.mean = r.lin1.lin, r.lin2.lin, r.pool == "mean"

    def forward(self, h, batch, size: int):
        from torch_geometric.nn import global_add_pool, global_mean_pool

        pooled = (global_mean_pool if self.mean else global_add_pool)(h, batch, size)
        return self.lin2(torch.relu(self.lin1(pooled)))


def run_latency_trial(trial: dict, dataset, keep_program: bool = False) -> dict:
    """INT8 engine vs controls on the trial's workload (``workloads.workload``) at ``trial['threads']`` threads;
    raises LoweringError if the model cannot be lowered (the runner records the trial as skipped)."""
    from dqbench.latency import alternatives, roofline
    from dqbench.latency.workloads import num_graphs, workload

    threads = int(trial.get("threads") or 1)
    rounds, warmup = int(trial.get("rounds", 20)), int(trial.get("warmup", 3))
    wanted = list(trial.get("controls") or ALL_CONTROLS)
    if "pyg" in wanted and "pyg_csr" not in wanted:
        wanted.append("pyg_csr")
    data = trial_data(dataset)
    conv = converted_for_trial(trial, dataset, data)
    prog = lower(conv, backend=trial.get("backend", "auto"))
    batches, described = workload(dataset, int(trial.get("batch_size", 128)))
    whole_graph = dataset.task == "node"
    skipped: dict[str, str] = {}
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t0 = time.perf_counter()
        graphs = [prog.prepare(b) for b in batches]
        prepare_s = time.perf_counter() - t0
        xs = [b.x.float().contiguous() for b in batches]
        if whole_graph:  # one graph, prepared once (like a cached adjacency)
            x, graph = xs[0], graphs[0]
            fns = {"int8": lambda: prog.execute(x, graph, threads=threads)}
        else:  # new graphs every batch: their preparation is part of inference
            fns = {"int8": lambda: [prog.execute(xb, prog.prepare(b), threads=threads) for xb, b in zip(xs, batches)]}
        sim = conv.simulate()
        forward, layers = pyg_model(conv.arch, sim, dataset.task)
        module = alternatives.PygModule(forward, layers, None if whole_graph else PygReadout(sim)).eval()
        inputs = [(xb, b.edge_index) if whole_graph else (xb, b.edge_index, b.batch, int(b.num_graphs))
                  for xb, b in zip(xs, batches)]
        for name in [w for w in wanted if w in NODE_ONLY] if not whole_graph else []:
            skipped[name] = NODE_ONLY[name]
        if "pyg" in wanted:
            fns["pyg"] = lambda: [module(*a) for a in inputs]
        if whole_graph and "pyg_csr" in wanted:
            fwd_csr, _ = pyg_model(conv.arch, sim, dataset.task, cached=True)
            adj = _csr_adjacency(data.edge_index, int(data.num_nodes))
            fns["pyg_csr"] = lambda: fwd_csr(x, adj)
        if whole_graph and "fp32" in wanted:
            f32 = fp32_control(conv.arch, sim, data, threads)
            if f32 is None:
                skipped["fp32"] = "same-structure FP32 kernels need AVX-512 (and the compiled core)"
            else:
                fns["fp32"] = lambda: f32(x)
        onnx_limit = int(trial.get("onnx_max_edges") or 0)
        largest = max(int(b.edge_index.size(1)) for b in batches)
        if onnx_limit and largest > onnx_limit:
            for name in ("onnx_fp32", "onnx_int8"):
                if name in wanted:
                    skipped[name] = (f"a batch of {largest:,} edges is above [latency] onnx_max_edges "
                                     f"({onnx_limit:,}): the exported scatter materialises every message")
            wanted = [w for w in wanted if w not in ("onnx_fp32", "onnx_int8")]
        for name, build in (("pyg_compile", lambda: alternatives.compiled(module)),
                            ("bf16", lambda: alternatives.bf16(module)),
                            ("onnx_fp32", lambda: alternatives.onnx(module, inputs, threads, int8=False)),
                            ("onnx_int8", lambda: alternatives.onnx(module, inputs, threads, int8=True))):
            if name not in wanted:
                continue
            fn, reason = build()
            if fn is None:
                skipped[name] = reason
            elif name.startswith("onnx"):
                fns[name] = fn
            else:
                fns[name] = (lambda f: lambda: [f(*a) for a in inputs])(fn)
        int32_equal = None
        if whole_graph and "int32" in wanted:
            i32 = int32_control(prog, graph, threads)
            if i32 is None:
                skipped["int32"] = ("no int32 form of GAT attention or a GIN message table" if K.kernels() and
                                    K.kernels().cpu_has("vnni") else "int32 kernels need AVX-512")
            else:
                fns["int32"] = lambda: i32(x)
                with torch.no_grad():
                    int32_equal = bool(torch.equal(i32(x), prog.execute(x, graph, threads=threads)))
        cpu_samples: dict = {}
        samples = measure(fns, rounds, warmup, cpu_samples, float(trial.get("max_seconds") or 0.0))
        stage_runs = []
        with torch.no_grad():
            for _ in range(max(3, min(rounds, 10))):
                t = {}
                for xb, g in zip(xs, graphs):
                    prog.execute(xb, g, timings=t, threads=threads)
                stage_runs.append(t)
            # traced one batch at a time: a workload's intermediates need not all be held at once
            first = prog.execute(xs[0], graphs[0], trace=True, threads=threads)
            rates = roofline.probe(prog.backend, threads, roofline.row_widths(prog, [first]))
            limits: dict[str, float] = {}
            for i, (xb, g) in enumerate(zip(xs, graphs)):
                env = first if i == 0 else prog.execute(xb, g, trace=True, threads=threads)
                for stage, secs in roofline.stage_limits(prog, [(env, g)], rates).items():
                    limits[stage] = limits.get(stage, 0.0) + secs
    finally:
        torch.set_num_threads(old_threads)
    st = {name: stats(s) for name, s in samples.items()}
    med = {name: s["median"] for name, s in st.items()}
    pyg_best = min(v for k, v in med.items() if k.startswith("pyg")) if any(k.startswith("pyg") for k in med) else None
    alternatives_timed = {k: v for k, v in med.items() if k in USER_ALTERNATIVES}
    fastest = min(alternatives_timed, key=alternatives_timed.get) if alternatives_timed else None
    stage_names = sorted({k for t in stage_runs for k in t})
    stages = {k: statistics.median(t.get(k, 0.0) for t in stage_runs) for k in stage_names}
    metrics = {
        "backend": prog.backend, "threads": threads, "workload": described, "num_graphs": num_graphs(batches),
        "num_nodes": sum(int(b.num_nodes) for b in batches),
        "num_edges": sum(int(b.edge_index.size(1)) for b in batches), "prepare_graph_s": prepare_s,
        "median_s": med,
        "speedup": {**{f"vs_{k}": med[k] / med["int8"] for k in med if k != "int8"},
                    **({"vs_pyg_best": pyg_best / med["int8"]} if pyg_best else {}),
                    **({"vs_fastest_alternative": med[fastest] / med["int8"]} if fastest else {})},
        "fastest_alternative": fastest,
        "median_cpu_s": {k: statistics.median(v) for k, v in cpu_samples.items()},
        "speedup_cpu": {f"vs_{k}": statistics.median(v) / statistics.median(cpu_samples["int8"])
                        for k, v in cpu_samples.items() if k != "int8"},
        "stages_s": stages,
        "roofline": {"rates": rates, "limit_s": limits, "fraction_of_limit": roofline.fractions(limits, stages)},
        "memory_bytes": memory_bytes(prog, graphs[0], first, batches[0]),
        "stats": st,
        "controls_skipped": ",".join(skipped),
        "skip_reasons": skipped,
        "precision": "; ".join(f"{op}: {p}" for op, p in prog.precision_report()),
    }
    if not whole_graph:
        metrics["graphs_per_s"] = {k: metrics["num_graphs"] / v for k, v in med.items()}
    if int32_equal is not None:
        metrics["int32_matches_int8"] = int32_equal
    result = {"metrics": metrics, "samples": samples}
    if keep_program:  # for pytest-benchmark: the program, its prepared graph and the input
        result["program"] = (prog, graphs[0], xs[0])
    return result


def _csr_adjacency(edge_index, n: int):
    csr, _ = K.Csr.from_edges(edge_index[0], edge_index[1], n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.sparse_csr_tensor(csr.indptr, csr.indices.long(), torch.ones(csr.indices.numel()), (n, n))

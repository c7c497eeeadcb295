"""Lowering: ConvertedModel -> IntProgram (GCN, GIN, GAT layers; sum/mean readout for graph tasks).

Activations are int8 codes (INT4 and other widths < 8 live in int8), weights int8, accumulation int32; each
accumulator is requantized in the fused epilogue of its kernel. Chains of per-element requantizations that follow
(dequantize -> bias -> ReLU -> quantize, possibly twice: a layer's update then the next layer's input) are fused
as exact float steps; a chain with ELU (GAT) becomes a per-channel 256-entry table built with the model's own ops.
"""

from __future__ import annotations

import torch

from dqbench.archs.gat import LEAKY_SLOPE
from dqbench.engine import kernels as K
from dqbench.engine.attention import GatAttention
from dqbench.engine.errors import LoweringError
from dqbench.engine.program import AliasOp, AttentionOp, GemmOp, IntProgram, LutOp, QuantizeOp, SpmmOp
from dqbench.quant.qparams import QParams

FLOAT_NOTES = [
    ("requantize epilogues", "FP32 scale multiply + round-half-even, fused into the INT8 kernels"),
    ("logits", "FP32 (final dequantize)"),
]


class _Lowerer:
    def __init__(self, converted, backend: str):
        self.conv = converted
        self.backend = backend
        self.model = converted.simulate()
        self.ops = []
        self.spec: dict = {}
        self.notes = list(FLOAT_NOTES)
        self.cur = "x"
        self.cur_qp: QParams | None = None

    # -- parameters ------------------------------------------------------------------------------------------
    def act(self, path: str, role: str, node: bool = True) -> QParams:
        key = f"{path}:{role}"
        qp = self.conv.activations.get(key)
        if qp is None:
            raise LoweringError(f"op '{key}' is not quantized; the integer engine needs every role of the model "
                                "quantized (use a quantization method, not fp32)")
        if not isinstance(qp, QParams):
            raise LoweringError(
                f"op '{key}' has a step and width per node (A2Q); the engine's kernels take one scale per tensor "
                "(or per output channel): an aggregation of neighbours with different steps cannot accumulate "
                "their codes in one int32 sum, and no per-row requantization op exists yet")
        if qp.bits > 8:
            raise LoweringError(f"op '{key}' uses {qp.bits} bits; the integer engine supports 2-8 bits")
        if node and not qp.signed and qp.bits == 8:
            raise LoweringError(f"op '{key}': unsigned 8-bit node activations do not fit int8")
        return qp

    def weight(self, path: str):
        key = f"{path}.lin.weight"
        w = self.conv.weights.get(key)
        if w is None:
            raise LoweringError(f"op '{key}' has no integer weights; the engine needs quantized weights")
        if w.qparams.bits > 8 or (not w.qparams.signed and w.qparams.bits == 8):
            raise LoweringError(f"op '{key}': {w.qparams.bits}-bit {'signed' if w.qparams.signed else 'unsigned'} "
                                "weights are not supported (signed 2-8 bits only)")
        return w

    @staticmethod
    def full(F: int, value: float) -> torch.Tensor:
        return torch.full((F,), float(value), dtype=torch.float32)

    # -- building blocks -------------------------------------------------------------------------------------
    def gemm(self, path: str, src: str, x_qp: QParams, *, bias=None, bn=None, relu=False) -> QParams:
        """QLinear at ``path``: int8 GEMM, epilogue = bias (+ folded eval BatchNorm) (+ ReLU) -> Q_linear."""
        w = self.weight(path)
        qlin = self.act(path, "linear")
        F = w.values.size(0)
        alpha = torch.full((F,), x_qp.scale * w.qparams.scale, dtype=torch.float64)
        beta = None if bias is None else bias.detach().double()
        if bn is not None:
            k = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
            alpha = alpha * k
            beta = ((beta if beta is not None else 0.0) - bn.running_mean.double()) * k + bn.bias.detach().double()
        req = K.Requant(alpha=alpha.float(), qp=qlin, beta=None if beta is None else beta.float(), relu=relu)
        self.ops.append(GemmOp(name=path, src=src, dst=f"{path}:linear",
                               weight=K.PackedWeight(w.values, w.qparams.zero_point, x_qp.zero_point, self.backend),
                               req=req))
        return qlin

    def finish(self, req: K.Requant, chain: list[tuple], final_float: bool) -> QParams:
        """Append the requantization chain [(bias, act, qp), ...] after ``req.qp``: exact float steps, or a
        per-channel table when an activation is not elementary (ELU)."""
        prev = req.qp
        if any(a not in (None, "relu") for _, a, _ in chain):
            import torch.nn.functional as F

            cur = K.code_grid(prev).view(256, 1).expand(256, req.F)
            for bias, a, qp in chain:
                x = (cur - prev.zero_point) * prev.scale
                if bias is not None:
                    x = x + bias.detach()
                x = F.elu(x) if a == "elu" else (F.relu(x) if a == "relu" else x)
                cur, prev = K.quantize_torch(x, qp), qp
            req.lut = K.padded_lut(cur.t().contiguous())
        else:
            for bias, a, qp in chain:
                req.steps.append(K.Step(zp=prev.zero_point, scale=prev.scale, qp=qp,
                                        bias=None if bias is None else bias.detach().float().contiguous(),
                                        relu=a == "relu"))
                prev = qp
        if final_float:
            req.out_float = prev
        return prev

    def next_input(self, layers, i: int) -> list[tuple]:
        if i + 1 < len(layers):
            return [(None, None, self.act(f"convs.{i + 1}", "input"))]
        return []

    def out_key(self, layers, i: int, path: str, final_float: bool) -> str:
        if final_float:
            return "logits"
        return f"convs.{i + 1}:input" if i + 1 < len(layers) else f"{path}:update"

    # -- layers ------------------------------------------------------------------------------------------------
    def gcn(self, layer, path, layers, i, final_float):
        qlin = self.gemm(f"{path}.lin", self.cur, self.cur_qp)
        qmsg = self.act(path, "message", node=False)
        qagg = self.act(path, "aggregate")
        self.spec.setdefault("gcn", {})[f"gcn:{path}"] = qmsg
        width = self.conv.weights[f"{path}.lin.lin.weight"].values.size(0)
        return self.weighted_aggregate(layer, path, layers, i, final_float, width, qmsg.scale, qlin, qagg, "relu",
                                       f"gcn:{path}")

    def weighted_aggregate(self, layer, path, layers, i, final_float, width, edge_scale, qlin, qagg, act,
                           graph_key):
        """SpMM of the linear output with quantized edge weights, then bias + activation + update requantization."""
        req = K.Requant(alpha=self.full(width, edge_scale * qlin.scale), qp=qagg)
        chain = [(layer.bias, None if layer.last else act, self.act(path, "update"))] + self.next_input(layers, i)
        qp = self.finish(req, chain, final_float)
        dst = self.out_key(layers, i, path, final_float)
        self.ops.append(SpmmOp(name=path, src=f"{path}.lin:linear", dst=dst, graph_key=graph_key,
                               x_zp=qlin.zero_point, req=req))
        return dst, qp

    def gin(self, layer, path, layers, i, final_float):
        qin = self.cur_qp
        qmsg = self.act(path, "message")
        msg = f"{path}:message"
        if qmsg == qin:
            self.ops.append(AliasOp(name=path, src=self.cur, dst=msg))
        else:
            table = K.quantize_torch((K.code_grid(qin) - qin.zero_point) * qin.scale, qmsg).to(torch.int8)
            self.ops.append(LutOp(name=path, src=self.cur, dst=msg, table=table))
        qagg = self.act(path, "aggregate")
        self.spec["edges"] = True
        F = self.conv.weights[f"{path}.lin1.lin.weight"].values.size(1)
        req = K.Requant(alpha=self.full(F, qmsg.scale), qp=qagg, self_qp=qin)
        self.ops.append(SpmmOp(name=path, src=msg, dst=f"{path}:aggregate", graph_key="edges",
                               x_zp=qmsg.zero_point, req=req, self_key=self.cur))
        if abs(float(getattr(layer, "eps", 0.0))) > 0:
            raise LoweringError(f"op '{path}': GIN with eps != 0 is not supported")
        q1 = self.gemm(f"{path}.lin1", f"{path}:aggregate", qagg, bias=layer.lin1.lin.bias, bn=layer.bn1, relu=True)
        last = layer.bn2 is None
        self.gemm(f"{path}.lin2", f"{path}.lin1:linear", q1, bias=layer.lin2.lin.bias, bn=layer.bn2, relu=not last)
        gemm2 = self.ops[-1]
        chain = [(None, None, self.act(path, "update"))] + self.next_input(layers, i)
        qp = self.finish(gemm2.req, chain, final_float)
        gemm2.dst = self.out_key(layers, i, path, final_float)
        return gemm2.dst, qp

    def gat(self, layer, path, layers, i, final_float):
        qlin = self.gemm(f"{path}.lin", self.cur, self.cur_qp)
        qatt = self.act(path, "attention", node=False)
        qagg = self.act(path, "aggregate")
        self.spec["gat"] = True
        heads = layer.heads
        if heads > K.MAX_HEADS:
            raise LoweringError(f"op '{path}': {heads} attention heads; the engine supports at most {K.MAX_HEADS}")
        if qatt.zero_point != 0:  # the SpMM reads edge weights as codes with zero point 0
            raise LoweringError(f"op '{path}:attention': zero point {qatt.zero_point}; the engine needs attention "
                                "coefficients quantized with zero point 0 (a range starting at 0)")
        att = GatAttention.from_vectors(layer.att_src, layer.att_dst, qlin.scale, LEAKY_SLOPE, qatt)
        self.ops.append(AttentionOp(name=path, src=f"{path}.lin:linear", dst=f"{path}:attention",
                                    x_zp=qlin.zero_point, att=att, dst_graph=f"gat:{path}"))
        return self.weighted_aggregate(layer, path, layers, i, final_float, heads * layer.channels, qatt.scale, qlin,
                                       qagg, "elu", f"gat:{path}")

    def readout(self, readout):
        qx = self.cur_qp
        qr = self.act("readout", "input")
        self.spec["pool"] = True
        F = self.conv.weights["readout.lin1.lin.weight"].values.size(1)
        req = K.Requant(alpha=self.full(F, qx.scale), qp=qr)
        self.ops.append(SpmmOp(name="readout", src=self.cur, dst="readout:input", graph_key="pool",
                               x_zp=qx.zero_point, req=req,
                               row_div_key="pool_count" if readout.pool == "mean" else None))
        q1 = self.gemm("readout.lin1", "readout:input", qr, bias=readout.lin1.lin.bias, relu=True)
        self.gemm("readout.lin2", "readout.lin1:linear", q1, bias=readout.lin2.lin.bias)
        last = self.ops[-1]
        last.req.out_float = last.req.qp
        last.dst = "logits"

    def run(self) -> IntProgram:
        from dqbench.archs.gat import GATLayer
        from dqbench.archs.gcn import GCNLayer
        from dqbench.archs.gin import GINLayer

        model = self.model
        layers = getattr(model, "convs", None)
        if layers is None:
            raise LoweringError(f"arch '{self.conv.arch}': no 'convs' layer stack; the engine lowers GCN, GIN and "
                                "GAT stacks")
        handlers = {GCNLayer: self.gcn, GINLayer: self.gin, GATLayer: self.gat}
        self.cur_qp = self.act("convs.0", "input")
        self.ops.append(QuantizeOp(name="convs.0", src="x", dst="convs.0:input", qp=self.cur_qp))
        self.cur = "convs.0:input"
        node_task = model.readout is None
        for i, layer in enumerate(layers):
            handler = handlers.get(type(layer))
            if handler is None:
                raise LoweringError(f"op 'convs.{i}' ({type(layer).__name__}) has no integer lowering; "
                                    "supported: GCNLayer, GINLayer, GATLayer")
            final = node_task and i == len(layers) - 1
            self.cur, self.cur_qp = handler(layer, f"convs.{i}", layers, i, final)
        if not node_task:
            self.readout(model.readout)
        if "gat" in self.spec:
            self.notes.append(("attention softmax", "float64 leaky ReLU and exp on integer logits (sums in INT64)"))
        if any(isinstance(op, GemmOp) and op.req.beta is not None for op in self.ops):
            self.notes.append(("bias / eval BatchNorm", "FP32 per-channel affine inside the fused epilogue"))
        return IntProgram(arch=self.conv.arch, task=model.task, backend=self.backend, ops=self.ops,
                          output="logits", graph_spec=self.spec, notes=self.notes)


def lower(converted, backend: str = "auto") -> IntProgram:
    """Lower a ConvertedModel to an integer-only IntProgram (``backend``: auto, vnni, avx2, scalar or torch)."""
    bits = int(getattr(converted, "bits", 32))
    if bits > 8:
        raise LoweringError(f"model '{converted.arch}' / method '{converted.method}' runs at {bits} bits; the "
                            "integer engine lowers 2-8 bit quantized models only")
    from dqbench.engine.artifact import input_contract

    prog = _Lowerer(converted, K.resolve_backend(backend)).run()
    prog.contract = input_contract(prog)
    for op in prog.ops:
        op.widths = op_widths(op, converted)
    return prog


def op_widths(op, converted) -> str:
    """The bit widths an op reads and writes (mixed precision: each op has its own), e.g. "W4 x A8 -> A8"."""
    acts = converted.activations

    def width(key: str) -> str:
        return "FP32" if key == "x" else f"A{acts[key].bits}" if key in acts else "?"

    weight = converted.weights.get(f"{op.name}.lin.weight") if isinstance(op, GemmOp) else None
    src = f"W{weight.qparams.bits} x {width(op.src)}" if weight is not None else width(op.src)
    return f"{src} -> {width(op.dst)}"

"""What a user would run instead of dqbench's INT8 program, as latency controls on the same workload:

* ``pyg_compile`` the FP32 PyG model under ``torch.compile`` (inductor)
* ``bf16``        the FP32 PyG model under CPU autocast to bfloat16, where the CPU has AVX512-BF16 or AMX
* ``onnx_fp32``   the PyG model exported to ONNX, run by ONNX Runtime
* ``onnx_int8``   the same ONNX model statically quantized by ONNX Runtime (QDQ: the linears in INT8 with
                  per-tensor scales calibrated on the workload, aggregation in float: all stock ONNX Runtime does)

Each builder returns ``(callable, None)`` or ``(None, reason)``: a control that cannot run here is recorded as
skipped with its reason, never silently dropped.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import torch

INSTALL_ONNX = "pip install 'dqbench[onnx]'"


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


class PygModule(torch.nn.Module):
    """The PyG forward (``harness.pyg_model``) as a module of (x, edge_index[, batch, num_graphs]) for export and
    compile; ``readout`` (graph tasks) a module of (h, batch, num_graphs)."""

    def __init__(self, forward, layers, readout=None):
        super().__init__()
        self.convs = torch.nn.ModuleList([conv for conv, _, _ in layers])
        self.fn, self.readout = forward, readout

    def forward(self, x, edge_index, batch=None, size: int | None = None):
        h = self.fn(x, edge_index)
        return h if batch is None else self.readout(h, batch, size)


def compiled(module: PygModule):
    """``torch.compile`` of the PyG model (inductor, shapes made dynamic after the first recompile)."""
    try:
        import torch._dynamo  # noqa: F401
    except ImportError as exc:  # pragma: no cover - a torch without dynamo
        return None, f"torch.compile unavailable: {exc}"
    fn = torch.compile(module)
    return fn, None


def bf16(module: PygModule):
    """The PyG model under CPU autocast to bfloat16, where the CPU computes in BF16 natively."""
    flags = cpu_flags()
    if not flags & {"avx512_bf16", "amx_bf16"}:
        return None, "CPU lacks AVX512-BF16 and AMX-BF16 (autocast would emulate bf16 in fp32)"

    def run(*args):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return module(*args)

    return run, None


class OnnxControl:
    """ONNX Runtime sessions of the PyG model, one per batch: the TorchScript export fixes the node, edge and graph
    counts it traced (exported with dynamic axes, a second batch's outputs were wrong). Their memory arenas are
    off: a workload's sessions each kept arenas for their batch (REDDIT-BINARY's 32 sessions went past 24 GB)."""

    def __init__(self, module: PygModule, inputs: list[tuple], threads: int, int8: bool):
        import onnxruntime as ort

        self.dir = tempfile.TemporaryDirectory(prefix="dqbench-onnx-")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3  # errors only: its shape-inference notes on PyG's scatter are harmless
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if len(inputs) > 1:
            opts.enable_cpu_mem_arena, opts.enable_mem_pattern = False, False
        self.runs = []
        for i, args in enumerate(inputs):
            path = Path(self.dir.name) / f"b{i}.onnx"
            tensors = [a for a in args if isinstance(a, torch.Tensor)]  # the graph count is fixed in the export
            names = ["x", "edge_index", "batch"][:len(tensors)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # eval(): the exporter restores the wrapper's mode afterwards, recursively (a new module is in
                # training mode, which switched the PyG control it wraps to training too)
                fixed = module if len(tensors) == len(args) else _FixedCount(module, args[-1]).eval()
                torch.onnx.export(fixed, tuple(tensors), str(path), dynamo=False, input_names=names,
                                  output_names=["out"], opset_version=17)
            feed = {name: a.numpy() for name, a in zip(names, tensors)}
            if int8:
                path = _quantized(path, feed)
            self.runs.append((ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"]), feed))
            path.unlink()

    def __call__(self):
        return [s.run(None, f)[0] for s, f in self.runs]


class _FixedCount(torch.nn.Module):
    """The module with its graph count fixed (the exported graph takes tensors only)."""

    def __init__(self, module: PygModule, size: int):
        super().__init__()
        self.module, self.size = module, size

    def forward(self, x, edge_index, batch):
        return self.module(x, edge_index, batch, self.size)


def onnx(module: PygModule, inputs: list[tuple], threads: int, int8: bool):
    """An ONNX Runtime control over the module's ``inputs`` (one tuple per batch; FP32, or static INT8 QDQ), or
    why it cannot run."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None, f"onnxruntime not installed ({INSTALL_ONNX})"
    try:
        return OnnxControl(module, inputs, threads, int8), None
    except Exception as exc:  # export or quantization unsupported for this model: record why
        return None, f"ONNX {'INT8 ' if int8 else ''}export failed: {type(exc).__name__}: " + \
            " ".join(str(exc).split())[:200]


def _quantized(path: Path, feed: dict) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class OneBatch(CalibrationDataReader):
        def __init__(self):
            self.left = [feed]

        def get_next(self):
            return self.left.pop() if self.left else None

    import logging

    out = path.with_suffix(".int8.onnx")
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # its advice to pre-process, printed on every call
    try:
        _quantize(quantize_static, path, out, OneBatch(), QuantFormat, QuantType)
    finally:
        root.setLevel(level)
    return out


def _quantize(quantize_static, path, out, reader, QuantFormat, QuantType) -> None:
    quantize_static(str(path), str(out), reader, quant_format=QuantFormat.QDQ, op_types_to_quantize=["MatMul", "Gemm"],
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=False)

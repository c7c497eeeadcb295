"""The exported integer program: one safetensors file (``.dqb``) holding every integer tensor of the program
(weight codes, requantization vectors, tables, attention vectors) and, in its metadata, one JSON header: the
format and its version, the arch and task, the input contract, the op list with each op's precision and
constants, and where the model came from.

Why safetensors: a standard, language-neutral container (readers in Rust, C++, JavaScript) whose loading runs no
code (unlike a pickle) and checks every tensor's extent against the file; its header is JSON already, so the
program description sits beside the tensors in one file. Weights are stored as their int8 codes, not in a
kernel's packed layout: ``load`` packs them for the CPU it runs on, so one file runs on AVX-512, AVX2 or none.
A SHA-256 of the tensor bytes in the header catches damage the container cannot see.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import torch

from dqbench.engine import kernels as K
from dqbench.engine.attention import GatAttention
from dqbench.engine.program import AliasOp, AttentionOp, GemmOp, IntProgram, LutOp, QuantizeOp, SpmmOp
from dqbench.errors import DQBenchError
from dqbench.quant.qparams import QParams

FORMAT = "dqbench-int-program"
VERSION = 1
HEADER_KEY = "dqbench"
ARCHS = ("gcn", "gin", "gat")  # what this engine lowers, so what an artifact may hold
OP_TYPES = {cls.__name__: cls for cls in (QuantizeOp, GemmOp, SpmmOp, LutOp, AliasOp, AttentionOp)}
VALUE_TYPES = {cls.__name__: cls for cls in (K.Requant, K.Step, GatAttention)}


def input_contract(prog: IntProgram) -> dict:
    """What a graph must look like to run ``prog``: feature count and dtype, edge format, output width."""
    gemms = [op for op in prog.ops if isinstance(op, GemmOp)]
    return {
        "num_features": int(gemms[0].weight.codes.size(1)),
        "x": "float32 [num_nodes, num_features]",
        "edge_index": "int64 [2, num_edges]: row 0 the source, row 1 the target of each message",
        "batch": "graph tasks: int64 [num_nodes], the graph of each node (absent: one graph)",
        "task": prog.task,
        "outputs": int(gemms[-1].weight.codes.size(0)),
        "output": "float32 logits, one row per node (node task) or per graph (graph task)",
    }


def save(prog: IntProgram, path: str | Path, source: dict | None = None) -> Path:
    """Write ``prog`` to ``path`` (``source``: where it came from, kept in the header)."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    header = {
        "format": FORMAT, "version": VERSION, "arch": prog.arch, "task": prog.task,
        "input": input_contract(prog), "output": prog.output,
        "ops": [{"type": type(op).__name__, "stage": op.stage, "precision": op.precision,
                 "widths": getattr(op, "widths", ""), **_encode_fields(op, f"ops.{i}", tensors)}
                for i, op in enumerate(prog.ops)],
        "graph_spec": _encode(prog.graph_spec, "graph_spec", tensors),
        "notes": [list(n) for n in prog.notes],
        "source": source or {},
    }
    header["tensors_sha256"] = _digest(tensors)
    path = Path(path)
    try:
        save_file(tensors, str(path), metadata={HEADER_KEY: json.dumps(header, sort_keys=True)})
    except OSError as exc:
        raise DQBenchError(f"cannot write {path}: {exc.strerror or exc}; choose another -o") from None
    return path


def read_header(path: str | Path) -> dict:
    """The JSON header of an artifact (checked: format, version, arch)."""
    return _open(path)[0]


def load(path: str | Path, backend: str = "auto") -> IntProgram:
    """Rebuild the program in this process, its weights packed for ``backend`` (auto: the best this CPU runs);
    needs neither the training code nor the dataset. Damaged, truncated, foreign or newer files raise a one-line
    DQBenchError."""
    header, tensors = _open(path)
    backend = K.resolve_backend(backend)
    try:
        ops = []
        for i, entry in enumerate(header["ops"]):
            cls = OP_TYPES[entry["type"]]
            fields = {k: v for k, v in entry.items() if k not in ("type", "stage", "precision", "widths")}
            missing = sorted({f.name for f in dataclasses.fields(cls) if f.init} - set(fields))
            if missing:
                raise KeyError(f"op {i} ({entry['type']}) lacks {', '.join(missing)}")
            ops.append(cls(**_decode(fields, tensors, backend)))
            ops[-1].widths = str(entry.get("widths", ""))
        prog = IntProgram(arch=header["arch"], task=header["task"], backend=backend, ops=ops,
                          output=header["output"], graph_spec=_decode(header["graph_spec"], tensors, backend),
                          notes=[tuple(n) for n in header["notes"]])
    except (KeyError, TypeError, ValueError) as exc:
        raise DQBenchError(f"{path}: the program in it is incomplete ({type(exc).__name__}: {exc}); export it "
                           "again") from None
    prog.source, prog.contract = header.get("source", {}), header["input"]
    return prog


def _open(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    path = Path(path)
    if not path.is_file():
        raise DQBenchError(f"{path}: no such model file; export one with `dqbench export RUN TRIAL_ID -o {path}`")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise DQBenchError(f"{path} is not a dqbench model file or is damaged ({_brief(exc)}); export it "
                           "again") from None
    try:
        header = json.loads(meta[HEADER_KEY])
    except (KeyError, json.JSONDecodeError):
        raise DQBenchError(f"{path} is a safetensors file without a dqbench program header; export the model "
                           "with `dqbench export`") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise DQBenchError(f"{path} holds no dqbench integer program (format {header.get('format')!r})")
    version = header.get("version")
    if not isinstance(version, int) or version < 1:
        raise DQBenchError(f"{path}: artifact version {version!r} is not valid; export the model again")
    if version > VERSION:
        raise DQBenchError(f"{path} was written by a newer dqbench (artifact version {version}, this one reads up "
                           f"to {VERSION}); upgrade dqbench")
    if header.get("arch") not in ARCHS or any(op.get("type") not in OP_TYPES for op in header.get("ops", [])):
        raise DQBenchError(f"{path}: arch {header.get('arch')!r} is not one this engine runs ({', '.join(ARCHS)}); "
                           "load it with the dqbench (or plugin) that exported it")
    if header.get("tensors_sha256") != _digest(tensors):
        raise DQBenchError(f"{path}: its tensors do not match the checksum in its header (the file was changed or "
                           "damaged); export it again")
    return header, tensors


def _encode_fields(obj, prefix: str, tensors: dict) -> dict:
    return {f.name: _encode(getattr(obj, f.name), f"{prefix}.{f.name}", tensors)
            for f in dataclasses.fields(obj) if f.init}


def _encode(value, prefix: str, tensors: dict):
    if isinstance(value, torch.Tensor):
        tensors[prefix] = value.detach().clone().contiguous()
        return {"$tensor": prefix}
    if isinstance(value, QParams):
        return {"$type": "QParams", **value.to_dict()}
    if isinstance(value, K.PackedWeight):  # the codes only: load packs them for its CPU
        return {"$type": "PackedWeight", "codes": _encode(value.codes, f"{prefix}.codes", tensors),
                "w_zp": value.w_zp, "x_zp": value.x_zp}
    if type(value).__name__ in VALUE_TYPES:
        return {"$type": type(value).__name__, **_encode_fields(value, prefix, tensors)}
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{prefix}.{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _encode(v, f"{prefix}.{k}", tensors) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot export a {type(value).__name__} ({prefix})")


def _decode(value, tensors: dict, backend: str):
    if isinstance(value, list):
        return [_decode(v, tensors, backend) for v in value]
    if not isinstance(value, dict):
        return value
    if "$tensor" in value:
        return tensors[value["$tensor"]]
    kind = value.get("$type")
    fields = {k: _decode(v, tensors, backend) for k, v in value.items() if k != "$type"}
    if kind is None:
        return fields
    if kind == "QParams":
        return QParams(**fields)
    if kind == "PackedWeight":
        return K.PackedWeight(fields["codes"], fields["w_zp"], fields["x_zp"], backend)
    return VALUE_TYPES[kind](**fields)


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key]
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _brief(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160] or type(exc).__name__

"""Per-op time: where an inference spends its milliseconds.

Three sources, one table:
- OpenVINO performance counters (PERF_COUNT=YES): per executed node, its type and the kernel the
  CPU plugin picked (e.g. `brgemm_avx512_amx_i8` vs a `ref_` fallback: the first thing to check).
- ONNX Runtime's profiler: per node `*_kernel_time` events, warm-up runs dropped.
- TensorRT: the JSON that `trtexec --exportProfile=FILE` writes on the Jetson (the kit's
  profile.sh); copy it back and parse it here. Format (TensorRT samples/common/sampleReporting):
  `[{"count": N}, {"name": ..., "timeMs": total, "averageMs": ..., ["medianMs": ...,] "percentage": ...}, ...]`.
  An optional `--exportLayerInfo` JSON adds each layer's type.

Counters add overhead of their own: op times are for finding where time goes, the bench's
latencies are the numbers to quote.
"""
from __future__ import annotations

import collections
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jepa_edge.errors import DataError


@dataclass(frozen=True)
class OpTime:
    name: str
    op_type: str
    kernel: str       # kernel / implementation / provider, "" if the source does not say
    ms: float         # average per inference
    calls: int = 1    # nodes folded into this entry (by_type) or executions per inference


@dataclass
class OpProfile:
    source: str                  # openvino | onnxruntime | tensorrt
    ops: list[OpTime]
    runs: int                    # inferences averaged
    what: str = ""               # file or bundle profiled
    wall_ms: float | None = None  # median wall time per inference while profiling (counters on)
    notes: list[str] = field(default_factory=list)

    @property
    def total_ms(self) -> float:
        return float(sum(o.ms for o in self.ops))

    def top(self, n: int = 20) -> list[OpTime]:
        return sorted(self.ops, key=lambda o: -o.ms)[:n]

    def by_type(self) -> list[OpTime]:
        """One row per (op type, kernel): the view that shows e.g. all int8 FCs vs all Transposes."""
        acc: dict[tuple[str, str], list] = collections.defaultdict(lambda: [0.0, 0])
        for o in self.ops:
            a = acc[(o.op_type, o.kernel)]
            a[0] += o.ms
            a[1] += o.calls
        rows = [OpTime(t, t, k, ms, n) for (t, k), (ms, n) in acc.items()]
        return sorted(rows, key=lambda o: -o.ms)

    def to_dict(self) -> dict:
        return {"source": self.source, "what": self.what, "runs": self.runs, "wall_ms": self.wall_ms,
                "total_ms": self.total_ms, "notes": self.notes,
                "ops": [o.__dict__ for o in sorted(self.ops, key=lambda o: -o.ms)]}


# ---------------------------------------------------------------- OpenVINO

def profile_openvino(model, inputs: list[np.ndarray], *, runs: int = 30, warmup: int = 5,
                     config: dict | None = None, what: str = "") -> OpProfile:
    """`model`: an IR path, an ov.Model, or a compiled model (then `config` is ignored and it must
    have been compiled with PERF_COUNT=YES)."""
    import openvino as ov

    if isinstance(model, (str, os.PathLike, ov.Model)):
        cfg = {"PERFORMANCE_HINT": "LATENCY", **(config or {}), "PERF_COUNT": "YES"}
        compiled = ov.Core().compile_model(model, "CPU", cfg)
    else:
        compiled = model
    request = compiled.create_infer_request()
    for i, a in enumerate(inputs):
        request.set_input_tensor(i, ov.Tensor(np.ascontiguousarray(a), shared_memory=True))
    for _ in range(warmup):
        request.infer()
    acc: dict[str, list] = {}
    walls = []
    for _ in range(runs):
        request.infer()
        walls.append(request.latency)
        for p in request.profiling_info:
            if p.status != p.Status.EXECUTED:
                continue
            a = acc.setdefault(p.node_name, [p.node_type, p.exec_type, 0.0])
            a[2] += p.real_time.total_seconds() * 1e3
    ops = [OpTime(name, t, k, ms / runs) for name, (t, k, ms) in acc.items() if ms > 0]
    return OpProfile("openvino", ops, runs, what, float(np.median(walls)),
                     notes=["PERF_COUNT=YES adds per-node overhead: wall time here exceeds the bench's"])


# ---------------------------------------------------------------- ONNX Runtime

def profile_onnxruntime(onnx_path, feeds: dict[str, np.ndarray], *, runs: int = 30, warmup: int = 5,
                        threads: int | None = None, what: str = "") -> OpProfile:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.enable_profiling = True
    if threads:
        so.intra_op_num_threads = threads
    with tempfile.TemporaryDirectory() as tmp:
        so.profile_file_prefix = os.path.join(tmp, "ort_profile")
        sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        for _ in range(warmup + runs):
            sess.run(None, feeds)
        path = sess.end_profiling()
        prof = parse_onnxruntime_profile(path, skip_runs=warmup, what=what or str(onnx_path))
    return prof


def parse_onnxruntime_profile(path, skip_runs: int = 0, what: str = "") -> OpProfile:
    """Parse ORT's chrome-trace JSON: node `*_kernel_time` events, grouped by node, averaged over
    the `model_run` events that follow the first `skip_runs` (warm-up) runs."""
    events = _load_json(path, "ONNX Runtime profile")
    if not isinstance(events, list):
        raise DataError(f"{path}: not an ONNX Runtime profile (expected a JSON list of trace events)")
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                  if e.get("cat") == "Session" and e.get("name") == "model_run")
    if not runs:
        raise DataError(f"{path}: no model_run events: was the session run with enable_profiling?")
    skip_runs = min(skip_runs, len(runs) - 1)
    start = runs[skip_runs][0]
    kept = runs[skip_runs:]
    acc: dict[str, list] = {}
    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time") or e["ts"] < start:
            continue
        name = e["name"][: -len("_kernel_time")]
        args = e.get("args", {})
        a = acc.setdefault(name, [args.get("op_name", "?"), args.get("provider", ""), 0.0])
        a[2] += e["dur"] / 1e3
    n = len(kept)
    ops = [OpTime(name, t, k.replace("ExecutionProvider", "EP"), ms / n) for name, (t, k, ms) in acc.items()]
    wall = float(np.median([(b - a) / 1e3 for a, b in kept]))
    return OpProfile("onnxruntime", ops, n, what or str(path), wall)


# ---------------------------------------------------------------- TensorRT (trtexec JSON)

_TRT_TYPES = (  # substrings of TensorRT layer names -> op type, when no layer-info file is given
    ("Reformatting", "Reformat"), ("ForeignNode", "Myelin"), ("MatMul", "MatMul"), ("Gemm", "MatMul"),
    ("Conv", "Convolution"), ("Softmax", "Softmax"), ("LayerNorm", "LayerNorm"), ("ReduceMean", "LayerNorm"),
    ("Gelu", "GELU"), ("Erf", "GELU"), ("QuantizeLinear", "Quantize"), ("Transpose", "Shuffle"),
    ("Reshape", "Shuffle"), ("Add", "ElementWise"), ("Mul", "ElementWise"),
)


def _trt_type(name: str) -> str:
    for key, t in _TRT_TYPES:
        if key in name:
            return t
    return "other"


def parse_trtexec_profile(path, layer_info=None, what: str = "") -> OpProfile:
    """Parse `trtexec --exportProfile` JSON (and optionally `--exportLayerInfo` JSON for types)."""
    rows = _load_json(path, "trtexec profile", lenient=True)
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict) or "count" not in rows[0]:
        raise DataError(f"{path}: not a trtexec profile: expected a JSON list starting with "
                        f'{{"count": N}} (made by `trtexec --exportProfile=FILE`)')
    count = int(rows[0]["count"])
    if count < 1:
        raise DataError(f"{path}: profile has count {count}: trtexec ran no profiled iterations")
    types = _trt_layer_types(layer_info) if layer_info else {}
    ops = []
    for r in rows[1:]:
        if "name" not in r or ("averageMs" not in r and "timeMs" not in r):
            raise DataError(f"{path}: layer entry without name/averageMs: {r}")
        avg = float(r["averageMs"]) if "averageMs" in r else float(r["timeMs"]) / count
        name = str(r["name"])
        ops.append(OpTime(name, types.get(name, _trt_type(name)), "", avg))
    notes = [f"trtexec profile of {count} iterations"]
    if not types:
        notes.append("op types guessed from layer names; pass --layer-info (trtexec --exportLayerInfo) for exact ones")
    return OpProfile("tensorrt", ops, count, what or str(path), None, notes)


def _trt_layer_types(path) -> dict[str, str]:
    info = _load_json(path, "trtexec layer info", lenient=True)
    layers = info.get("Layers", []) if isinstance(info, dict) else []
    out = {}
    for layer in layers:
        if isinstance(layer, dict) and "Name" in layer:
            out[layer["Name"]] = str(layer.get("LayerType", "other"))
    return out


def _load_json(path, what: str, lenient: bool = False):
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise DataError(f"cannot read {what} {path}: {e}") from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        if lenient:
            # trtexec writes layer names unescaped: a name with a quote or backslash breaks strict JSON.
            fixed = re.sub(r'("(?:name|Name)"\s*:\s*")(.*?)("\s*,\s*")',
                           lambda m: m.group(1) + m.group(2).replace("\\", "\\\\").replace('"', '\\"') + m.group(3),
                           text)
            try:
                return json.loads(fixed)
            except json.JSONDecodeError:
                pass
        raise DataError(f"{path} is not valid JSON ({what}): {e}") from e


def detect_json_kind(path) -> str:
    """'tensorrt' (trtexec profile), 'onnxruntime' (ORT trace) or raise: for `jepa-edge profile FILE.json`."""
    data = _load_json(path, "profile", lenient=True)
    if isinstance(data, list) and data and isinstance(data[0], dict):
        if "count" in data[0]:
            return "tensorrt"
        if "cat" in data[0] and "ts" in data[0]:
            return "onnxruntime"
    raise DataError(f"{path}: neither a trtexec profile ([{{\"count\": N}}, ...]) nor an ONNX Runtime trace")


# ---------------------------------------------------------------- table

def profile_table(prof: OpProfile, top: int = 20, by_type: bool = False):
    from rich.markup import escape
    from rich.table import Table

    rows = prof.by_type() if by_type else prof.top(top)
    total = prof.total_ms or 1.0
    wall = f", wall {prof.wall_ms:.2f} ms/inference with counters on" if prof.wall_ms else ""
    t = Table(title=f"{prof.source} per-{'type' if by_type else 'op'} time: {escape(prof.what)} "
                    f"({prof.runs} runs; ops sum {prof.total_ms:.2f} ms{wall})",
              caption=escape("; ".join(prof.notes)) if prof.notes else None)
    cols = ("#", "type", "kernel", "ms", "%", "cum %", "n") if by_type else \
        ("#", "op", "type", "kernel", "ms", "%", "cum %")
    for col in cols:
        t.add_column(col, justify="right" if col in ("#", "ms", "%", "cum %", "n") else "left")
    cum = 0.0
    for i, o in enumerate(rows[:top], 1):
        cum += o.ms
        nums = [f"{o.ms:.3f}", f"{100 * o.ms / total:.1f}", f"{100 * cum / total:.1f}"]
        if by_type:
            t.add_row(str(i), o.op_type, escape(o.kernel) or "-", *nums, str(o.calls))
        else:
            t.add_row(str(i), escape(_short(o.name)), o.op_type, escape(o.kernel) or "-", *nums)
    return t


def _short(name: str, width: int = 80) -> str:
    """Cut long names in the middle: fused TensorRT names say most at the start, OpenVINO's at the end."""
    if len(name) <= width:
        return name
    head = width // 2 - 1
    return name[:head] + "…" + name[-(width - head - 1):]

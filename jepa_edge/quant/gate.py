"""The accuracy gate: an INT8 (or fp16/bf16) artifact is only "good" if it still computes what the
FP32 model computes on data the calibration never saw.

Metrics, on the held-out split: per-token cosine to FP32 (mean, 1st percentile, worst) and, when a
probe is given, the drop of the probe metric (e.g. the eval command's linear-probe accuracy).

When post-training quantization misses the gate, `run_gate` ranks the quantized layers by
sensitivity, keeps the most sensitive ones in float, quantizes again and re-checks, doubling the
number kept until the gate passes or the budget (a quarter of the layers) is spent; it reports
which layers it kept. Sensitivity here is the local quantization error of each matrix product:
its output computed from int8-rounded inputs (per-tensor activations from the calibration range,
per-channel weights) against its float output, on a few calibration samples. It costs one float
run with the inputs of every candidate exposed, instead of one re-quantization per layer.
If the budget is spent, the remedy left is quantization-aware training (see README, NNCF QAT).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from jepa_edge.quant.onnx_export import token_cosine


@dataclass(frozen=True)
class GateConfig:
    min_cos_mean: float = 0.99
    min_cos_p1: float = 0.95
    max_drop: float | None = None       # probe-metric drop allowed; without a probe: 1 - mean cosine
    retry: bool = True                  # keep sensitive layers in float and retry on failure
    max_float_fraction: float = 0.25    # retry budget: at most this share of quantized layers in float
    max_samples: int | None = None      # held-out samples evaluated (None: all)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GateMetrics:
    cos_mean: float
    cos_p1: float
    cos_worst: float
    n_samples: int
    n_tokens: int
    probe_fp32: float | None = None
    probe_quant: float | None = None
    probe_metric: str | None = None

    @property
    def probe_drop(self) -> float | None:
        return None if self.probe_quant is None else self.probe_fp32 - self.probe_quant

    def to_dict(self) -> dict:
        return {**asdict(self), "probe_drop": self.probe_drop}


@dataclass
class GateResult:
    passed: bool
    metrics: GateMetrics
    config: GateConfig
    reason: str = ""
    kept_float: list[dict] = field(default_factory=list)   # [{"node":, "module":, "sensitivity":}]
    attempts: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "reason": self.reason, **self.metrics.to_dict(),
                "thresholds": self.config.to_dict(), "kept_float": self.kept_float, "attempts": self.attempts,
                "split": "heldout"}


def reference_outputs(session, heldout: dict[str, np.ndarray], batch: int = 8) -> np.ndarray:
    """FP32 outputs on the held-out split, computed once and reused for every attempt."""
    return _run_all(session, heldout, batch)


def _run_all(session, arrays: dict[str, np.ndarray], batch: int) -> np.ndarray:
    n = len(next(iter(arrays.values())))
    fixed = session.inputs[0].shape[0]
    if isinstance(fixed, int):  # a static-batch artifact (OpenVINO batch 1) takes exactly that
        batch = fixed
    out_name = session.outputs[0].name
    return np.concatenate([session.run({k: v[i:i + batch] for k, v in arrays.items()})[out_name]
                           for i in range(0, n, batch)])


def measure(session, heldout: dict[str, np.ndarray], reference: np.ndarray, *, probe=None, probe_fp32=None,
            batch: int = 8) -> GateMetrics:
    got = _run_all(session, heldout, batch)
    cos = token_cosine(got, reference)
    m = GateMetrics(float(cos.mean()), float(np.percentile(cos, 1)), float(cos.min()), len(reference), int(cos.size))
    if probe is not None:
        m.probe_fp32, m.probe_quant = float(probe_fp32), float(probe(session))
        m.probe_metric = getattr(probe, "metric", getattr(probe, "__name__", "probe"))
    return m


def judge(m: GateMetrics, cfg: GateConfig) -> str:
    """'' when the metrics pass, else why not (one line)."""
    why = []
    if m.cos_mean < cfg.min_cos_mean:
        why.append(f"mean token cosine {m.cos_mean:.4f} < {cfg.min_cos_mean}")
    if m.cos_p1 < cfg.min_cos_p1:
        why.append(f"1st-percentile token cosine {m.cos_p1:.4f} < {cfg.min_cos_p1}")
    if cfg.max_drop is not None:
        drop = m.probe_drop if m.probe_drop is not None else 1.0 - m.cos_mean
        what = "probe metric drop" if m.probe_drop is not None else "cosine drop (1 - mean)"
        if drop > cfg.max_drop:
            why.append(f"{what} {drop:.4f} > --max-drop {cfg.max_drop}")
    return "; ".join(why)


# ----------------------------------------------------------------- per-layer sensitivity

def _fake_quant(x: np.ndarray, scale, zero: float = 0.0, lo: int = -128, hi: int = 127) -> np.ndarray:
    return (np.clip(np.round(x / scale) + zero, lo, hi) - zero) * scale


def _act_qdq(x: np.ndarray, lo: float, hi: float, symmetric: bool) -> np.ndarray:
    if symmetric:
        scale = max(abs(lo), abs(hi), 1e-12) / 127.0
        return _fake_quant(x, scale)
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = max(hi - lo, 1e-12) / 255.0
    zero = np.round(-128 - lo / scale)
    return _fake_quant(x, scale, zero)


def _weight_qdq(w: np.ndarray, axis: int) -> np.ndarray:
    red = tuple(i for i in range(w.ndim) if i != axis % w.ndim)
    scale = np.maximum(np.abs(w).max(axis=red, keepdims=True), 1e-12) / 127.0
    return _fake_quant(w, scale)


def node_scopes(fp32_onnx) -> dict[str, list[str]]:
    """ONNX node name -> the dynamo exporter's name scopes, outermost first, e.g.
    ['', 'blocks.3', 'blocks.3.mlp', 'blocks.3.mlp.fc2', 'linear_15'] ([] when absent)."""
    import ast

    import onnx

    model = onnx.load(str(fp32_onnx), load_external_data=False)
    out = {}
    for n in model.graph.node:
        raw = {p.key: p.value for p in n.metadata_props}.get("pkg.torch.onnx.name_scopes", "")
        try:
            scopes = list(ast.literal_eval(raw)) if raw else []
        except (ValueError, SyntaxError):
            scopes = []
        out[n.name] = [str(x) for x in scopes]
    return out


def module_names(fp32_onnx) -> dict[str, str]:
    """ONNX node name -> torch module path it came from ('' if unknown)."""
    return {k: (v[-2] if len(v) >= 2 else "") for k, v in node_scopes(fp32_onnx).items()}


def layer_sensitivity(fp32_onnx, calib, candidates: list[str] | None = None, *, n_samples: int = 8,
                      symmetric_activations: bool = False) -> list[dict]:
    """Rank MatMul/Gemm/Conv nodes of the FP32 ONNX by local INT8 error, most sensitive first."""
    import onnx

    from jepa_edge.inference.ort_session import OrtSession

    model = onnx.load(str(fp32_onnx))
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    nodes = [n for n in model.graph.node if n.op_type in ("MatMul", "Gemm", "Conv")
             and (candidates is None or n.name in candidates)]
    # expose every activation input of the candidates, plus their outputs, as graph outputs
    have = {o.name for o in model.graph.output}
    wanted = sorted({t for n in nodes for t in list(n.input[:2]) + [n.output[0]] if t and t not in inits} - have)
    model.graph.output.extend([onnx.ValueInfoProto(name=t) for t in wanted])
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="jepa-sens-") as tmp:
        path = Path(tmp) / "probe.onnx"
        onnx.save(model, str(path))
        sess = OrtSession(path, optimization="basic")
        names = [o.name for o in sess.ort_session.get_outputs()]
        runs = [dict(zip(names, sess.ort_session.run(names, s))) for s in calib.samples("calib", limit=n_samples, batch=1)]
    lo = {t: min(float(r[t].min()) for r in runs) for t in wanted}
    hi = {t: max(float(r[t].max()) for r in runs) for t in wanted}
    modules = module_names(fp32_onnx)
    ranking = []
    for n in nodes:
        errs = []
        for r in runs:
            ins = []
            for k, t in enumerate(n.input[:2]):
                if t in inits:
                    w = inits[t]
                    axis = 0 if n.op_type == "Conv" or (n.op_type == "Gemm" and _attr(n, "transB", 0)) else -1
                    ins.append(_weight_qdq(w.astype(np.float32), axis))
                else:
                    ins.append(_act_qdq(r[t], lo[t], hi[t], symmetric_activations))
            ref = r[n.output[0]]
            if n.op_type == "Conv":
                # input-noise estimate (no numpy conv): relative error of input + weight, added
                x_ref, w_ref = r[n.input[0]], inits[n.input[1]]
                e = (np.linalg.norm(ins[0] - x_ref) / max(np.linalg.norm(x_ref), 1e-12)
                     + np.linalg.norm(ins[1] - w_ref) / max(np.linalg.norm(w_ref), 1e-12))
            else:
                a, b = ins
                if n.op_type == "Gemm":
                    a = a.T if _attr(n, "transA", 0) else a
                    b = b.T if _attr(n, "transB", 0) else b
                y = np.matmul(a, b)
                if n.op_type == "Gemm" and len(n.input) > 2 and n.input[2] in inits:
                    y = y + inits[n.input[2]]
                e = np.linalg.norm(y - ref) / max(np.linalg.norm(ref), 1e-12)
            errs.append(float(e))
        ranking.append({"node": n.name, "module": modules.get(n.name, ""), "op": n.op_type,
                        "sensitivity": float(np.mean(errs))})
    ranking.sort(key=lambda d: -d["sensitivity"])
    return ranking


def _attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return a.i
    return default


# ----------------------------------------------------------------- the retry loop

def run_gate(quantize: Callable, reference: np.ndarray, heldout: dict[str, np.ndarray], cfg: GateConfig, *,
             rank: Callable[[], list[dict]] | None = None, narrow: Callable | None = None, probe=None,
             probe_fp32=None, log=print):
    """quantize(exclude: tuple[str, ...], narrow: bool) -> session of a fresh quantized artifact.

    Returns (GateResult, session of the last attempt). Attempts: as asked; then (if `narrow` is
    offered) matrix products only; then the top-k sensitive layers in float, k = 1, 2, 4, ...
    """
    attempts = []

    def attempt(exclude, narrowed, kept):
        sess = quantize(tuple(exclude), narrowed)
        m = measure(sess, heldout, reference, probe=probe, probe_fp32=probe_fp32)
        why = judge(m, cfg)
        attempts.append({"kept_float": [k["node"] for k in kept], "narrowed": narrowed, **m.to_dict(),
                         "passed": not why, "reason": why})
        log(f"gate attempt {len(attempts)}: mean cos {m.cos_mean:.4f}, p1 {m.cos_p1:.4f}, worst {m.cos_worst:.4f}"
            + (f", {len(kept)} layer(s) in float" if kept else "") + (f" -> {why}" if why else " -> pass"))
        return sess, m, why

    sess, m, why = attempt((), False, [])
    narrowed, kept = False, []
    if why and cfg.retry and narrow is not None:
        narrowed = True
        sess, m, why = attempt((), True, [])
    if why and cfg.retry and rank is not None:
        ranking = rank()
        budget = max(1, int(len(ranking) * cfg.max_float_fraction))
        k = 1
        while why and k <= budget:
            kept = ranking[:k]
            sess, m, why = attempt([r["node"] for r in kept], narrowed, kept)
            if k == budget:
                break
            k = min(2 * k, budget)
    if why and cfg.retry and rank is not None:
        why += ("; post-training quantization could not meet the gate with up to "
                f"{len(kept)} layers in float: try more calibration data, or quantization-aware training")
    return GateResult(not why, m, cfg, why, kept, attempts), sess

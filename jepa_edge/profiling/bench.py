"""`jepa-edge bench`: one table, one row per backend x precision, all measured in one interleaved run.

    rows = plan  ->  build (export, cached by content hash) or take bundles  ->  load + warm up
         ->  quality vs FP32 (per-token cosine)  ->  time all rows round-robin (with the peak
         kernels in the same rotation)  ->  % of peak = model ops / p50 / measured peak

Every step that can fail for one row (unknown backend, a precision the backend cannot do, a
bundle whose engine was built for another GPU, a missing extra, an export error) turns that row
into a status with a one-line reason; the other rows go on.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from jepa_edge.errors import JepaEdgeError
from jepa_edge.profiling.peak import CPU_SHAPES, PeakResult, measure_peak, openvino_chain_model, round_gops
from jepa_edge.profiling.results import BenchResult, BenchRow, command_line
from jepa_edge.profiling.timer import (MemoryWatch, TimingConfig, openvino_runner, session_runner,
                                       time_interleaved)
from jepa_edge.utils.device_info import describe
from jepa_edge.utils.files import dir_hash

DEFAULT_BACKENDS = ("torch", "onnxruntime", "openvino")
DEFAULT_PRECISIONS = ("fp32", "int8")


def default_cache_dir() -> Path:
    return Path(os.environ.get("JEPA_EDGE_CACHE", Path.home() / ".cache" / "jepa-edge")) / "bench"


@dataclass(frozen=True)
class BenchConfig:
    backends: tuple[str, ...] = DEFAULT_BACKENDS
    precisions: tuple[str, ...] = DEFAULT_PRECISIONS
    threads: int | None = None          # None: each backend's default (all cores)
    timing: TimingConfig = TimingConfig()
    calib: str | None = None            # calibration set (name or path) for int8 exports
    cache_dir: Path = field(default_factory=default_cache_dir)
    quality_samples: int = 8            # inputs for the per-token cosine vs FP32
    peak: bool = True                   # measure the matrix-product peak and interleave it
    peak_seconds: float = 0.3           # per shape, for the sweep that picks the peak shape
    peak_shapes: tuple = CPU_SHAPES     # (M, K, layers) tried for the peak
    hint: str = "LATENCY"               # OpenVINO performance hint
    probe: Callable | None = None       # probe(session) -> metric, higher is better (the export gate's probe)


@dataclass
class Candidate:
    """A row on its way: the session and runner exist only while the bench runs."""
    row: BenchRow
    session: object = None
    runner: Callable | None = None
    outputs: list = field(default_factory=list)   # outputs on the quality inputs


# ---------------------------------------------------------------- content-hash cache

def cache_key(model_hash: str, backend: str, precision: str, calib_hash: str | None) -> str:
    """Same model bytes, target, precision, calibration data and tool versions -> same bundle."""
    from jepa_edge.utils.device_info import backend_versions

    from jepa_edge import __version__

    blob = json.dumps([model_hash, backend, precision, calib_hash, __version__, backend_versions()], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def cached_export(model_dir: Path, backend: str, precision: str, cfg: BenchConfig, exporter=None) -> Path:
    """Export once per content hash; a cached bundle is reused only if its manifest verifies."""
    from jepa_edge.inference.manifest import read_manifest

    calib_hash = None
    if precision == "int8" and cfg.calib:
        import warnings

        from jepa_edge.quant.calibration import SmallCalibrationWarning, load_calibration_set

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmallCalibrationWarning)  # only the hash is needed here
            calib_hash = load_calibration_set(cfg.calib).hash
    out = Path(cfg.cache_dir) / "bundles" / f"{backend}-{precision}-{cache_key(dir_hash(model_dir), backend, precision, calib_hash)}"
    if out.is_dir():
        try:
            read_manifest(out, verify=True)
            return out
        except JepaEdgeError:
            shutil.rmtree(out, ignore_errors=True)  # stale or corrupt: rebuild
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (exporter or export_bundle)(model_dir, backend, precision, cfg.calib, tmp)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def export_bundle(model_dir: Path, backend: str, precision: str, calib: str | None, out: Path) -> Path:
    """The export helper's pipeline (the same code `jepa-edge export` runs), quietly."""
    from jepa_edge.quant.pipeline import export  # lazy: export pulls torch.onnx / nncf

    return export(model_dir, target=backend, precision=precision, calib=calib, out=out, overwrite=True, log=None).path


# ---------------------------------------------------------------- inputs, reference, quality

def quality_inputs(shape: tuple, n: int, calib: str | None, seed: int = 0) -> list[np.ndarray]:
    """n single-sample inputs: the calibration set's held-out split when given (real data), else a
    seeded standard normal (what a normalized image looks like to the model, statistically)."""
    if calib:
        import warnings

        from jepa_edge.quant.calibration import SmallCalibrationWarning, load_calibration_set

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmallCalibrationWarning)  # the export already warned
            arrays = load_calibration_set(calib).arrays("heldout", limit=n)
        x = next(iter(arrays.values()))
        return [x[i:i + 1].astype(np.float32) for i in range(len(x))]
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((1, *shape[1:])).astype(np.float32) for _ in range(n)]


def token_cosine_summary(ref: list[np.ndarray], out: list[np.ndarray]) -> dict:
    from jepa_edge.quant.onnx_export import token_cosine

    cos = np.concatenate([token_cosine(np.asarray(o, np.float32), r) for r, o in zip(ref, out)])
    return {"cos_mean": float(cos.mean()), "cos_p1": float(np.percentile(cos, 1)), "cos_min": float(cos.min()),
            "tokens": int(cos.size)}


def default_calibration(model_info: dict, cache_dir: Path, count: int = 64, held_out: int = 16) -> str:
    """A small calibration set from the built-in world at the model's input size, cached: enough
    for INT8 *latency* (which does not depend on the ranges); pass --calib for quality you can quote."""
    import warnings

    from jepa_edge.quant.calibration import SmallCalibrationWarning, write_calibration_set

    shape = model_info["input_shape"]
    out = Path(cache_dir) / "calibration" / f"world-{'x'.join(map(str, shape[1:]))}-{count}+{held_out}"
    if (out / "manifest.json").is_file():
        return str(out)
    if len(shape) != 4:
        raise JepaEdgeError("INT8 for a video encoder needs --calib (record clips with `jepa-edge calibrate`)")
    from jepa_edge.data.datasets import WorldImages

    images = WorldImages(n=count + held_out, size=shape[-1], seed=12345)
    samples = ({"pixels": images[i].numpy()} for i in range(len(images)))
    shutil.rmtree(out, ignore_errors=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCalibrationWarning)
        write_calibration_set(out, samples, count=count, held_out=held_out,
                              source={"kind": "built-in world", "seed": 12345, "by": "jepa-edge bench"},
                              normalization=images.normalization.to_dict())
    return str(out)


# ---------------------------------------------------------------- rows

def plan_rows(backends, precisions) -> list[tuple[str, str, str | None]]:
    """(backend, precision, reason it cannot be built or None), validated before any work."""
    from jepa_edge.quant.targets import validate_request

    rows = []
    for b in backends:
        for p in precisions:
            try:
                validate_request(b, p, calib="(checked later)")
                rows.append((b, p, None))
            except JepaEdgeError as e:
                rows.append((b, p, str(e)))
    return rows


def bundle_size_mb(manifest) -> float:
    """MB of a bundle's files, as its manifest records them."""
    return sum(f["bytes"] for f in manifest.files.values()) / 2**20


def open_row(bundle: Path, cfg: BenchConfig, inputs: list[np.ndarray], timing_input: np.ndarray) -> Candidate:
    """Load a bundle, run it on the quality inputs, build its runner, warm it up: one Candidate.
    Never raises: a failure becomes the row's status."""
    from jepa_edge.inference.manifest import read_manifest
    from jepa_edge.inference.load import load_bundle

    try:
        m = read_manifest(bundle, verify=False)  # labels the row even when verification fails
    except JepaEdgeError as e:
        return Candidate(BenchRow("?", "?", "failed_build", _one_line(e), str(bundle)))
    try:
        read_manifest(bundle, verify=True)
    except JepaEdgeError as e:
        return Candidate(BenchRow(m.backend, m.precision, "failed_build", _one_line(e), str(bundle)))
    row = BenchRow(m.backend, m.precision, "failed_gate" if m.status == "failed_gate" else "ok",
                   (m.gate or {}).get("reason", "") if m.status == "failed_gate" else "", str(bundle),
                   size_mb=round(bundle_size_mb(m), 4))
    opts = {"threads": cfg.threads} if cfg.threads and m.backend != "tensorrt" else {}
    if m.backend == "openvino":
        opts["hint"] = cfg.hint
    try:
        with MemoryWatch() as mem:
            session = load_bundle(bundle, allow_failed_gate=True, **opts)
            name = session.inputs[0].name
            outs = [session.run({name: x})[session.outputs[0].name] for x in inputs]
            if cfg.probe is not None:  # before timing: a probe failure is this row's failure too
                row.quality["probe"] = float(cfg.probe(session))
            runner = session_runner(session, {name: timing_input})
            for _ in range(max(1, cfg.timing.warmup // 4)):
                runner()
        row.mem_mb = round(mem.added_mb, 1)
    except Exception as e:  # noqa: BLE001 - one row's failure (foreign engine, missing extra) is its status
        row.status, row.reason = "failed_build", _one_line(e)
        return Candidate(row)
    row.executed = read_executed(session)
    return Candidate(row, session, runner, outs)


def read_executed(session) -> dict:
    """The row's executed precision from the live session; a reader that fails says so (never the request)."""
    from jepa_edge.inference.precision import executed_precision

    try:
        return executed_precision(session).to_dict()
    except Exception as e:  # noqa: BLE001 - the label must not kill the row; "?" is shown as unknown
        return {"requested": session.precision, "executed": "?", "reason": "", "source": f"not read: {_one_line(e)}",
                "ops": {}, "label": f"{session.precision} (executed precision not read)"}


def _one_line(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return msg if isinstance(e, JepaEdgeError) else f"{type(e).__name__}: {msg}"


# ---------------------------------------------------------------- peak in the same rotation

def peak_runners(peaks: dict[str, PeakResult], precisions, threads: int | None):
    """Runners for the best peak shape of each precision, timed in the same rotation as the
    models so that drift on a shared machine moves both; returns {precision: (runner, ops)}."""
    out = {}
    for p in precisions:
        pk = peaks.get(p)
        if pk is None:
            continue
        if pk.method.startswith("openvino"):
            import openvino as ov

            mk, layers = pk.shape.split(" x")
            m, k = (int(v) for v in mk.split("x"))
            cfgd = {"PERFORMANCE_HINT": "LATENCY"}
            if threads:
                cfgd["INFERENCE_NUM_THREADS"] = threads
            if p != "int8":
                cfgd["INFERENCE_PRECISION_HINT"] = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}[p]
            compiled = ov.Core().compile_model(openvino_chain_model(m, k, int(layers), p), "CPU", cfgd)
            x = np.random.default_rng(1).uniform(-1, 1, (m, k)).astype(np.float32)
            out[p] = (openvino_runner(compiled, [x]), 2 * m * k * k * int(layers))
        elif pk.method.startswith("torch") and pk.device == "cpu" and p in ("fp32", "bf16"):
            import torch

            n = int(pk.shape.split("x")[0])
            dtype = torch.float32 if p == "fp32" else torch.bfloat16
            a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
            out[p] = (lambda a=a, b=b: torch.mm(a, b), 2 * n**3)
    return out


# ---------------------------------------------------------------- the whole run

def run_bench(model_dir: Path | None, cfg: BenchConfig, bundles: list[Path] = (), model_info: dict | None = None,
              exporter=None, log: Callable[[str], None] = print) -> BenchResult:
    """Build/load every row, then time all of them interleaved. `model_info` carries name/arch/
    img_size/macs when known (the CLI fills it from the model dir)."""
    model_info = dict(model_info or {})
    load_before = _loadavg()

    calib_note = "given" if cfg.calib else None
    if model_dir is not None and "int8" in cfg.precisions and not cfg.calib and model_info.get("input_shape"):
        try:
            cfg = replace(cfg, calib=default_calibration(model_info, cfg.cache_dir))
            calib_note = "built-in world, 64 samples (latency only: pass --calib for quality to quote)"
        except JepaEdgeError as e:
            log(f"no default calibration set: {e}")
    # slots in matrix order (backend-major), then the given bundles: the table reads as asked
    slots: list[tuple[str, str, Path | None, str | None]] = []
    if model_dir is not None:
        for backend, precision, reason in plan_rows(cfg.backends, cfg.precisions):
            if reason:
                slots.append((backend, precision, None, reason))
                continue
            try:
                log(f"export {backend}/{precision} (cached by content hash)")
                slots.append((backend, precision, cached_export(Path(model_dir), backend, precision, cfg, exporter), None))
            except Exception as e:  # noqa: BLE001 - an export failure is this row's status
                slots.append((backend, precision, None, _one_line(e)))
    slots += [("?", "?", Path(b), None) for b in bundles]

    shape = _input_shape(model_info, [p for _, _, p, _ in slots if p is not None])
    inputs = quality_inputs(shape, cfg.quality_samples, cfg.calib) if shape else []
    timing_input = inputs[0] if inputs else None
    planned: list[Candidate] = []
    for backend, precision, path, err in slots:
        if path is None:
            planned.append(Candidate(BenchRow(backend, precision, "failed_build", err)))
            continue
        log(f"load {path.name}")
        planned.append(open_row(path, cfg, inputs, timing_input))

    reference = _reference_outputs(model_dir or model_info.get("model_dir"), inputs, planned)
    for c in planned:
        if c.runner is not None and reference is not None:
            try:
                c.row.quality = {**token_cosine_summary(reference, c.outputs), **c.row.quality}
            except ValueError as e:  # e.g. a bundle of another model: its outputs do not match
                c.row.quality = {"error": f"cannot compare with the FP32 reference: {e}"}

    peaks: dict[str, PeakResult] = {}
    runners = {f"{c.row.key}#{i}": c.runner for i, c in enumerate(planned) if c.runner is not None}
    peak_keys = {}
    if cfg.peak:
        log("measure the matrix-product peak of each precision timed")
        cpu_rows = {_peak_precision(c.row) for c in planned if c.runner is not None and c.row.backend != "tensorrt"}
        gpu_rows = any(c.runner is not None and c.row.backend == "tensorrt" for c in planned)
        peaks = measure_peak(sorted(cpu_rows), cfg.threads, cfg.peak_seconds, cuda=gpu_rows, shapes=cfg.peak_shapes)
        for p, (runner, ops) in peak_runners(peaks, sorted(cpu_rows), cfg.threads).items():
            runners[f"peak/{p}"] = runner
            peak_keys[p] = ops
    log(f"time {len(runners)} configurations interleaved: {cfg.timing.warmup} warm-up + {cfg.timing.iters} runs each")
    outcome = time_interleaved(runners, cfg.timing)

    for p, ops in peak_keys.items():  # the peak as measured in the rotation replaces the sweep's
        st = outcome[f"peak/{p}"].stats
        if st is not None:
            swept = peaks[p]
            peaks[p] = replace(swept, gops=round_gops(ops / (st.p50_ms / 1e3) / 1e9),
                               method=swept.method + ", p50 in the bench rotation",
                               tried={**swept.tried, "sweep best": swept.gops})
    ops = 2 * model_info["macs"] if model_info.get("macs") else None
    for i, c in enumerate(planned):
        key = f"{c.row.key}#{i}"
        if key not in outcome:
            continue
        out = outcome[key]
        if out.stats is None:
            c.row.status, c.row.reason = "failed_run", out.error
            continue
        c.row.latency = out.stats
        if ops:
            c.row.gops = round_gops(ops / (out.stats.p50_ms / 1e3) / 1e9)
            pk = peaks.get(("cuda:" if c.row.backend == "tensorrt" else "") + _peak_precision(c.row))
            if pk and pk.gops > 0:
                c.row.pct_peak = round(100 * c.row.gops / pk.gops, 3)
    for c in planned:
        if c.session is not None:
            c.session.close()
    if ops:
        model_info["ops"] = ops
    settings = {"warmup": cfg.timing.warmup, "iters": cfg.timing.iters, "batch": cfg.timing.batch, "clock": cfg.timing.clock,
                "threads": cfg.threads, "hint": cfg.hint, "order": "round-robin, start rotated each round",
                "calibration": calib_note,
                "quality_inputs": "calibration held-out split" if cfg.calib else "seeded standard normal",
                "quality_samples": len(inputs), "peak_interleaved": bool(peak_keys),
                "loadavg_before": load_before, "loadavg_after": _loadavg()}
    return BenchResult([c.row for c in planned], describe(), settings, model_info, peaks, command_line())


def _peak_precision(row: BenchRow) -> str:
    """The peak a row is measured against: that of the math that executed (a bf16 row that ran f32 is
    held to the f32 peak; weight-only INT8 runs f32 math)."""
    p = row.executed.get("executed") if row.executed.get("executed") not in (None, "?") else row.precision
    return {"int8w": "fp32"}.get(p, p)


def _loadavg() -> float | None:
    """1-minute load average: a result taken on a busy machine says so (compare with `cores`)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _input_shape(model_info: dict, bundles: list[Path]) -> tuple | None:
    if model_info.get("input_shape"):
        return tuple(model_info["input_shape"])
    from jepa_edge.inference.manifest import read_manifest

    for b in bundles:
        try:
            spec = read_manifest(b, verify=False).inputs[0]
        except JepaEdgeError:
            continue
        return tuple(d if isinstance(d, int) else 1 for d in spec.shape)
    return None


def _reference_outputs(model_dir, inputs, planned: list[Candidate]):
    """FP32 reference: the torch model from the model dir (or the bundles' source model dir); else
    an fp32 row among the bundles."""
    if not inputs:
        return None
    if model_dir is not None and Path(model_dir, "config.json").is_file():
        import torch

        from jepa_edge.models.model_dir import load_model_dir

        enc = load_model_dir(model_dir).encoder.eval()
        with torch.inference_mode():
            return [enc(torch.from_numpy(x)).numpy() for x in inputs]
    for c in planned:
        if c.runner is not None and c.row.precision == "fp32":
            return c.outputs
    return None


# ---------------------------------------------------------------- what is being benched

def model_info_from_config(enc_cfg, name: str = "") -> dict:
    from jepa_edge.models.flops import encoder_macs

    s = enc_cfg.img_size
    shape = (1, enc_cfg.in_chans, enc_cfg.num_frames, s, s) if enc_cfg.is_video else (1, enc_cfg.in_chans, s, s)
    return {"name": name or f"{enc_cfg.arch}/{enc_cfg.patch_size}@{s}", "arch": enc_cfg.arch,
            "patch_size": enc_cfg.patch_size, "img_size": s, "num_frames": enc_cfg.num_frames,
            "macs": int(encoder_macs(enc_cfg)), "input_shape": list(shape)}


def model_info_from_dir(model_dir: Path) -> dict:
    from jepa_edge.models.config import EncoderConfig
    from jepa_edge.models.model_dir import read_config

    cfg = EncoderConfig.from_dict(read_config(model_dir)["encoder"])
    info = model_info_from_config(cfg)
    info["model_dir"], info["source_hash"] = str(model_dir), dir_hash(Path(model_dir))
    return info


def model_info_from_bundle(bundle: Path) -> dict:
    """From a bundle's manifest (its `model.config.encoder`), when the exporter recorded it."""
    from jepa_edge.models.config import EncoderConfig
    from jepa_edge.inference.manifest import read_manifest

    try:
        m = read_manifest(bundle, verify=False)
        cfg = m.model.get("config") or {}
        enc = cfg.get("encoder", cfg) if m.part == "encoder" else None  # the part's own config
        info = model_info_from_config(EncoderConfig.from_dict(enc)) if enc else {}
    except (JepaEdgeError, TypeError, KeyError, ValueError):
        return {}
    src = m.model.get("source_path")
    if src and (Path(src) / "config.json").is_file():
        info["model_dir"] = src  # the FP32 reference for the quality column
    return info


def random_model_dir(arch: str, img_size: int, cache_dir: Path, seed: int = 0) -> Path:
    """A seeded randomly initialised encoder saved as a model dir (latency does not depend on the
    weights; quality vs FP32 on random weights is optimistic: no outliers)."""
    from jepa_edge.models.model_dir import ModelDir, save_model_dir
    from jepa_edge.models.registry import build_encoder

    out = Path(cache_dir) / "models" / f"{arch.replace('/', '-')}-{img_size}-seed{seed}"
    if (out / "config.json").is_file() and (out / "model.safetensors").is_file():
        return out
    import torch

    torch.manual_seed(seed)
    enc = build_encoder(arch, img_size=img_size).eval()
    save_model_dir(out, ModelDir(encoder=enc), source={"kind": "random-init", "seed": seed})
    return out

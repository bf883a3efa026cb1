"""`export(model_dir, target, precision, ...)`: one model part -> one verified artifact bundle.

Order matters and is the point of this module:
  1. validate the request against the target table and the calibration set (no work yet);
  2. export FP32 ONNX and check it against torch (errors here are exporter errors, not INT8 ones);
  3. build the backend artifact (OpenVINO IR, ORT QDQ, TensorRT Q/DQ ONNX / engine / Jetson kit);
  4. run the accuracy gate on the held-out split; retry with sensitive layers in float;
  5. write the manifest last and move the folder into place: a bundle either has a manifest that
     says what it is (ok / failed_gate / kit) or does not exist.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jepa_edge.errors import ConfigError, DataError
from jepa_edge.inference.manifest import Manifest, write_manifest
from jepa_edge.latent import LatentSpec
from jepa_edge.quant import targets as T
from jepa_edge.quant.gate import GateConfig, GateResult, judge, measure, reference_outputs, run_gate
from jepa_edge.quant.onnx_export import (EXPORTER, OPSET, Parity, PartIO, ac_predictor_io, check_parity, check_size,
                                         encoder_io, export_onnx)
from jepa_edge.utils.files import owned_tempdir, remove_stale_tempdirs, sha256_bytes


@dataclass
class ExportResult:
    path: Path
    manifest: Manifest
    gate: GateResult | None
    parity: Parity
    seconds: float
    log: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.manifest.status != "failed_gate"

    @property
    def precision_label(self) -> str:
        """`int8`, or `bf16 → fp32 (no BF16 on this CPU)` when the request fell back."""
        from jepa_edge.inference.precision import label_of

        return label_of(self.manifest.precision, self.manifest.precision_executed)

    def summary(self) -> dict:
        g = self.gate.to_dict() if self.gate else None
        ex = self.manifest.precision_executed or {}
        return {"path": str(self.path), "status": self.manifest.status, "target": self.manifest.target,
                "precision": self.precision_label, "precision_requested": self.manifest.precision,
                "precision_executed": ex.get("executed"), "part": self.manifest.part, "parity": self.parity.to_dict(),
                "gate": g, "seconds": round(self.seconds, 2)}


# ----------------------------------------------------------------- model source

@dataclass
class Source:
    bundle: object          # jepa_edge.models.model_dir.ModelDir
    config: dict
    hash: str
    path: Path | None


def load_source(model, trust_unverified: bool = False) -> Source:
    """A model dir path (hash: its config.json, which records the weights sha256) or an in-memory
    ModelDir (hash: configs + weights)."""
    from jepa_edge.models.model_dir import CONFIG_NAME, load_model_dir, resolve_model_path

    if isinstance(model, (str, os.PathLike)):
        path = resolve_model_path(model)
        bundle = load_model_dir(path, trust_unverified=trust_unverified)
        raw = (path / CONFIG_NAME).read_bytes()
        return Source(bundle, json.loads(raw), sha256_bytes(raw), path)
    bundle = model
    from safetensors.torch import save

    h = hashlib.sha256()
    for name, module in sorted(bundle.parts().items()):
        h.update(name.encode())
        h.update(json.dumps(module.cfg.to_dict(), sort_keys=True).encode())
        h.update(save({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}))
    return Source(bundle, dict(bundle.config or {}), h.hexdigest(), None)


def part_module_and_io(src: Source, part: str, frames: int | None, shared_frame: bool = False) -> tuple[object, PartIO]:
    module = getattr(src.bundle, part, None)
    if module is None:
        have = ", ".join(src.bundle.parts()) or "nothing"
        raise ConfigError(f"the model holds no {part} (it has: {have}); train or convert one first")
    if part == "encoder":
        return module, encoder_io(module.cfg)
    if shared_frame:
        from jepa_edge.models.ac_predictor import SharedFramePredictor

        return SharedFramePredictor(module), ac_predictor_io(module.cfg, 1, shared_frame=True)
    return module, ac_predictor_io(module.cfg, frames or 1)


# Backends whose planning bundles take one shared frame by default (TensorRT: not yet run on hardware).
SHARED_FRAME_BACKENDS = ("onnxruntime", "openvino")


def resolve_shared_frame(requested: bool | None, backend: str, part: str, frames: int | None) -> bool:
    """Whether an export takes one frame shared by every sample (`--shared-frame`; None = the default:
    yes for one-frame AC-predictor exports to ONNX Runtime and OpenVINO, where it was measured)."""
    fits = part == "ac_predictor" and (frames or 1) == 1 and backend in SHARED_FRAME_BACKENDS
    if requested and not fits:
        raise ConfigError("--shared-frame applies to --part ac_predictor with --frames 1 on an onnxruntime or openvino "
                          "target: drop it")
    return fits if requested is None else requested


def _normalization(src: Source) -> dict | None:
    n = src.config.get("normalization")
    return {"mean": list(n["mean"]), "std": list(n["std"])} if n else None


def latent_spec(src: Source) -> LatentSpec:
    """The source's latent spec, for the bundle to carry: the robot never reads the model dir."""
    config = dict(src.config)
    if not config.get("encoder") and src.bundle.encoder is not None:  # an in-memory ModelDir
        config["encoder"] = src.bundle.encoder.cfg.to_dict()
    return LatentSpec.from_model_config(config)


# ----------------------------------------------------------------- the export

def export(model, target: str, precision: str, *, out: str | os.PathLike, part: str = "encoder", calib=None,
           gate: GateConfig | None = None, probe=None, dla_core: int | None = None, frames: int | None = None,
           ort_scheme=None, nncf_scheme=None, overwrite: bool = False, trust_unverified: bool = False,
           shared_frame: bool | None = None, log=print) -> ExportResult:
    """Export one part of `model` (model dir path or ModelDir) to a bundle at `out`.

    calib: calibration set name/path or CalibrationSet (required for int8; gives the held-out
    split the gate uses for every precision). probe: callable(session) -> metric (higher is
    better) whose drop the gate bounds with gate.max_drop. Returns an ExportResult; a bundle that
    misses the gate is still written (status "failed_gate") so it can be inspected, and
    `jepa_edge.inference.load` refuses it by default. shared_frame: see `resolve_shared_frame`.
    """
    t0 = time.perf_counter()
    lines: list[str] = []

    def say(msg: str):
        lines.append(msg)
        if log:
            log(msg)

    req = T.validate_request(target, precision, part=part, calib=calib, dla_core=dla_core)
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out} exists and is not empty; choose another --out or pass --overwrite")
    if req.target.backend == "tensorrt" and not req.target.kit:
        from jepa_edge.quant.tensorrt_export import import_tensorrt

        import_tensorrt()  # building here needs TensorRT: say so now, not after calibration
    cs = None
    if calib is not None:
        from jepa_edge.quant.calibration import CalibrationSet, SmallCalibrationWarning, load_calibration_set

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SmallCalibrationWarning)
            cs = calib if isinstance(calib, CalibrationSet) else load_calibration_set(calib)
        for w in caught:
            say(f"warning: {w.message}")
        if frames is None and part == "ac_predictor" and "actions" in cs.manifest["inputs"]:
            frames = cs.manifest["inputs"]["actions"]["shape"][0]
    src = load_source(model, trust_unverified=trust_unverified)
    shared = resolve_shared_frame(shared_frame, req.target.backend, part, frames)
    module, io = part_module_and_io(src, part, frames, shared)
    check_size(module, part)
    if cs is not None:
        cs.check_matches(io.inputs, what=f"the {part}")
        norm, cnorm = _normalization(src), cs.manifest.get("normalization")
        same = norm is None or cnorm is None or (np.allclose(norm["mean"], cnorm["mean"])
                                                   and np.allclose(norm["std"], cnorm["std"]))
        if part == "encoder" and not same:
            raise DataError(f"calibration set {cs.name!r} was normalized with {cnorm}, the model expects {norm}: "
                            f"record it again for this model")
        if cs.count("heldout") == 0 and precision != "fp32":
            raise DataError(f"calibration set {cs.name!r} has no held-out split: the accuracy gate needs one "
                            f"(record with --held-out N)")
    gate_cfg = gate or GateConfig()

    out.parent.mkdir(parents=True, exist_ok=True)
    # A killed export leaves its work dir (.OUT.export-HOST-PID.*) beside OUT: remove those whose
    # process is gone (or, another host's or a reused pid, unmodified for a week); a live export's stays.
    for stale in remove_stale_tempdirs(out, "export", legacy=True):
        say(f"removed {stale.name}, left by an export that did not finish")
    work = owned_tempdir(out, "export")
    try:
        stage = work / "bundle"
        stage.mkdir()
        fp32_onnx = work / "fp32.onnx"
        static = not req.target.dynamic_batch
        key = (src.hash, part, tuple(tuple(s.shape) for s in io.inputs))
        if key in _FP32_ONNX and _FP32_ONNX[key].is_file():
            shutil.copy2(_FP32_ONNX[key], fp32_onnx)
            say(f"[1/4] ONNX export ({EXPORTER}, opset {OPSET}) of the {part}: reused from this session")
        else:
            say(f"[1/4] ONNX export ({EXPORTER}, opset {OPSET}) of the {part}"
                + (" (one frame shared by every sample: the planner's graph)" if shared else ""))
            export_onnx(module, io, fp32_onnx, dynamic_batch=True, max_batch=MAX_EXPORT_BATCH)
            _remember_onnx(key, fp32_onnx)
        parity_inputs = cs.arrays("heldout", limit=2) if cs is not None and cs.count("heldout") else io.example(2)
        parity = check_parity(module, fp32_onnx, parity_inputs)
        say(f"      FP32 parity vs torch: max abs {parity.max_abs:.2e}, worst token cosine {parity.cos_min:.6f}")
        bundle_io = io.with_batch(req.batch) if static else io

        ctx = _Ctx(req, src, module, io, bundle_io, cs, gate_cfg, probe, fp32_onnx, work, stage, say,
                   ort_scheme, nncf_scheme)
        from jepa_edge.quant import backends

        say(f"[2/4] build {req.target.name} {precision}")
        manifest = backends.BUILDERS[req.target.backend](ctx)
        manifest.model = {"source_hash": src.hash, "source_path": str(src.path) if src.path else None,
                          "config": src.config.get(part) or module.cfg.to_dict(), "arch": getattr(module.cfg, "arch", part)}
        manifest.latent = latent_spec(src)
        manifest.shared_frame = shared
        manifest.layout = ("NCTHW" if io.inputs[0].shape.__len__() == 5 else "NCHW") if part == "encoder" else "tokens"
        if cs is not None:
            manifest.calibration = {"name": cs.name, "hash": cs.hash, "count": cs.count("calib"),
                                    "heldout": cs.count("heldout"), "source": cs.manifest.get("source")}
        manifest.scheme.setdefault("exporter", {"name": EXPORTER, "opset": OPSET})
        manifest.scheme["fp32_parity"] = parity.to_dict()
        manifest.precision_executed = backends.executed(ctx, manifest)
        if manifest.precision_executed["executed"] not in (precision, "?"):
            say(f"warning: precision {manifest.precision_executed['label']}: the bundle is labelled with what ran "
                f"({manifest.precision_executed['source']})")
        say("[4/4] write manifest")
        write_manifest(stage, manifest)
        if out.exists():
            shutil.rmtree(out)
        os.replace(stage, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res = ExportResult(out, manifest, ctx.gate_result, parity, time.perf_counter() - t0, lines)
    say(f"{'OK' if res.passed else 'FAILED GATE'}: {out} ({manifest.status}, {res.precision_label}, {res.seconds:.1f} s)")
    return res


# The FP32 ONNX of a (source, part, shape) is the same for every target and precision: export it
# once per process (the dynamo exporter is the slowest step for small models). The batch axis is
# symbolic; MAX_EXPORT_BATCH only bounds the exporter's shape guard, profiles set their own.
MAX_EXPORT_BATCH = 1024
_FP32_ONNX: dict[tuple, Path] = {}
_CACHE_DIR: list[Path] = []


def _remember_onnx(key: tuple, path: Path) -> None:
    if not _CACHE_DIR:
        import atexit

        _CACHE_DIR.append(Path(tempfile.mkdtemp(prefix="jepa-edge-onnx-")))
        atexit.register(shutil.rmtree, _CACHE_DIR[0], True)
    dst = _CACHE_DIR[0] / f"{len(_FP32_ONNX)}.onnx"
    shutil.copy2(path, dst)
    _FP32_ONNX[key] = dst


@dataclass
class _Ctx:
    """Everything a backend builder needs, so builders stay small functions."""
    req: T.ExportRequest
    src: Source
    module: object
    io: PartIO                  # dynamic-batch io of the part
    bundle_io: PartIO           # io recorded in the manifest (static batch where the target wants it)
    calib: object | None
    gate_cfg: GateConfig
    probe: object | None
    fp32_onnx: Path
    work: Path
    stage: Path
    say: object
    ort_scheme: object = None
    nncf_scheme: object = None
    gate_result: GateResult | None = None

    @property
    def precision(self) -> str:
        return self.req.precision

    def heldout(self) -> dict[str, np.ndarray] | None:
        if self.calib is None or not self.calib.count("heldout"):
            return None
        return self.calib.arrays("heldout", limit=self.gate_cfg.max_samples)

    def reference(self, heldout):
        from jepa_edge.inference.ort_session import OrtSession

        ref_sess = OrtSession(self.fp32_onnx)
        probe_fp32 = self.probe(ref_sess) if self.probe else None
        return reference_outputs(ref_sess, heldout), probe_fp32

    def check(self, session) -> GateResult | None:
        """Gate without retries (fp16/bf16 and fp32 artifacts): measured and recorded."""
        held = self.heldout()
        if held is None:
            return None
        ref, probe_fp32 = self.reference(held)
        self.say("[3/4] accuracy gate on the held-out split")
        m = measure(session, held, ref, probe=self.probe, probe_fp32=probe_fp32)
        why = judge(m, self.gate_cfg)
        self.say(f"      mean cos {m.cos_mean:.4f}, p1 {m.cos_p1:.4f}, worst {m.cos_worst:.4f}"
                 + (f" -> {why}" if why else " -> pass"))
        self.gate_result = GateResult(not why, m, self.gate_cfg, why)
        return self.gate_result

    def gated(self, quantize, rank=None, narrow=None):
        held = self.heldout()
        ref, probe_fp32 = self.reference(held)
        self.say("[3/4] accuracy gate on the held-out split")
        result, session = run_gate(quantize, ref, held, self.gate_cfg, rank=rank, narrow=narrow, probe=self.probe,
                                   probe_fp32=probe_fp32, log=self.say)
        self.gate_result = result
        return result, session

    def manifest(self, entry: str, backend: str | None = None, scheme: dict | None = None, status: str | None = None
                 ) -> Manifest:
        g = self.gate_result
        st = status or ("failed_gate" if g is not None and not g.passed else "ok")
        return Manifest(backend=backend or self.req.target.backend, target=self.req.target.name, part=self.req.part,
                        precision=self.precision, entry=entry, inputs=list(self.bundle_io.inputs),
                        outputs=list(self.bundle_io.outputs), scheme=dict(scheme or {}),
                        gate=g.to_dict() if g is not None else None, status=st)

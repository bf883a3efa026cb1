"""`--precision auto`: choose backend x precision by measurement, on this machine or from a bench JSON
copied back from the target device.

The rule (measured p50 first, the ISA prior only as a tie-break):
  1. candidates: the rows that ran (status ok: built, passed the accuracy gate, timed) and whose
     executed precision is the one asked for (a `bf16 → fp32` row is the fp32 row again, not bf16);
  2. the fastest p50 wins, unless the ISA prior says its precision does not pay on this CPU (INT8
     without VNNI/AMX, BF16 without AVX512-BF16/AMX) and a candidate the prior favours is within
     `margin` (5%) of it: then the favoured one wins (a gain inside the noise of a shared machine
     is not one to ship against the prior);
  3. the runner-up is the next row in that order; both p50s are reported.
On CPUs where full INT8 does not pay, weight-only INT8 (`int8w`) is among the OpenVINO candidates.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from jepa_edge.errors import ConfigError
from jepa_edge.profiling.results import BenchResult, BenchRow

MARGIN = 0.05
CPU_BACKENDS = ("onnxruntime", "openvino")


def _flags(isa) -> set[str]:
    return set(isa or [])


def int8_pays(isa, caps=None) -> bool:
    f = _flags(isa)
    return bool(f & {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"})


def bf16_pays(isa, caps=None) -> bool:
    f = _flags(isa)
    return bool(f & {"avx512_bf16", "amx_bf16", "bf16"})


def favoured(backend: str, precision: str, isa, caps=None) -> bool:
    """The ISA prior: does this precision pay on this device? GPUs: measurement alone decides."""
    if backend == "tensorrt" or precision in ("fp32", "int8w"):
        return True
    if precision == "int8":
        return int8_pays(isa, caps)
    if precision == "bf16":
        return bf16_pays(isa, caps)
    if precision == "fp16":
        return "FP16" in (caps or [])
    return True


def candidates(backends, isa, caps, target_precisions: dict[str, tuple[str, ...]] | None = None
               ) -> list[tuple[str, str]]:
    """The backend x precision pairs worth measuring here: fp32 and int8 everywhere they exist, bf16
    where the CPU has it, weight-only INT8 where full INT8 does not pay."""
    from jepa_edge.quant.targets import get_target

    out = []
    for b in backends:
        have = (target_precisions or {}).get(b) or get_target(b).precisions
        for p in have:
            if p == "bf16" and not bf16_pays(isa, caps) and b != "tensorrt":
                continue  # it would run fp32: the fp32 row already measures that
            if p == "int8w" and int8_pays(isa, caps):
                continue  # full INT8 pays here
            if p == "fp16" and b != "tensorrt" and "FP16" not in (caps or []):
                continue
            out.append((b, p))
    return out


@dataclass
class Pick:
    backend: str
    precision: str
    p50_ms: float
    favoured: bool
    size_mb: float | None = None
    mem_mb: float | None = None
    bundle: str = ""

    @property
    def key(self) -> str:
        return f"{self.backend}/{self.precision}"


@dataclass
class Choice:
    chosen: Pick
    runner_up: Pick | None
    rule: str
    excluded: list[dict] = field(default_factory=list)   # {key, why}
    ranked: list[Pick] = field(default_factory=list)
    isa: list[str] = field(default_factory=list)
    source: str = "measured here"

    def line(self) -> str:
        c, r = self.chosen, self.runner_up
        s = f"precision auto: chose {c.key} (p50 {c.p50_ms:.2f} ms)"
        s += f", runner-up {r.key} (p50 {r.p50_ms:.2f} ms)" if r else ", no runner-up"
        return s + f"; {self.rule} [{self.source}]"

    def to_dict(self) -> dict:
        return {"chosen": asdict(self.chosen), "runner_up": asdict(self.runner_up) if self.runner_up else None,
                "rule": self.rule, "excluded": self.excluded, "ranked": [asdict(p) for p in self.ranked],
                "isa": self.isa, "source": self.source, "line": self.line()}


def choose(rows: list[BenchRow], isa, caps=None, margin: float = MARGIN, source: str = "measured here") -> Choice:
    """Pick from measured rows (see the module doc for the rule). Raises ConfigError when none qualifies."""
    picks, excluded = [], []
    for r in rows:
        ex = (r.executed or {}).get("executed")
        if r.status != "ok" or r.latency is None:
            excluded.append({"key": r.key, "why": f"{r.status}: {r.reason}".strip(": ")})
        elif ex not in (None, "?", r.precision):
            excluded.append({"key": r.key, "why": f"ran {ex}, not {r.precision} ({r.label})"})
        else:
            picks.append(Pick(r.backend, r.precision, r.latency.p50_ms, favoured(r.backend, r.precision, isa, caps),
                              r.size_mb, r.mem_mb, r.bundle))
    if not picks:
        why = "; ".join(f"{e['key']}: {e['why']}" for e in excluded) or "no rows"
        raise ConfigError(f"precision auto: no backend x precision ran and passed the gate ({why})")
    picks.sort(key=lambda p: p.p50_ms)
    best = picks[0]
    rule = "fastest measured p50"
    if not best.favoured:
        near = [p for p in picks if p.favoured and p.p50_ms <= best.p50_ms * (1 + margin)]
        if near:
            rule = (f"{best.key} was fastest by under {margin:.0%}, but the ISA prior says {best.precision} does not "
                    f"pay on this CPU: the fastest favoured candidate within {margin:.0%} wins")
            picks.remove(near[0])
            picks.insert(0, near[0])
        else:
            rule = f"fastest measured p50 (by more than {margin:.0%}, against the ISA prior)"
    return Choice(picks[0], picks[1] if len(picks) > 1 else None, rule, excluded, picks, list(isa or []), source)


def choose_from_bench(path, backend: str | None = None, margin: float = MARGIN) -> Choice:
    """Choose from a bench JSON (e.g. copied back from a Jetson); the prior is the *bench device's* ISA."""
    from jepa_edge.profiling.results import load_result

    res: BenchResult = load_result(path)
    rows = [r for r in res.rows if backend is None or r.backend == backend]
    if not rows:
        raise ConfigError(f"{path} has no {backend} rows (it has: {', '.join(sorted({r.backend for r in res.rows}))})")
    dev = res.device or {}
    return choose(rows, dev.get("isa", []), dev.get("openvino_capabilities", []), margin,
                  source=f"from {Path(path).name} ({dev.get('cpu', '?')}" + (f", {', '.join(dev['gpus'])}" if dev.get("gpus") else "") + ")")


def measure(model_dir, backends=CPU_BACKENDS, calib: str | None = None, timing=None, cache_dir=None,
            threads: int | None = None, log=print) -> tuple[BenchResult, Choice]:
    """Export (cached) and time the candidates for this machine side by side, then choose."""
    from dataclasses import replace

    from jepa_edge.profiling.bench import BenchConfig, model_info_from_dir, run_bench
    from jepa_edge.profiling.timer import TimingConfig
    from jepa_edge.utils.device_info import isa_features, openvino_capabilities

    isa, caps = isa_features(), openvino_capabilities()
    pairs = candidates(backends, isa, caps)
    precisions = tuple(dict.fromkeys(p for _, p in pairs))
    cfg = BenchConfig(backends=tuple(backends), precisions=precisions, threads=threads,
                      timing=timing or TimingConfig(warmup=10, iters=60), calib=calib, peak=False)
    if cache_dir is not None:
        cfg = replace(cfg, cache_dir=Path(cache_dir))
    res = run_bench(Path(model_dir), cfg, model_info=model_info_from_dir(Path(model_dir)), log=log)
    res.rows = [r for r in res.rows if (r.backend, r.precision) in pairs]
    return res, choose(res.rows, isa, caps)


def measure_ac_predictor(model_dir, calib, backends=CPU_BACKENDS, samples: int = 256, threads: int = 1,
                         timing=None, log=print) -> tuple[list[BenchRow], Choice]:
    """`--precision auto` for the AC predictor: export every candidate here (each through its own
    accuracy gate) and time what the planner runs, one rollout of `samples` actions from one frame
    at the planner's batch, side by side; then choose by the same rule as for encoders."""
    import tempfile

    import numpy as np

    from jepa_edge.errors import JepaEdgeError
    from jepa_edge.loop.assemble import load_session
    from jepa_edge.planning.planner import LatentDynamics
    from jepa_edge.profiling.bench import bundle_size_mb, read_executed
    from jepa_edge.profiling.timer import TimingConfig, time_interleaved
    from jepa_edge.quant.pipeline import export
    from jepa_edge.utils.device_info import isa_features, openvino_capabilities

    isa, caps = isa_features(), openvino_capabilities()
    rows, runners, sessions = [], {}, []
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="jepa-edge-auto-") as tmp:
        for backend, precision in candidates(backends, isa, caps):
            row = BenchRow(backend, precision)
            rows.append(row)
            log(f"  export + gate {row.key}")
            try:
                res = export(model_dir, backend, precision, part="ac_predictor", calib=calib,
                             out=Path(tmp) / f"{backend}-{precision}", log=None)
            except JepaEdgeError as e:
                row.status, row.reason = "failed_build", str(e)
                continue
            if not res.passed:
                row.status, row.reason = "failed_gate", res.gate.reason if res.gate else "failed its gate"
                continue
            session = load_session(res.path, "ac_predictor", threads, batch=samples)
            sessions.append(session)
            dynamics = LatentDynamics(session)
            tokens = session.inputs[0].shape[-2:]
            frame = rng.standard_normal(tokens).astype(np.float32)
            actions = rng.uniform(-1, 1, (samples, 1, dynamics.action_dim)).astype(np.float32)
            state = np.zeros(dynamics.state_dim, np.float32) if dynamics.state_dim else None
            runners[row.key] = lambda d=dynamics, f=frame, a=actions, s=state: d.rollout(f, a, s)
            row.bundle, row.executed = str(res.path), read_executed(session)
            row.size_mb = round(bundle_size_mb(res.manifest), 4)
            row.quality = {"cos_mean": res.gate.metrics.cos_mean} if res.gate else {}
        log(f"  timing {len(runners)} candidates side by side ({samples} samples per call)")
        timed = time_interleaved(runners, timing or TimingConfig(warmup=3, iters=30, keep_samples=False))
        for row in rows:
            if row.key in timed:
                row.latency = timed[row.key].stats
                if timed[row.key].error:
                    row.status, row.reason = "failed_run", timed[row.key].error
        for session in sessions:
            session.close()
    return rows, choose(rows, isa, caps, source=f"measured here, AC predictor at {samples} samples")

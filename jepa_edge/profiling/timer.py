"""The timing harness: warm-up, fixed iterations, round-robin across configurations, percentiles.

Why it looks like this:
- Round-robin (config A, B, C, then B, C, A, ...) so that machine drift (another process, thermal
  throttling, a noisy neighbour VM) hits every configuration alike; ratios stay honest.
- The timed path allocates nothing: inputs are bound once before the loop (an OpenVINO infer
  request with its tensors set, ONNX Runtime io-binding with preallocated outputs), the per-sample
  clock readings go into a preallocated array, and the garbage collector is off while timing.
- Percentiles (p50/p90/p99), never the mean alone: latency distributions on a shared CPU have tails.

A *runner* is a zero-argument callable that performs exactly one inference on its bound inputs.
"""
from __future__ import annotations

import gc
import os
import resource
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

Runner = Callable[[], object]
CLOCKS = {"wall": time.perf_counter_ns, "cpu": time.process_time_ns}


@dataclass(frozen=True)
class TimingConfig:
    warmup: int = 20       # untimed runs per configuration (caches, lazy kernels, CPU frequency)
    iters: int = 200       # timed runs per configuration
    batch: int = 1         # samples per inference, for throughput
    keep_samples: bool = True  # keep every sample (ms) in the result: histograms need them
    # "wall": latency as the caller sees it (what to quote). "cpu": CPU time this process spent per
    # run; with ONE inference thread it approximates the latency on an idle core, which makes A/B
    # comparisons possible on a machine that other jobs keep busy (never quote it as latency).
    clock: str = "wall"

    def __post_init__(self):
        if self.warmup < 0 or self.iters < 1 or self.batch < 1:
            raise ValueError(f"need warmup >= 0, iters >= 1, batch >= 1; got {self}")
        if self.clock not in CLOCKS:
            raise ValueError(f"clock must be one of {sorted(CLOCKS)}, got {self.clock!r}")


@dataclass(frozen=True)
class LatencyStats:
    warmup: int
    iters: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    std_ms: float
    throughput: float  # samples per second, sequential (batch / mean latency)
    samples_ms: tuple[float, ...] = field(default=(), repr=False)
    clock: str = "wall"  # see TimingConfig.clock

    @classmethod
    def from_samples(cls, samples_ms: np.ndarray, cfg: TimingConfig) -> "LatencyStats":
        s = np.asarray(samples_ms, dtype=np.float64)
        p50, p90, p99 = np.percentile(s, [50, 90, 99])
        mean = float(s.mean())
        return cls(
            warmup=cfg.warmup, iters=int(s.size), p50_ms=float(p50), p90_ms=float(p90), p99_ms=float(p99),
            mean_ms=mean, min_ms=float(s.min()), max_ms=float(s.max()), std_ms=float(s.std()),
            throughput=1000.0 * cfg.batch / mean if mean > 0 else float("inf"),
            samples_ms=tuple(round(float(x), 4) for x in s) if cfg.keep_samples else (), clock=cfg.clock,
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["samples_ms"] = list(self.samples_ms)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LatencyStats":
        d = dict(d)
        d["samples_ms"] = tuple(d.get("samples_ms", ()))
        return cls(**d)


@dataclass
class TimingOutcome:
    """Per configuration: stats when every timed run succeeded, else the error that stopped it."""
    stats: LatencyStats | None = None
    error: str | None = None


def time_interleaved(runners: dict[str, Runner], cfg: TimingConfig = TimingConfig(),
                     progress: Callable[[int, int], None] | None = None) -> dict[str, TimingOutcome]:
    """Warm up each runner, then time them round-robin for `cfg.iters` rounds.

    A runner that raises is dropped from the rotation and reported with its error; the others go
    on (one broken configuration never spoils the whole run).
    """
    names = list(runners)
    outcome = {n: TimingOutcome() for n in names}
    alive = []
    for n in names:
        try:
            for _ in range(cfg.warmup):
                runners[n]()
            alive.append(n)
        except Exception as e:  # noqa: BLE001 - reported per row, never raised
            outcome[n].error = f"failed during warm-up: {type(e).__name__}: {e}"
    if not alive:
        return outcome

    fns = [runners[n] for n in alive]
    k = len(fns)
    ticks = np.zeros((k, cfg.iters), dtype=np.int64)  # preallocated: the loop only stores ints
    ok = [True] * k
    clock = CLOCKS[cfg.clock]
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(cfg.iters):
            for j in range(k):
                c = (i + j) % k  # rotate the starting configuration each round
                if not ok[c]:
                    continue
                try:
                    t0 = clock()
                    fns[c]()
                    ticks[c, i] = clock() - t0
                except Exception as e:  # noqa: BLE001
                    ok[c] = False
                    outcome[alive[c]].error = f"failed at timed run {i}: {type(e).__name__}: {e}"
            if progress is not None:
                progress(i + 1, cfg.iters)
    finally:
        if gc_was_enabled:
            gc.enable()
    for c, n in enumerate(alive):
        if ok[c]:
            outcome[n].stats = LatencyStats.from_samples(ticks[c] / 1e6, cfg)
    return outcome


def time_one(runner: Runner, cfg: TimingConfig = TimingConfig()) -> LatencyStats:
    """Time a single runner; raises what the runner raises."""
    out = time_interleaved({"only": runner}, cfg)["only"]
    if out.stats is None:
        raise RuntimeError(out.error)
    return out.stats


# ---------------------------------------------------------------- runners with inputs bound once

def openvino_runner(compiled_model, inputs) -> Runner:
    """One infer request, input tensors set once (sharing the numpy memory), sync start+wait.

    `inputs`: a list in the model's input order or a dict name -> array.
    start_async()+wait() rather than infer(): infer() builds a Python dict of output copies on
    every call, which is wrapper overhead, not model time.
    """
    import openvino as ov

    request = compiled_model.create_infer_request()
    items = inputs.items() if isinstance(inputs, dict) else enumerate(inputs)
    tensors = {}
    for key, a in items:
        tensors[key] = ov.Tensor(np.ascontiguousarray(a), shared_memory=True)
        if isinstance(key, int):
            request.set_input_tensor(key, tensors[key])
        else:
            request.set_tensor(key, tensors[key])

    def run(request=request):
        request.start_async()
        request.wait()

    run.request = request  # kept alive with the runner; also lets callers read outputs
    run.tensors = tensors
    return run


def onnxruntime_runner(session, feeds: dict[str, np.ndarray]) -> Runner:
    """io-binding with inputs bound once and outputs preallocated: run_with_iobinding copies nothing."""
    import onnxruntime as ort

    binding = session.io_binding()
    keep = {}
    for name, arr in feeds.items():
        arr = np.ascontiguousarray(arr)
        keep[name] = arr
        binding.bind_cpu_input(name, arr)
    for out in session.get_outputs():
        binding.bind_output(out.name, "cpu")
    session.run_with_iobinding(binding)  # one run to learn the output shapes, then preallocate
    for out, val in zip(session.get_outputs(), binding.copy_outputs_to_cpu()):
        buf = np.empty_like(val)
        keep[out.name] = buf
        binding.bind_ortvalue_output(out.name, ort.OrtValue.ortvalue_from_numpy(buf))

    def run(session=session, binding=binding):
        session.run_with_iobinding(binding)

    run.keep = keep
    run.binding = binding
    return run


def session_runner(session, feeds: dict[str, np.ndarray]) -> Runner:
    """Fastest path for a jepa_edge InferenceSession: the backend's own objects when the session
    exposes them (OpenVINO compiled model, ORT session), else its run() with prebuilt feeds."""
    prebuilt = {s.name: np.ascontiguousarray(feeds[s.name], dtype=s.dtype) for s in session.inputs}
    backend = getattr(session, "backend", "")
    if backend == "openvino":
        compiled = getattr(session, "compiled", None) or getattr(session, "compiled_model", None)
        if compiled is not None:
            return openvino_runner(compiled, prebuilt)
    if backend in ("onnxruntime", "onnx"):
        ort_session = getattr(session, "ort_session", None)
        if ort_session is not None:
            return onnxruntime_runner(ort_session, prebuilt)

    def run(session=session, prebuilt=prebuilt):
        return session.run(prebuilt)

    return run


# ---------------------------------------------------------------- memory

def rss_mb() -> float:
    """Resident memory of this process now (MB)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident memory of this process since start or the last reset_peak_rss() (MB)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return kb / 1024 if os.uname().sysname == "Linux" else kb / 2**20


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0) so a later peak belongs to what ran since."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class MemoryWatch:
    """`with MemoryWatch() as m: build(); warm_up()` -> m.added_mb: the peak RSS reached inside,
    above the RSS before it (what loading and running this configuration costs in memory)."""

    def __enter__(self):
        gc.collect()
        self.before_mb = rss_mb()
        self.exact = reset_peak_rss()
        self.added_mb = 0.0
        return self

    def __exit__(self, *exc):
        self.peak_mb = peak_rss_mb()
        self.added_mb = max(0.0, self.peak_mb - self.before_mb)
        return False

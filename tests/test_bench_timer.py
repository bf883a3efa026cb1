"""The timing harness: percentiles, round-robin order, failure isolation, inputs bound once."""
from __future__ import annotations

import numpy as np
import pytest

from bench_helpers import DIM, TOKENS, onnx_model, openvino_ir, reference
from jepa_edge.profiling.timer import (LatencyStats, MemoryWatch, TimingConfig, onnxruntime_runner,
                                       openvino_runner, session_runner, time_interleaved, time_one)


def test_stats_from_known_samples():
    samples = np.arange(1, 101, dtype=np.float64)  # 1..100 ms
    st = LatencyStats.from_samples(samples, TimingConfig(warmup=3, iters=100, batch=2))
    assert st.p50_ms == pytest.approx(np.percentile(samples, 50))
    assert st.p90_ms == pytest.approx(90.1) and st.p99_ms == pytest.approx(99.01)
    assert st.min_ms == 1 and st.max_ms == 100 and st.iters == 100 and st.warmup == 3
    assert st.throughput == pytest.approx(1000 * 2 / 50.5)
    assert len(st.samples_ms) == 100
    assert LatencyStats.from_dict(st.to_dict()) == st


def test_round_robin_rotates_and_counts():
    calls: list[str] = []
    runners = {n: (lambda n=n: calls.append(n)) for n in "abc"}
    out = time_interleaved(runners, TimingConfig(warmup=2, iters=4))
    assert calls[:6] == ["a", "a", "b", "b", "c", "c"]  # warm-up: each runner on its own
    timed = calls[6:]
    assert [timed[3 * i] for i in range(4)] == ["a", "b", "c", "a"]  # each round starts one later
    assert sorted(timed) == sorted("abc" * 4)
    assert all(o.stats is not None and o.stats.iters == 4 for o in out.values())


def test_a_failing_runner_is_dropped_not_fatal():
    n = {"bad": 0}

    def bad():
        n["bad"] += 1
        if n["bad"] > 3:
            raise RuntimeError("device lost")

    out = time_interleaved({"good": lambda: None, "bad": bad, "dead": lambda: 1 / 0}, TimingConfig(warmup=1, iters=5))
    assert out["good"].stats is not None and out["good"].error is None
    assert out["bad"].stats is None and "timed run" in out["bad"].error and "device lost" in out["bad"].error
    assert out["dead"].stats is None and "warm-up" in out["dead"].error
    assert n["bad"] == 4  # not called again after it failed


def test_time_one_raises_what_failed():
    with pytest.raises(RuntimeError, match="warm-up"):
        time_one(lambda: 1 / 0, TimingConfig(warmup=1, iters=1))


def test_bad_timing_config():
    with pytest.raises(ValueError):
        TimingConfig(iters=0)


def test_openvino_runner_binds_inputs_once(tmp_path):
    import openvino as ov

    x = np.random.default_rng(1).standard_normal((1, TOKENS, DIM)).astype(np.float32)
    compiled = ov.Core().compile_model(str(openvino_ir(tmp_path / "m.xml")), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    run = openvino_runner(compiled, {"pixels": x})
    run()
    np.testing.assert_allclose(run.request.get_output_tensor(0).data, reference(x), rtol=1e-4, atol=1e-5)
    x[...] = 0.5  # the runner shares the array's memory: a new frame needs no rebinding
    run()
    np.testing.assert_allclose(run.request.get_output_tensor(0).data, reference(x), rtol=1e-4, atol=1e-5)


def test_onnxruntime_runner_writes_into_preallocated_outputs(tmp_path):
    import onnxruntime as ort

    x = np.random.default_rng(2).standard_normal((1, TOKENS, DIM)).astype(np.float32)
    sess = ort.InferenceSession(str(onnx_model(tmp_path / "m.onnx")), providers=["CPUExecutionProvider"])
    run = onnxruntime_runner(sess, {"pixels": x})
    out = run.keep["tokens"]
    out[...] = np.nan
    run()
    assert run.keep["tokens"] is out  # same buffer, filled in place
    np.testing.assert_allclose(out, reference(x), rtol=1e-4, atol=1e-5)


def test_session_runner_uses_the_backend_objects(tmp_path):
    from bench_helpers import bundle
    from jepa_edge.inference.load import load_bundle

    x = np.ones((1, TOKENS, DIM), np.float32)
    for backend in ("openvino", "onnxruntime"):
        sess = load_bundle(bundle(tmp_path / backend, backend))
        run = session_runner(sess, {"pixels": x})
        assert hasattr(run, "request") or hasattr(run, "binding"), f"{backend}: fell back to session.run"
        run()


def test_memory_watch_sees_an_allocation():
    with MemoryWatch() as m:
        block = np.ones(64 * 2**20 // 8)  # 64 MB, touched
    assert m.added_mb > 40
    del block


def test_cpu_clock_counts_work_not_sleep():
    import time

    def sleepy():
        time.sleep(0.02)

    wall = time_one(sleepy, TimingConfig(warmup=0, iters=3))
    cpu = time_one(sleepy, TimingConfig(warmup=0, iters=3, clock="cpu"))
    assert wall.p50_ms >= 19 and cpu.p50_ms < 10 and cpu.clock == "cpu"
    with pytest.raises(ValueError):
        TimingConfig(clock="sundial")

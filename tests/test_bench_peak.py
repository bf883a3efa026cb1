"""The peak yardstick computes real products and reports the kernels that ran them."""
from __future__ import annotations

import numpy as np
import pytest

from jepa_edge.profiling.choose import int8_pays
from jepa_edge.utils.device_info import isa_features
from jepa_edge.profiling.peak import PeakResult, cpu_supports, measure_peak, openvino_chain_model, openvino_peak

TINY = ((32, 64, 2), (64, 64, 1))


def test_fp32_chain_is_the_matrix_product():
    import openvino as ov

    m, k, layers = 8, 16, 3
    model = openvino_chain_model(m, k, layers, "fp32", seed=3)
    x = np.random.default_rng(0).uniform(-1, 1, (m, k)).astype(np.float32)
    got = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(x)[0]
    rng = np.random.default_rng(3)
    want = x.astype(np.float64)
    for _ in range(layers):
        want = want @ (rng.standard_normal((k, k)).astype(np.float32) / k**0.5).T
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_int8_peak_runs_int8_kernels():
    if not cpu_supports("int8"):
        pytest.skip("this CPU has no INT8 kernels in OpenVINO")
    r = openvino_peak("int8", threads=1, seconds=0.01, shapes=TINY)
    assert r.gops > 0 and r.shape in {"32x64 x2", "64x64 x1"}
    if "i8" not in r.kernel.lower() and not int8_pays(isa_features()):  # no ISA assumed: say what ran instead
        pytest.skip(f"no VNNI/AMX on this CPU: OpenVINO ran the int8 chain with {r.kernel}")
    assert "i8" in r.kernel.lower(), f"int8 chain fell back to {r.kernel}"
    assert set(r.tried) == {"openvino 32x64 x2", "openvino 64x64 x1"}


def test_measure_peak_takes_the_best_of_backends():
    peaks = measure_peak(("fp32",), threads=1, seconds=0.01, cuda=False, shapes=TINY)
    p = peaks["fp32"]
    assert p.gops == max(p.tried.values())
    assert any(k.startswith("torch") for k in p.tried) and any(k.startswith("openvino") for k in p.tried)
    assert PeakResult.from_dict(p.to_dict()) == p

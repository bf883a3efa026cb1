"""Per-op profiles: OpenVINO counters, the ONNX Runtime profiler, and trtexec JSON copied back
from a Jetson (tests/data holds a hand-made sample in trtexec's documented format)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench_helpers import DIM, TOKENS, bundle, onnx_model, openvino_ir
from jepa_edge.cli import main
from jepa_edge.errors import DataError
from jepa_edge.profiling.profile import (detect_json_kind, parse_onnxruntime_profile, parse_trtexec_profile,
                                         profile_onnxruntime, profile_openvino)

DATA = Path(__file__).parent / "data"
TRT = DATA / "trtexec_profile_vit_small_int8.json"
TRT_LAYERS = DATA / "trtexec_layers_vit_small_int8.json"


def test_trtexec_profile_parses_into_a_ranked_table():
    raw = json.loads(TRT.read_text())
    prof = parse_trtexec_profile(TRT)
    assert prof.source == "tensorrt" and prof.runs == raw[0]["count"] and len(prof.ops) == len(raw) - 1
    assert prof.total_ms == pytest.approx(sum(r["averageMs"] for r in raw[1:]))
    top = prof.top(3)
    assert top[0].ms == max(r["averageMs"] for r in raw[1:]) and top[0].ms >= top[1].ms >= top[2].ms
    types = {o.op_type for o in prof.ops}
    assert {"MatMul", "Myelin", "Reformat", "LayerNorm", "Convolution"} <= types  # guessed from names
    by_type = prof.by_type()
    assert sum(o.ms for o in by_type) == pytest.approx(prof.total_ms)
    assert by_type[0].op_type == "MatMul" and by_type[0].calls == 48  # 4 GEMMs x 12 blocks


def test_layer_info_gives_exact_types():
    prof = parse_trtexec_profile(TRT, layer_info=TRT_LAYERS)
    assert {o.op_type for o in prof.ops} == {"Reformat", "CaskConvolution", "PointWiseV2", "Normalization",
                                             "CaskGemm", "Myelin"}
    assert not any("guessed" in n for n in prof.notes)


def test_trtexec_unescaped_quotes_and_timeMs_only(tmp_path):
    p = tmp_path / "p.json"
    p.write_text('[\n  { "count" : 4 }\n, { "name" : "a "quoted" layer", "timeMs" : 8.0, "percentage" : 100 }\n]\n')
    prof = parse_trtexec_profile(p)
    assert prof.ops[0].name == 'a "quoted" layer' and prof.ops[0].ms == pytest.approx(2.0)


@pytest.mark.parametrize("text, msg", [
    ('{"count": 1}', "not a trtexec profile"),
    ('[{"name": "x", "averageMs": 1}]', "not a trtexec profile"),
    ('[{"count": 0}]', "ran no profiled iterations"),
    ('[{"count": 2}, {"averageMs": 1}]', "without name"),
    ('[{"count": 2}, {"name": ', "not valid JSON"),
])
def test_bad_trtexec_files_say_what_is_wrong(tmp_path, text, msg):
    p = tmp_path / "p.json"
    p.write_text(text)
    with pytest.raises(DataError, match=msg):
        parse_trtexec_profile(p)


def test_openvino_counters(tmp_path):
    x = np.ones((1, TOKENS, DIM), np.float32)
    prof = profile_openvino(openvino_ir(tmp_path / "m.xml"), [x], runs=3, warmup=1)
    assert prof.runs == 3 and prof.ops and prof.total_ms > 0 and prof.wall_ms > 0
    assert all(o.kernel for o in prof.ops)  # the kernel the CPU plugin picked is always named
    assert any(o.op_type in ("FullyConnected", "MatMul") for o in prof.ops)


def test_onnxruntime_profiler_drops_warmup(tmp_path):
    x = {"pixels": np.ones((1, TOKENS, DIM), np.float32)}
    prof = profile_onnxruntime(onnx_model(tmp_path / "m.onnx"), x, runs=4, warmup=2)
    assert prof.runs == 4 and "Tanh" in {o.op_type for o in prof.ops}  # MatMul+Add may fuse to Gemm
    assert all(o.kernel == "CPUEP" for o in prof.ops)


def test_ort_trace_without_runs_is_refused(tmp_path):
    p = tmp_path / "t.json"
    p.write_text(json.dumps([{"cat": "Session", "name": "model_loading_uri", "ts": 0, "dur": 5}]))
    assert detect_json_kind(p) == "onnxruntime"
    with pytest.raises(DataError, match="no model_run"):
        parse_onnxruntime_profile(p)


def test_cli_profile_every_kind(tmp_path, capsys):
    assert main(["profile", str(TRT), "--top", "5"]) == 0
    out = capsys.readouterr().out
    assert "tensorrt per-op time" in out and "mlp/fc1/MatMul" in out
    assert main(["profile", str(TRT), "--by-type", "--layer-info", str(TRT_LAYERS), "--json", str(tmp_path / "p.json")]) == 0
    assert "CaskGemm" in capsys.readouterr().out
    assert json.loads((tmp_path / "p.json").read_text())["source"] == "tensorrt"
    kit = tmp_path / "kit"  # as copied back from the Jetson: profile.sh writes both side by side
    kit.mkdir()
    (kit / "profile.json").write_text(TRT.read_text())
    (kit / "layers.json").write_text(TRT_LAYERS.read_text())
    assert main(["profile", str(kit / "profile.json"), "--by-type"]) == 0
    assert "CaskGemm" in capsys.readouterr().out
    for backend in ("openvino", "onnxruntime"):
        assert main(["profile", str(bundle(tmp_path / backend, backend)), "--runs", "2", "--warmup", "1"]) == 0
        assert f"{backend} per-op time" in capsys.readouterr().out
    assert main(["profile", str(bundle(tmp_path / "trt", "tensorrt", "fp16"))]) == 2
    assert "profile.sh" in capsys.readouterr().err
    (tmp_path / "x.json").write_text("[1, 2]")
    assert main(["profile", str(tmp_path / "x.json")]) == 2
    assert main(["profile", str(tmp_path / "missing")]) == 2

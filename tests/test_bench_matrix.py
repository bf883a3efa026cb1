"""`run_bench` end to end on real (tiny) bundles: every bad row is one clear line, never a crash;
exports are cached by content hash; quality and % of peak are filled in."""
from __future__ import annotations

import json
from pathlib import Path


from bench_helpers import bundle
from jepa_edge.cli import main
from jepa_edge.profiling.bench import BenchConfig, cached_export, plan_rows, run_bench
from jepa_edge.profiling.results import load_result
from jepa_edge.profiling.timer import TimingConfig

FAST = TimingConfig(warmup=2, iters=6)
TINY_PEAK = ((32, 64, 2),)


def _cfg(tmp_path, **kw):
    return BenchConfig(**{"timing": FAST, "cache_dir": tmp_path / "cache", "quality_samples": 2, "peak": False, **kw})


def test_plan_rows_names_what_cannot_be_built():
    rows = {(b, p): r for b, p, r in plan_rows(("openvino", "onnxruntime", "warp-drive"), ("fp32", "bf16"))}
    assert rows[("openvino", "fp32")] is None and rows[("openvino", "bf16")] is None
    assert "does not support bf16" in rows[("onnxruntime", "bf16")]
    assert "unknown target 'warp-drive'" in rows[("warp-drive", "fp32")]


def test_bundles_good_and_bad_in_one_run(tmp_path):
    good_ov = bundle(tmp_path / "ov", "openvino")
    good_ort = bundle(tmp_path / "ort", "onnxruntime")
    gated = bundle(tmp_path / "gated", "openvino", "int8", seed=1, status="failed_gate")
    foreign = bundle(tmp_path / "trt", "tensorrt", "fp16")  # an engine from another device
    tampered = bundle(tmp_path / "bad", "onnxruntime")
    data = bytearray((tampered / "model.onnx").read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes: only the hash can tell
    (tampered / "model.onnx").write_bytes(bytes(data))
    info = {"name": "tiny", "macs": 4 * 16 * 16}
    probed = []

    def probe(session):  # the export gate's probe contract: session -> metric
        probed.append(session.backend)
        return 0.75

    cfg = _cfg(tmp_path, peak=True, peak_seconds=0.01, peak_shapes=TINY_PEAK, probe=probe)
    res = run_bench(None, cfg, [good_ov, good_ort, gated, foreign, tampered], info, log=lambda s: None)
    by = {r.bundle: r for r in res.rows}
    for b in (good_ov, good_ort):
        r = by[str(b)]
        assert r.status == "ok", r.reason
        assert r.latency.iters == FAST.iters and r.latency.p50_ms > 0
        assert r.quality["cos_mean"] > 0.999  # both compute the same function as the fp32 reference
        assert r.quality["probe"] == 0.75
        assert r.gops > 0 and r.pct_peak is not None and r.size_mb > 0
    g = by[str(gated)]
    assert g.status == "failed_gate" and "0.91" in g.reason and g.latency is not None  # timed, flagged
    assert g.quality["cos_mean"] < 0.99  # other weights: the quality column shows it
    t = by[str(foreign)]
    assert t.status == "failed_build" and t.reason and t.latency is None
    bad = by[str(tampered)]
    assert (bad.backend, bad.status) == ("onnxruntime", "failed_build") and "sha256" in bad.reason
    assert res.peak["fp32"].gops > 0 and "rotation" in res.peak["fp32"].method
    assert res.settings["iters"] == FAST.iters and res.device["cores"]
    assert sorted(probed) == ["onnxruntime", "openvino", "openvino"]  # every loadable row, once


def _fake_exporter(calls):
    def export(model_dir, backend, precision, calib, out):
        calls.append((backend, precision))
        if backend == "onnxruntime" and precision == "int8":
            raise RuntimeError("quantizer exploded")
        return bundle(Path(out), backend, precision)
    return export


def test_cached_export_reuses_and_rebuilds(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"x": 1}')
    calls = []
    cfg = _cfg(tmp_path)
    a = cached_export(model, "openvino", "fp32", cfg, _fake_exporter(calls))
    b = cached_export(model, "openvino", "fp32", cfg, _fake_exporter(calls))
    assert a == b and calls == [("openvino", "fp32")]
    (a / "model.bin").write_bytes(b"corrupt")  # a damaged cache entry is rebuilt, not trusted
    cached_export(model, "openvino", "fp32", cfg, _fake_exporter(calls))
    assert len(calls) == 2
    (model / "config.json").write_text('{"x": 2}')  # new model bytes -> new key
    c = cached_export(model, "openvino", "fp32", cfg, _fake_exporter(calls))
    assert c != a and len(calls) == 3


def test_matrix_from_a_model_dir(tmp_path):
    """Export failures and unsupported cells are rows; the reference is the torch model itself; an
    INT8 run without --calib records a small built-in-world set for the export."""
    import openvino as ov
    import torch

    from jepa_edge.models.model_dir import ModelDir, save_model_dir
    from jepa_edge.models.registry import build_encoder
    from jepa_edge.profiling.bench import model_info_from_dir

    torch.manual_seed(0)
    enc = build_encoder("vit_nano/16", img_size=32, depth=1).eval()
    model = Path(save_model_dir(tmp_path / "m", ModelDir(encoder=enc)))
    calls, calibs = [], []

    def exporter(model_dir, backend, precision, calib, out):
        calls.append((backend, precision))
        calibs.append(calib)
        if backend == "onnxruntime":
            raise RuntimeError(f"quantizer exploded ({precision})")
        from jepa_edge.inference.manifest import Manifest, write_manifest
        from jepa_edge.inference.session import TensorSpec

        ir = ov.convert_model(enc, example_input=torch.zeros(1, 3, 32, 32), input=[1, 3, 32, 32])
        ir.outputs[0].set_names({"tokens"})
        ir.inputs[0].set_names({"pixels"})
        ov.save_model(ir, str(Path(out) / "model.xml"), compress_to_fp16=False)
        write_manifest(out, Manifest("openvino", "openvino", "encoder", precision, "model.xml",
                                     [TensorSpec("pixels", (1, 3, 32, 32))], [TensorSpec("tokens", (1, 4, 128))]))

    cfg = _cfg(tmp_path, backends=("openvino", "onnxruntime", "nope"), precisions=("fp32", "int8"))
    res = run_bench(model, cfg, model_info=model_info_from_dir(model), exporter=exporter, log=lambda s: None)
    keys = [(r.backend, r.precision, r.status) for r in res.rows]
    assert keys == [("openvino", "fp32", "ok"), ("openvino", "int8", "ok"), ("onnxruntime", "fp32", "failed_build"),
                    ("onnxruntime", "int8", "failed_build"), ("nope", "fp32", "failed_build"),
                    ("nope", "int8", "failed_build")]
    assert "quantizer exploded (int8)" in res.rows[3].reason and "unknown target 'nope'" in res.rows[4].reason
    assert res.rows[0].quality["cos_mean"] > 0.999  # vs the torch model, on world images
    assert res.rows[0].gops > 0 and res.model["ops"] == 2 * res.model["macs"]
    assert calibs[1] and "world" in calibs[1] and "built-in world" in res.settings["calibration"]


def test_cli_bench_json_compare_and_errors(tmp_path, capsys):
    ov, ort = bundle(tmp_path / "ov", "openvino"), bundle(tmp_path / "ort", "onnxruntime")
    out = tmp_path / "a.json"
    rc = main(["bench", "--bundle", str(ov), "--bundle", str(ort), "--iters", "5", "--warmup", "1", "--no-peak",
               "--quality-samples", "2", "--json", str(out), "--plot", str(tmp_path / "p.png"),
               "--hist", str(tmp_path / "h.png")])
    assert rc == 0
    res = load_result(out)
    assert [r.status for r in res.rows] == ["ok", "ok"] and json.loads(out.read_text())["schema_version"] == 1
    assert (tmp_path / "p.png").stat().st_size > 1000 and (tmp_path / "h.png").stat().st_size > 1000
    capsys.readouterr()
    assert main(["bench", "--compare", str(out), str(out)]) == 0
    assert "1.00x" in capsys.readouterr().out
    assert main(["bench"]) == 2
    assert "nothing to bench" in capsys.readouterr().err
    assert main(["bench", "--compare", str(out), str(tmp_path / "missing.json")]) == 2


def test_model_info_from_a_bundle_manifest(tmp_path):
    """A bundle alone still gets ops (for % of peak) and its source model dir (for the reference)."""
    from jepa_edge.models.registry import encoder_config
    from jepa_edge.profiling.bench import model_info_from_bundle

    cfg = encoder_config("vit_small/16")
    src = tmp_path / "src"
    src.mkdir()
    (src / "config.json").write_text("{}")
    b = bundle(tmp_path / "b", "openvino", "int8", model={"config": cfg.to_dict(), "source_path": str(src)})
    info = model_info_from_bundle(b)
    assert info["macs"] > 4.5e9 and info["input_shape"] == [1, 3, 224, 224] and info["model_dir"] == str(src)
    assert model_info_from_bundle(bundle(tmp_path / "c", "openvino")) == {}

"""`jepa-edge export`: one model part -> a verified artifact bundle for a target (see --list-targets).

The bundle holds the compiled files and a manifest (input shapes, normalization, precision as asked
and as executed, calibration hash, tool versions, gate results, sha256 of every file). INT8 needs a
calibration set (`jepa-edge calibrate`) and passes an accuracy gate on its held-out split: token
cosine against FP32 (and --probe); layers that fail it are kept in float and the export retried.
Exit status 1 when the gate fails (the bundle is kept, marked failed_gate).
"""
from __future__ import annotations

from jepa_edge.cli import _output

from jepa_edge.errors import ConfigError


def add_arguments(p):
    p.add_argument("model", nargs="?", help="model dir (config.json + model.safetensors)")
    p.add_argument("--trust-unverified", action="store_true",
                   help="load a model dir whose config.json carries no hashes (hand-made, older jepa-edge) unchecked")
    p.add_argument("--target", help="onnx, onnxruntime, openvino, tensorrt, torch, or a profile (jetson-orin-nano, ...)"
                   " or a profile .toml path")
    p.add_argument("--precision", default="fp32", help="fp32 | fp16 | bf16 | int8 (what the target supports)")
    p.add_argument("--calib", help="calibration set name (under calibration/) or path; required for int8")
    p.add_argument("--out", help="bundle folder to write")
    p.add_argument("--part", choices=("encoder", "ac_predictor"), default="encoder",
                   help="which model part to export (default %(default)s)")
    p.add_argument("--frames", type=int, help="frames per AC-predictor call (default: the calibration set's, else 1)")
    p.add_argument("--dla-core", type=int, help="Jetson DLA core (profiles with DLA), GPU fallback on")
    p.add_argument("--max-drop", type=float, help="fail if the probe metric (or, without a probe, the mean token "
                   "cosine) drops by more than this")
    p.add_argument("--probe", choices=("world-position",),
                   help="probe metric the gate also checks (drop bounded by --max-drop): world-position = "
                        "linear probe of the agent position on held-out world clips (encoder only)")
    p.add_argument("--min-cos-mean", type=float, default=0.99,
                   help="gate: mean token cosine vs FP32 on the held-out split (default %(default)s)")
    p.add_argument("--min-cos-p1", type=float, default=0.95,
                   help="gate: 1st percentile of the token cosine (default %(default)s)")
    p.add_argument("--no-retry", action="store_true", help="do not keep sensitive layers in float and retry")
    p.add_argument("--accuracy-control", action="store_true",
                   help="OpenVINO int8: use nncf.quantize_with_accuracy_control (slower)")
    p.add_argument("--subset-size", type=int, default=300, help="calibration samples the quantizer uses")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle in --out")
    _output.add_json_flag(p, "the result summary (gate, precision, files)")
    p.add_argument("--list-targets", action="store_true", help="print the target table and exit")


def _list_targets() -> int:
    from jepa_edge.quant.targets import all_targets

    rows = [("target", "backend", "precisions", "batch", "DLA", "engine", "description")]
    for t in all_targets().values():
        rows.append((t.name, t.backend, ",".join(t.precisions), f"1..{t.max_batch}" + (" dyn" if t.dynamic_batch else ""),
                     str(t.dla_cores or "-"), "on device (kit)" if t.kit else ("here" if t.backend == "tensorrt" else "-"),
                     t.description))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    for r in rows:  # plain text: greppable, never truncated by a narrow terminal
        print("  ".join(c.ljust(w) for c, w in zip(r[:6], widths)) + "  " + r[6])
    return 0


def run(args) -> int:
    if args.list_targets:
        return _list_targets()
    if not args.model or not args.target or not args.out:
        raise ConfigError("give MODEL_DIR, --target and --out (see --list-targets)")
    from jepa_edge.quant.gate import GateConfig
    from jepa_edge.quant.openvino_export import NNCFScheme
    from jepa_edge.quant.ort_quant import OrtQuantScheme
    from jepa_edge.quant.pipeline import export

    gate = GateConfig(min_cos_mean=args.min_cos_mean, min_cos_p1=args.min_cos_p1, max_drop=args.max_drop,
                      retry=not args.no_retry)
    probe = None
    if args.probe:
        if args.part != "encoder":
            raise ConfigError("--probe applies to the encoder")
        from jepa_edge.models.model_dir import load_model_dir
        from jepa_edge.quant.probes import make_probe

        b = load_model_dir(args.model, trust_unverified=args.trust_unverified)
        probe = make_probe(args.probe, b.encoder_cfg, b.config)
    res = export(args.model, args.target, args.precision, out=args.out, part=args.part, calib=args.calib, gate=gate,
                 probe=probe,
                 dla_core=args.dla_core, frames=args.frames, overwrite=args.overwrite,
                 trust_unverified=args.trust_unverified,
                 ort_scheme=OrtQuantScheme(max_samples=args.subset_size),
                 nncf_scheme=NNCFScheme(subset_size=args.subset_size, accuracy_control=args.accuracy_control))
    _output.write_json(args, res.summary())
    if res.gate is not None and res.gate.kept_float:
        kept = ", ".join(k["node"] + (f" ({k['module']})" if k.get("module") else "") for k in res.gate.kept_float)
        _output.say(args, f"kept in float: {kept}")
    if not res.passed:
        _output.say(args, f"jepa-edge export: accuracy gate FAILED: {res.gate.reason}; bundle kept for inspection, marked failed_gate")
        return 1
    return 0

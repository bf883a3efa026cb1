"""`jepa-edge export`: one model part -> a verified artifact bundle for a target (see --list-targets).

The bundle holds the compiled files and a manifest (input shapes, normalization, precision as asked
and as executed, calibration hash, tool versions, gate results, sha256 of every file). INT8 needs a
calibration set (`jepa-edge calibrate`) and passes an accuracy gate on its held-out split: token
cosine against FP32 (and --probe); layers that fail it are kept in float and the export retried.
Exit status 1 when the gate fails (the bundle is kept, marked failed_gate).
"""
from __future__ import annotations

import argparse

from jepa_edge.cli import _output

from jepa_edge.errors import ConfigError


def add_arguments(p):
    p.add_argument("model", nargs="?", help="model dir (config.json + model.safetensors)")
    p.add_argument("--trust-unverified", action="store_true",
                   help="load a model dir whose config.json carries no hashes (hand-made, older jepa-edge) unchecked")
    p.add_argument("--target", help="onnx, onnxruntime, openvino, tensorrt, torch, or a profile (jetson-orin-nano, ...)"
                   " or a profile .toml path")
    p.add_argument("--recipe", metavar="NAME|FILE.toml",
                   help="take --target and --precision from the recipe's [export] table when not given")
    p.add_argument("--precision",
                   help="fp32 (default) | fp16 | bf16 | int8 | int8w (what the target supports), or auto: time the candidate "
                        "backend x precision pairs here (or read --from-bench), keep those that pass the gate, "
                        "export the fastest")
    p.add_argument("--from-bench", metavar="FILE",
                   help="with --precision auto: choose from this bench JSON (e.g. copied back from the target "
                        "device) instead of measuring here")
    p.add_argument("--calib", help="calibration set name (under calibration/) or path; required for int8")
    p.add_argument("--out", help="bundle folder to write")
    p.add_argument("--part", choices=("encoder", "ac_predictor"), default="encoder",
                   help="which model part to export (default %(default)s)")
    p.add_argument("--frames", type=int, help="frames per AC-predictor call (default: the calibration set's, else 1)")
    p.add_argument("--shared-frame", action=argparse.BooleanOptionalAction, default=None,
                   help="AC predictor: one current frame shared by every planner sample (tokens batch 1; the first block's "
                        "frame work is done once; horizon-1 planning). Default: on for --frames 1 to onnxruntime/openvino")
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
    p.add_argument("--qdq-tool", choices=("jepa-edge", "modelopt"),
                   help="TensorRT int8: which tool places the Q/DQ nodes: jepa-edge (ONNX Runtime's quantizer, inputs "
                        "of weighted ops; default) or modelopt (NVIDIA's ONNX PTQ, the [modelopt] extra)")
    p.add_argument("--qdq-mode", choices=("int8", "int8-dla"),
                   help="TensorRT int8 placement: int8 = inputs of weighted ops only; int8-dla = Q/DQ on every tensor "
                        "so DLA layers need no float fallback (default: int8-dla with --dla-core, else int8)")
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


def _quant_scheme(args, ort_scheme):
    """--qdq-tool/--qdq-mode: a TensorRT Q/DQ scheme in place of the generic ORT one (TensorRT targets only)."""
    if not (getattr(args, "qdq_tool", None) or getattr(args, "qdq_mode", None)):
        return ort_scheme
    from jepa_edge.quant.targets import get_target
    from jepa_edge.quant.tensorrt_export import TrtQuantScheme, import_modelopt

    if get_target(args.target).backend != "tensorrt":
        raise ConfigError("--qdq-tool/--qdq-mode apply to TensorRT targets (tensorrt, jetson-*)")
    if args.precision in ("fp32", "fp16", "bf16"):
        raise ConfigError(f"--qdq-tool/--qdq-mode place INT8 Q/DQ nodes; --precision {args.precision} has none")
    if args.qdq_tool == "modelopt":
        import_modelopt()  # a missing extra is one line, before any work
    return TrtQuantScheme(tool=args.qdq_tool or "jepa-edge", mode=args.qdq_mode, max_samples=args.subset_size)


def run(args) -> int:
    if args.list_targets:
        return _list_targets()
    if args.recipe:
        from jepa_edge.chain.stages import export_settings
        from jepa_edge.recipe import load_recipe

        table = export_settings(load_recipe(args.recipe))
        args.target = args.target or table.get("target")
        args.precision = args.precision or table.get("precision")
    args.precision = args.precision or "fp32"
    if args.from_bench and args.precision != "auto":
        raise ConfigError("--from-bench goes with --precision auto")
    if args.precision == "auto":
        _auto_precision(args)
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
                 trust_unverified=args.trust_unverified, shared_frame=args.shared_frame,
                 ort_scheme=_quant_scheme(args, OrtQuantScheme(max_samples=args.subset_size)),
                 nncf_scheme=NNCFScheme(subset_size=args.subset_size, accuracy_control=args.accuracy_control))
    summary = res.summary()
    if getattr(args, "auto_choice", None):
        summary["auto"] = args.auto_choice
    _output.write_json(args, summary)
    if res.gate is not None and res.gate.kept_float:
        kept = ", ".join(k["node"] + (f" ({k['module']})" if k.get("module") else "") for k in res.gate.kept_float)
        _output.say(args, f"kept in float: {kept}")
    if not res.passed:
        _output.say(args, f"jepa-edge export: accuracy gate FAILED: {res.gate.reason}; bundle kept for inspection, marked failed_gate")
        return 1
    return 0


def _auto_precision(args) -> None:
    """--precision auto: measure (or read --from-bench), choose, and set args.target/args.precision."""
    from jepa_edge.profiling import choose as C
    from jepa_edge.quant.targets import get_target

    if not args.model or not args.out:
        raise ConfigError("give MODEL_DIR and --out (--target optional with --precision auto: CPU backends)")
    target = get_target(args.target) if args.target else None
    backend = target.backend if target else None
    if args.from_bench:
        choice = C.choose_from_bench(args.from_bench, backend)
    else:
        backends = (backend,) if backend else C.CPU_BACKENDS
        if args.part == "ac_predictor":
            if not args.calib:
                raise ConfigError("--precision auto for the AC predictor exports every candidate through its accuracy "
                                  "gate: give --calib (a set from `jepa-edge calibrate --part ac_predictor`)")
            _, choice = C.measure_ac_predictor(args.model, args.calib, backends, log=_output.info)
        else:
            _, choice = C.measure(args.model, backends, calib=args.calib, log=_output.info)
    for e in choice.excluded:
        _output.info(f"  not a candidate: {e['key']}: {e['why']}")
    _output.say(args, choice.line())
    args.precision = choice.chosen.precision
    if target is None or target.backend != choice.chosen.backend:
        args.target = choice.chosen.backend
    args.auto_choice = choice.to_dict()

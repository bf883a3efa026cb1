"""Jetson kit: the folder to copy to the board. Engines must be built on the device that runs
them, so the kit carries the ONNX plus the commands to build, profile and run it there:

    model.onnx                  fp32 graph, or the Q/DQ graph for int8 (already gated on the host)
    model.strongly-typed.onnx   fp16-typed variant (fp16 Q/DQ scales, opset 19), for profiles whose
                                TensorRT builds strongly typed (10.12+, 11)
    build_engine.sh             trtexec with the profile's shapes, precision, workspace, DLA flags
    profile.sh                  per-layer profile to JSON (--dumpProfile --separateProfileRun --exportProfile),
                                latency with CUDA graphs, power mode and clocks to power.txt
    run_engine.py               numpy + tensorrt runner (a verbatim copy of inference/tensorrt_session.py)
    checksums.sha256            for `sha256sum -c` on the board; manifest.json for jepa_edge.inference.load
The script templates live in export/jetson/*.in (package data: jepa_edge.utils.resources).
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from jepa_edge.errors import ConfigError
from jepa_edge.utils.files import sha256_file
from jepa_edge.utils.resources import shipped

ST_ONNX = "model.strongly-typed.onnx"


def template_dir() -> Path:
    """$JEPA_EDGE_JETSON_TEMPLATES if set, else the templates shipped with jepa-edge (export/jetson/)."""
    env = os.environ.get("JEPA_EDGE_JETSON_TEMPLATES")
    if not env:
        return shipped("jetson")
    d = Path(env)
    if not (d / "build_engine.sh.in").is_file():
        raise ConfigError(f"Jetson kit templates not found in {d} (JEPA_EDGE_JETSON_TEMPLATES): point it at a "
                          f"folder holding build_engine.sh.in, profile.sh.in and README.md.in, or unset it")
    return d


def fill(text: str, values: dict) -> str:
    out = text
    for k, v in values.items():
        out = out.replace(f"@{k}@", str(v))
    left = sorted(set(re.findall(r"@([A-Z0-9_]+)@", out)))
    if left:
        raise ConfigError(f"kit template has unfilled fields {left}")
    return out


def _dims(shape) -> str:
    return "x".join(str(int(d)) for d in shape)


def trtexec_flags(io_spec, target, precision: str, dla_core: int | None) -> dict:
    """The trtexec pieces for this profile, also recorded in the manifest."""
    names = [s.name for s in io_spec.inputs]
    rest = {s.name: list(s.shape[1:]) for s in io_spec.inputs}
    shape = lambda b: ",".join(f"{n}:{_dims([b, *rest[n]])}" for n in names)  # noqa: E731
    trt10 = {"fp32": "", "fp16": "--fp16", "int8": "--int8 --fp16"}[precision]
    return {
        "shapes": f"--minShapes={shape(1)} --optShapes={shape(target.opt_batch)} --maxShapes={shape(target.max_batch)}",
        "run_shapes": f"--shapes={shape(target.opt_batch)}",
        "trt10_flags": trt10,
        "strongly_typed_flags": "--stronglyTyped",
        "build_path": "strongly-typed" if target.strongly_typed else "weakly-typed",
        "dla_build": f"--useDLACore={dla_core} --allowGPUFallback" if dla_core is not None else "",
        "dla_run": f"--useDLACore={dla_core}" if dla_core is not None else "",
        # CUDA graphs cut launch overhead from the latency run; DLA engines are not captured
        "latency_run": "--useCudaGraph" if dla_core is None else "",
    }


# What TensorRT places on Orin's DLA (NVDLA v2) from a ViT graph, by ONNX op type: convolutions,
# element-wise and (Orin) Softmax layers can run there in INT8 when every tensor has Q/DQ; MatMul
# between two activations (attention), LayerNorm, Erf (GELU), Shape/Gather/Slice are not DLA layers.
# From TensorRT's "DLA supported layers" list; not checked on a board (see export/README.md).
DLA_OPS = ("Conv", "Add", "Sub", "Mul", "Div", "Softmax", "Concat", "Relu", "Sigmoid", "Tanh", "MaxPool", "AveragePool")


def dla_expectation(onnx_file) -> tuple[dict, dict]:
    """(op type -> count expected on DLA, op type -> count expected on the GPU) for the compute ops."""
    import onnx

    skip = {"QuantizeLinear", "DequantizeLinear", "Constant", "Shape", "Identity", "Cast"}
    on, off = {}, {}
    for n in onnx.load(str(onnx_file), load_external_data=False).graph.node:
        if n.op_type in skip:
            continue
        bucket = on if n.op_type in DLA_OPS else off
        bucket[n.op_type] = bucket.get(n.op_type, 0) + 1
    return on, off


def write_kit(ctx, onnx_file: Path, scheme: dict):
    """Fill ctx.stage with the kit; returns the Manifest (status "kit")."""
    from jepa_edge import __version__
    from jepa_edge.quant.tensorrt_export import to_strongly_typed_onnx
    from jepa_edge.inference import tensorrt_session

    t, stage, precision = ctx.req.target, ctx.stage, ctx.precision
    tdir = template_dir()
    shutil.copy2(onnx_file, stage / "model.onnx")
    trt_major = int((t.tensorrt or "10").split(".")[0])
    st_onnx = "model.onnx"
    if t.strongly_typed and precision in ("fp16", "int8"):
        to_strongly_typed_onnx(onnx_file, stage / ST_ONNX)
        st_onnx = ST_ONNX
    flags = trtexec_flags(ctx.io, t, precision, ctx.req.dla_core)
    values = {
        "PROFILE": t.name, "TRT": t.tensorrt or "10.x", "TRT_MAJOR": trt_major, "PART": ctx.req.part,
        "PRECISION": precision, "WORKSPACE": t.workspace_mb, "ST_ONNX": st_onnx, "SHAPES": flags["shapes"],
        "RUN_SHAPES": flags["run_shapes"], "TRT10_FLAGS": flags["trt10_flags"], "DLA_BUILD": flags["dla_build"],
        "DLA_RUN": flags["dla_run"], "ITERATIONS": 200, "BUILD_PATH": flags["build_path"],
        "LATENCY_RUN": flags["latency_run"],
    }
    for name in ("build_engine.sh", "profile.sh"):
        (stage / name).write_text(fill((tdir / f"{name}.in").read_text(), values))
        (stage / name).chmod(0o755)
    shutil.copy2(tensorrt_session.__file__, stage / "run_engine.py")
    fmt = lambda specs: ", ".join(f"{s.name} {list(s.shape)} {s.dtype}" for s in specs)  # noqa: E731
    notes = [_build_path_note(t, precision, st_onnx)]
    if precision == "int8":
        tool = (scheme.get("qdq_tool") or {}).get("name", "jepa-edge")
        version = (scheme.get("qdq_tool") or {}).get("version")
        notes.append(f"INT8: explicit Q/DQ made by {tool}{f' {version}' if version else ''} "
                     f"({scheme.get('qdq_mode', 'int8')}: {scheme.get('qdq_placement', 'see manifest.json')}); "
                     f"symmetric, per-channel weights. Accuracy was gated on the host by running this graph in "
                     f"ONNX Runtime (see manifest.json, gate).")
    if ctx.req.dla_core is not None:
        on, off = dla_expectation(onnx_file)
        fmt_ops = lambda d: ", ".join(f"{k} x{v}" for k, v in sorted(d.items())) or "none"  # noqa: E731
        notes.append(f"DLA core {ctx.req.dla_core} with GPU fallback. Expected on the DLA: {fmt_ops(on)}. Expected on "
                     f"the GPU (not DLA layers): {fmt_ops(off)}. So a ViT gains little from DLA; layers.json from "
                     f"profile.sh shows where each layer ran. "
                     + ("Q/DQ sit on every tensor (int8-dla), so DLA layers need no float fallback."
                        if scheme.get("qdq_mode") == "int8-dla" else
                        "Q/DQ sit on weighted-op inputs only: DLA layers without scales run fp16 or fall back; "
                        "re-export with --qdq-mode int8-dla for Q/DQ on every tensor."))
    notes.append("None of this has run on TensorRT hardware yet: the kit's scripts were checked with `bash -n` and the "
                 "INT8 graph in ONNX Runtime only.")
    readme = fill((tdir / "README.md.in").read_text(), {
        "NAME": stage.name, "PART": ctx.req.part, "PROFILE": t.name, "PRECISION": precision, "VERSION": __version__,
        "SOURCE_HASH": ctx.src.hash[:16], "TRT": t.tensorrt or "10.x", "JETPACK": t.jetpack or "?",
        "INPUTS": fmt(ctx.io.inputs), "OUTPUTS": fmt(ctx.io.outputs),
        "NORMALIZATION": ctx.src.config.get("normalization", "none"), "NOTES": "\n".join(notes)})
    (stage / "README.md").write_text(readme)
    files = sorted(p for p in stage.iterdir() if p.is_file() and p.name != "checksums.sha256")
    (stage / "checksums.sha256").write_text("".join(f"{sha256_file(p)}  {p.name}\n" for p in files))
    scheme = {**scheme, "engine": "model.engine", "trtexec": flags, "tensorrt_target": t.tensorrt,
              "jetpack": t.jetpack, "strongly_typed_onnx": st_onnx if st_onnx != "model.onnx" else None,
              "build_path": flags["build_path"]}
    return ctx.manifest("model.onnx", backend="tensorrt", scheme=scheme, status=None if _failed(ctx) else "kit")


def _build_path_note(t, precision: str, st_onnx: str) -> str:
    if t.strongly_typed:
        return (f"Build path: strongly typed (`--stronglyTyped` on {st_onnx}). TensorRT {t.tensorrt or '10.12+'} "
                f"deprecates (10.12+) or removes (11) weakly typed builds, so precision comes from the ONNX types: "
                f"fp16 compute, fp16 Q/DQ scales at opset 19, each DequantizeLinear feeding its MatMul/Conv directly. "
                f"build_engine.sh falls back to `{'--int8 --fp16' if precision == 'int8' else precision}` on model.onnx "
                f"if the board's TensorRT is older than 10.12.")
    flags = {"fp32": "no precision flags", "fp16": "`--fp16`", "int8": "`--int8 --fp16`"}[precision]
    return (f"Build path: weakly typed ({flags} on model.onnx). TensorRT {t.tensorrt or '10.x'} (JetPack "
            f"{t.jetpack or '?'}) predates 10.12, where strongly typed builds became the supported path; the Q/DQ "
            f"layers run int8 and the rest fp16. If the board has TensorRT 11, re-export with a strongly typed "
            f"profile (trt_build = \"strongly-typed\"): build_engine.sh stops with that message.")


def _failed(ctx) -> bool:
    return ctx.gate_result is not None and not ctx.gate_result.passed

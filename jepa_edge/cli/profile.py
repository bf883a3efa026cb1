"""`jepa-edge profile`: per-op time table (top N) of a bundle, an IR/ONNX file, or a trtexec profile.

A bundle, OpenVINO .xml or .onnx is run here (random inputs of the manifest's shapes) with the
backend's own profiler; a profile JSON (trtexec --exportProfile from the Jetson kit's profile.sh, an
ONNX Runtime trace) is only read, so a TensorRT profile taken on the device is tabulated here. Needs
no torch.
"""
from __future__ import annotations

from pathlib import Path

from jepa_edge.cli import _output
from jepa_edge.errors import ConfigError


def add_arguments(p):
    p.add_argument("target", type=Path,
                   help="bundle dir, OpenVINO .xml, .onnx, or a profile JSON (trtexec --exportProfile, ORT trace)")
    p.add_argument("--top", type=int, default=20, help="rows to show (default %(default)s)")
    p.add_argument("--trust-unverified", action="store_true",
                   help="open a bundle whose manifest.json carries no content hash (hand-made, older jepa-edge) unchecked")
    p.add_argument("--by-type", action="store_true", help="sum per op type and kernel instead of per op")
    p.add_argument("--runs", type=int, default=30, help="profiled inferences after warm-up")
    p.add_argument("--warmup", type=int, default=5, help="unprofiled inferences first (default %(default)s)")
    p.add_argument("--threads", type=int, help="inference threads (default: the backend's own)")
    p.add_argument("--layer-info", type=Path, help="trtexec --exportLayerInfo JSON (exact TensorRT layer types)")
    _output.add_json_flag(p, "every op's time")


def run(args) -> int:
    from jepa_edge.profiling.profile import profile_table

    if args.top < 1 or args.runs < 1 or args.warmup < 0:
        raise ConfigError("--top and --runs must be >= 1, --warmup >= 0")
    prof = profile_target(args.target, runs=args.runs, warmup=args.warmup, threads=args.threads,
                          layer_info=args.layer_info, trust_unverified=args.trust_unverified)
    _output.results_console(args, wide=True).print(profile_table(prof, top=args.top, by_type=args.by_type))
    _output.write_json(args, prof.to_dict())
    return 0


def profile_target(target: Path, *, runs: int = 30, warmup: int = 5, threads: int | None = None, layer_info=None,
                   trust_unverified: bool = False):
    """Dispatch on what `target` is; the library functions live in jepa_edge.profiling.profile."""
    import numpy as np

    from jepa_edge.errors import DataError
    from jepa_edge.profiling import profile as P

    if not target.exists():
        raise DataError(f"no such file or bundle: {target}")
    if target.suffix == ".json":
        kind = P.detect_json_kind(target)
        if kind == "tensorrt":
            sibling = target.with_name("layers.json")  # what the Jetson kit's profile.sh writes beside it
            if layer_info is None and sibling.is_file() and sibling != target:
                layer_info = sibling
            return P.parse_trtexec_profile(target, layer_info)
        return P.parse_onnxruntime_profile(target, skip_runs=1)
    if target.is_dir():
        from jepa_edge.inference.manifest import read_manifest

        m = read_manifest(target, verify=True, trust_unverified=trust_unverified)
        specs, entry, backend = m.inputs, target / m.entry, m.backend
        if backend == "tensorrt":
            raise ConfigError(f"{target} is a TensorRT bundle: profile it on the device with the kit's profile.sh, "
                              f"copy the JSON back and run `jepa-edge profile profile.json`")
        if backend == "torch":
            raise ConfigError(f"{target} is a torch bundle: export it to openvino or onnxruntime to profile per op")
        hint = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}.get(m.precision)
    elif target.suffix in (".xml", ".onnx"):
        specs, entry, backend, hint = None, target, "openvino" if target.suffix == ".xml" else "onnxruntime", None
    else:
        raise ConfigError(f"cannot profile {target}: give a bundle dir, .xml, .onnx or a profile .json")
    shapes = _input_shapes(entry, backend, specs)
    rng = np.random.default_rng(0)
    feeds = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
    if backend == "openvino":
        cfg = {"INFERENCE_NUM_THREADS": threads} if threads else {}
        if hint:
            cfg["INFERENCE_PRECISION_HINT"] = hint
        import openvino as ov

        model = ov.Core().read_model(str(entry))
        if any(p.get_partial_shape().is_dynamic for p in model.inputs):
            model.reshape({n: list(s) for n, s in shapes.items()})
        ordered = [feeds[p.get_any_name()] for p in model.inputs]
        return P.profile_openvino(model, ordered, runs=runs, warmup=warmup, config=cfg, what=str(target))
    return P.profile_onnxruntime(entry, feeds, runs=runs, warmup=warmup, threads=threads, what=str(target))


def _input_shapes(entry: Path, backend: str, specs) -> dict[str, tuple]:
    """Concrete input shapes: the manifest's, else the model's own with dynamic axes set to 1."""
    if specs:
        return {s.name: tuple(d if isinstance(d, int) else 1 for d in s.shape) for s in specs}
    if backend == "openvino":
        import openvino as ov

        model = ov.Core().read_model(str(entry))
        return {p.get_any_name(): tuple(d.get_length() if d.is_static else 1 for d in p.get_partial_shape())
                for p in model.inputs}
    import onnxruntime as ort

    sess = ort.InferenceSession(str(entry), providers=["CPUExecutionProvider"])
    return {i.name: tuple(d if isinstance(d, int) else 1 for d in i.shape) for i in sess.get_inputs()}


"""`jepa-edge bench`: latency you can trust, per backend x precision, against the measured peak.

Exports MODEL_DIR (or a seeded random-init --arch) to every backend x precision asked for (cached),
times each interleaved with the others after a warm-up (p50/p90/p99), measures the machine's
matrix-product peak per precision for a %-of-peak column, and, with --calib, the INT8 quality on the
held-out split. `--json PATH` saves the result (stable schema) for `--compare A.json B.json`.
"""
from __future__ import annotations

from pathlib import Path

from jepa_edge.cli import _output
from jepa_edge.errors import ConfigError


def _csv(s: str) -> tuple[str, ...]:
    return tuple(x.strip().lower() for x in s.split(",") if x.strip())


def add_arguments(p):
    p.add_argument("model_dir", nargs="?", help="model dir to export and bench (or use --arch / --bundle)")
    p.add_argument("--arch", help="bench a seeded random-init encoder of this arch, e.g. vit_small/16")
    p.add_argument("--img-size", type=int, default=224, help="input size in px with --arch (default %(default)s)")
    p.add_argument("--bundle", action="append", default=[], metavar="DIR",
                   help="an existing bundle to bench as it is (repeatable)")
    p.add_argument("--backends", type=_csv, default=("torch", "onnxruntime", "openvino"),
                   help="comma list: torch,onnxruntime,openvino,tensorrt (default: %(default)s)")
    p.add_argument("--precisions", type=_csv, default=("fp32", "int8"), help="comma list: fp32,bf16,fp16,int8,int8w (int8w: OpenVINO weight-only INT8); rows show "
                        "the precision that executed, e.g. 'bf16 → fp32 (no BF16 on this CPU)'")
    p.add_argument("--threads", type=int, help="threads per backend (default: the backend's own)")
    p.add_argument("--warmup", type=int, default=20, help="untimed runs per backend first (default %(default)s)")
    p.add_argument("--iters", type=int, default=200, help="timed runs per backend x precision (default %(default)s)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="cpu: CPU time per run, for A/B on a busy machine with --threads 1 (not a latency to quote)")
    p.add_argument("--calib", help="calibration set for INT8 exports; its held-out split feeds the quality column")
    p.add_argument("--quality-samples", type=int, default=8,
                   help="held-out samples for the quality column (default %(default)s)")
    p.add_argument("--cache", type=Path, help="export cache (default ~/.cache/jepa-edge/bench or $JEPA_EDGE_CACHE)")
    p.add_argument("--hint", default="LATENCY", choices=("LATENCY", "THROUGHPUT"), help="OpenVINO performance hint")
    p.add_argument("--no-peak", action="store_true", help="skip the peak measurement (no %% of peak column)")
    _output.add_json_flag(p, "the result (stable schema)")
    p.add_argument("--plot", type=Path, metavar="OUT.png", help="quality-vs-latency Pareto plot")
    p.add_argument("--hist", type=Path, metavar="OUT.png", help="latency histograms")
    p.add_argument("--peak", action="store_true", help="only measure and print the matrix-product peak per precision")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("A.json", "B.json"),
                   help="print two saved results side by side and exit")


def run(args) -> int:
    from jepa_edge.profiling import results

    console = _output.results_console(args, wide=True)  # logs and CI: do not squeeze the table
    if args.compare:
        a, b = (results.load_result(p) for p in args.compare)
        console.print(results.compare_table(a, b, names=(args.compare[0].stem, args.compare[1].stem)))
        return 0
    if args.peak:
        return _peak_only(args, console)
    from jepa_edge.profiling.bench import (BenchConfig, default_cache_dir, model_info_from_bundle,
                                           model_info_from_dir, random_model_dir, run_bench)
    from jepa_edge.profiling.timer import TimingConfig

    sources = sum([bool(args.model_dir), bool(args.arch)])
    if sources > 1:
        raise ConfigError("give either MODEL_DIR or --arch, not both")
    if sources == 0 and not args.bundle:
        raise ConfigError("nothing to bench: give MODEL_DIR, --arch NAME (e.g. vit_small/16) or --bundle DIR")
    if args.iters < 1 or args.warmup < 0:
        raise ConfigError("--iters must be >= 1 and --warmup >= 0")
    if args.clock == "cpu" and args.threads != 1:
        raise ConfigError("--clock cpu only means something with one inference thread: add --threads 1")
    cfg = BenchConfig(backends=args.backends, precisions=args.precisions, threads=args.threads,
                      timing=TimingConfig(args.warmup, args.iters, clock=args.clock), calib=args.calib,
                      cache_dir=args.cache or default_cache_dir(), quality_samples=args.quality_samples,
                      peak=not args.no_peak, hint=args.hint)
    model_dir = Path(args.model_dir) if args.model_dir else None
    if args.arch:
        model_dir = random_model_dir(args.arch, args.img_size, cfg.cache_dir)
    if model_dir is not None and not (model_dir / "config.json").is_file():
        raise ConfigError(f"{model_dir} is not a model dir (no config.json); convert or train one first")
    info = model_info_from_dir(model_dir) if model_dir else model_info_from_bundle(Path(args.bundle[0]))
    res = run_bench(model_dir, cfg, [Path(b) for b in args.bundle], info,
                    log=_output.info)
    console.print(results.result_table(res))
    if res.peak:
        console.print(results.peak_table(res.peak))
    _output.write_json(args, res.to_dict())
    if args.plot or args.hist:
        from jepa_edge.profiling import plots

        if args.plot:
            plots.pareto_plot([res], args.plot)
            _output.info(f"wrote {args.plot}")
        if args.hist:
            plots.latency_histograms(res, args.hist)
            _output.info(f"wrote {args.hist}")
    return 0 if any(r.status == "ok" for r in res.rows) else 1


def _peak_only(args, console) -> int:
    from jepa_edge.profiling import results
    from jepa_edge.profiling.peak import measure_peak
    from jepa_edge.utils.device_info import describe

    precisions = tuple(p for p in args.precisions if p in ("fp32", "bf16", "fp16", "int8")) \
        if args.precisions != ("fp32", "int8") else ("fp32", "bf16", "fp16", "int8")
    peaks = measure_peak(precisions, args.threads, seconds=0.5)
    console.print(results.peak_table(peaks))
    if args.json:
        res = results.BenchResult([], describe(), {"threads": args.threads, "what": "peak only"}, {}, peaks,
                                  results.command_line())
        _output.write_json(args, res.to_dict())
    return 0

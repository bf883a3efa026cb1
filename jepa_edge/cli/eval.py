"""`jepa-edge eval MODEL_DIR [--teacher DIR]`: probes, intuitive physics, agreement, AC rollout."""
from __future__ import annotations

import json
from pathlib import Path


def add_arguments(p):
    p.add_argument("model", metavar="MODEL_DIR", help="model dir to evaluate")
    p.add_argument("--teacher", metavar="DIR", help="teacher model dir: agreement, and targets for a distilled predictor")
    p.add_argument("--out", help="where eval.json and eval.png go (default: MODEL_DIR/eval)")
    p.add_argument("--random-init", action="store_true", help="evaluate the same architecture at random init (baseline)")
    p.add_argument("--probe-clips", type=int, default=120, help="held-out clips for the position probes; the patch probe's R² "
                   "grows with it while its features outnumber the rows, so compare models at one value")
    p.add_argument("--vo-pairs", type=int, default=40, help="matched possible/impossible pairs per violation type")
    p.add_argument("--rollout-trajectories", type=int, default=64)
    p.add_argument("--plan-episodes", type=int, default=20,
                   help="reach episodes for the plannability check of the latent space (0 skips it)")
    p.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="also write the results JSON to PATH (no PATH: print JSON instead of the table)")
    p.add_argument("--threads", type=int, default=None)


def run(args) -> int:
    from jepa_edge.eval.report import print_table, write_report
    from jepa_edge.eval.run import EvalOptions, evaluate
    from jepa_edge.training.cli_args import apply_threads

    apply_threads(args)
    opts = EvalOptions(probe_clips=args.probe_clips, vo_pairs=args.vo_pairs,
                       rollout_trajectories=args.rollout_trajectories, plan_episodes=args.plan_episodes,
                       random_init=args.random_init)
    from jepa_edge.profiling.results import command_line
    from jepa_edge.utils.device_info import describe

    results = {"command": command_line(), "machine": describe(), **evaluate(args.model, args.teacher, opts)}
    out = Path(args.out) if args.out else Path(args.model) / ("eval_random_init" if args.random_init else "eval")
    files = write_report(results, out, title=f"eval {Path(args.model).name}")
    if args.json and args.json != "-":
        from jepa_edge.utils.files import atomic_write_json

        atomic_write_json(args.json, results)
    if args.json == "-":
        print(json.dumps(results, indent=2))
    else:
        print_table(results, title=f"jepa-edge eval {args.model}")
        print(f"wrote {files['json']} and {files['png']}")
    return 0

"""`jepa-edge eval MODEL_DIR [--teacher DIR]`: probes, intuitive physics, agreement, AC rollout.

On held-out clips of the built-in world: linear probes of the agent's and objects' positions
(pooled, per patch, dense), intuitive-physics violation-of-expectation pairs, the AC predictor's
rollout error, and how well the latent distance ranks states for planning; with --teacher, agreement
(CKA) with the teacher. Writes eval.json + eval.png under --out and prints a table.
"""
from __future__ import annotations

from pathlib import Path

from jepa_edge.cli import _output


def add_arguments(p):
    p.add_argument("model", metavar="MODEL_DIR", help="model dir to evaluate")
    p.add_argument("--trust-unverified", action="store_true",
                   help="load a model dir whose config.json carries no hashes (hand-made, older jepa-edge) unchecked")
    p.add_argument("--teacher", metavar="DIR", help="teacher model dir: agreement, and targets for a distilled predictor")
    p.add_argument("--out", help="where eval.json and eval.png go (default: MODEL_DIR/eval)")
    p.add_argument("--random-init", action="store_true", help="evaluate the same architecture at random init (baseline)")
    p.add_argument("--probe-clips", type=int, default=120, help="held-out clips for the position probes; the patch probe's R² "
                   "grows with it while its features outnumber the rows, so compare models at one value")
    p.add_argument("--vo-pairs", type=int, default=40, help="matched possible/impossible pairs per violation type")
    p.add_argument("--rollout-trajectories", type=int, default=64,
                   help="world trajectories for the AC predictor's rollout error (default %(default)s)")
    p.add_argument("--plan-episodes", type=int, default=20,
                   help="reach episodes for the plannability check of the latent space (0 skips it)")
    _output.add_json_flag(p, "the results (as in eval.json)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


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

    results = {"command": command_line(), "machine": describe(), **evaluate(*_trusted(args, args.model, args.teacher), opts)}
    out = Path(args.out) if args.out else Path(args.model) / ("eval_random_init" if args.random_init else "eval")
    files = write_report(results, out, title=f"eval {Path(args.model).name}")
    _output.write_json(args, results)
    if not _output.json_to_stdout(args):
        print_table(results, title=f"jepa-edge eval {args.model}")
    _output.info(f"wrote {files['json']} and {files['png']}")
    return 0


def _trusted(args, *dirs):
    """The model dirs as paths (evaluate loads and verifies them), or loaded unchecked with --trust-unverified."""
    if not args.trust_unverified:
        return dirs
    from jepa_edge.models.model_dir import load_model_dir

    return tuple(load_model_dir(d, trust_unverified=True) if d is not None else None for d in dirs)

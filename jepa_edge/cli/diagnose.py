"""`jepa-edge diagnose ENCODER [--predictor P] --json PATH`: does the planning energy point the way?

In the built-in world's reach episodes the agent is moved in 16 directions for 1, 3 and 6 world
steps; each end frame is encoded (and, with an AC predictor, imagined through it as the planner
rolls it out) and every energy is scored by its rank correlation with the distance still to go
(rho) and by how often its lowest-energy direction gets closer (best_closer). The verdict: pass
when one energy reaches --min-rho and --min-closer at --horizon steps on the true frames and
through the predictor. Exit status 0 on pass, 1 on fail. See jepa_edge/eval/energy_direction.py.
"""
from __future__ import annotations

from jepa_edge.cli._output import add_json_flag, say, write_json
from jepa_edge.errors import ConfigError


def add_arguments(p):
    p.add_argument("encoder", help="model dir (config.json) or encoder bundle (manifest.json)")
    p.add_argument("--predictor", default=None,
                   help="AC predictor model dir or bundle (default: the encoder's model dir, when it holds one)")
    p.add_argument("--no-predictor", action="store_true", help="score true frames only")
    p.add_argument("--energies", nargs="+", default=["l1", "l1_smooth"], choices=("l1", "l1_smooth"),
                   help="planning energies to score (planner.energy; default: both)")
    p.add_argument("--smooth-sigma", type=float, nargs="+", default=[0.25],
                   help="l1_smooth blur sigma(s), a fraction of the token grid's side (planner.smooth_sigma)")
    p.add_argument("--delta-scale", type=float, nargs="+", default=[1.0],
                   help="also score predicted changes at these scales (planner.delta_scale), e.g. 1 0.25 0.05")
    p.add_argument("--episodes", type=int, default=10, help="reach episodes (seeds from --first-seed)")
    p.add_argument("--first-seed", type=int, default=1000, help="first reach-episode seed (default 1000)")
    p.add_argument("--horizons", type=int, nargs="+", default=[1, 3, 6], help="world steps ahead to score")
    p.add_argument("--horizon", type=int, default=3, help="the horizon the verdict is taken at (default 3)")
    p.add_argument("--min-rho", type=float, default=0.3, help="verdict threshold on mean Spearman rho (default 0.3)")
    p.add_argument("--min-closer", type=float, default=0.7,
                   help="verdict threshold on the share of episodes whose best direction gets closer (default 0.7)")
    p.add_argument("--threads", type=int, default=2, help="torch / session intra-op threads (default 2)")
    add_json_flag(p, "the scores and the verdict")


def run(args) -> int:
    import os
    import sys

    import torch

    from jepa_edge.eval.energy_direction import Threshold, diagnose, energy_key
    from jepa_edge.utils.device_info import describe

    if args.episodes < 1 or any(h < 1 for h in [*args.horizons, args.horizon]):
        raise ConfigError("--episodes and every horizon must be >= 1")
    if any(s <= 0 for s in args.delta_scale):
        raise ConfigError("--delta-scale values must be > 0")
    torch.set_num_threads(max(1, args.threads))
    energies = {}
    for kind in args.energies:
        for sigma in ([0.0] if kind == "l1" else args.smooth_sigma):
            energies[energy_key(kind, sigma)] = (kind, sigma)
    threshold = Threshold(args.horizon, args.min_rho, args.min_closer)
    result = diagnose(args.encoder, args.predictor, use_predictor=not args.no_predictor, episodes=args.episodes,
                      first_seed=args.first_seed, horizons=args.horizons, energies=energies,
                      delta_scales=args.delta_scale, threshold=threshold, threads=args.threads)
    result = {"command": "jepa-edge " + " ".join(sys.argv[1:]), **result, "machine": describe(), "load_avg_after": os.getloadavg()}
    for c in result["checks"]:
        energy = c["energy"] + (f" sigma {c['smooth_sigma']:g}" if c["smooth_sigma"] else "")
        scale = f" delta scale {c['delta_scale']:g}" if c["delta_scale"] != 1 else ""
        say(args, f"  {energy:22s} {c['source'] + scale:28s} H{c['horizon_steps']}: rho {c['spearman']:+.2f} "
              f"closer {c['best_closer']:.2f}  {'pass' if c['pass'] else 'fail'}")
    say(args, f"verdict: {result['verdict'].upper()} (rho >= {args.min_rho:g} and closer >= {args.min_closer:g} at "
          f"{args.horizon} steps): {result['reason']}")
    if result["recommended"]:
        say(args, "  set: " + ", ".join(f"{k} = {v!r}" for k, v in result["recommended"].items() if v is not None))
    write_json(args, result)
    return 0 if result["passed"] else 1

"""Pack a finished `jepa-edge train --recipe NAME --out DIR` into the shipped reference model reference/NAME/.

    python experiments/pack_reference.py runs/reach                  # -> reference/tabletop-reach/
    python experiments/pack_reference.py runs/reach --episodes 40    # + its goal reaching, fp16 weights as shipped

The train-ac model dir loses its mask-token predictor (planning never uses it) and stores its
parameters in fp16 (jepa_edge/chain/reference.py pack_reference). Then the packed weights are
evaluated as a user gets them: `jepa-edge run --episodes N --models.encoder reference:NAME`
(INT8 bundles built from the fp16 weights, seeds from 1000 on, random and oracle beside), and the
result goes into reference.json with the commands that made it.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("chain_dir", type=Path, help="the --out of a finished `jepa-edge train --recipe NAME`")
    p.add_argument("--name", help="reference name (default: the recipe's)")
    p.add_argument("--episodes", type=int, default=40, help="goal-reaching episodes of the packed weights (0: none)")
    p.add_argument("--iterations", type=int, default=4, help="CEM iterations per action in that evaluation")
    args = p.parse_args()

    from jepa_edge.chain.reference import pack_reference
    from jepa_edge.cli import main as cli_main
    from jepa_edge.utils.files import read_json

    report = read_json(args.chain_dir / "report.json", SystemExit, "rerun jepa-edge train")
    name = args.name or report["recipe"]["name"]
    dest = ROOT / "reference" / name
    made_by = f"jepa-edge train --recipe {report['recipe']['name']} --out {args.chain_dir}"
    packed_by = "python experiments/pack_reference.py " + shlex.join(sys.argv[1:])
    info = pack_reference(args.chain_dir, dest, made_by=made_by, packed_by=packed_by)
    print(f"packed {dest}: {info['bytes'] / 1e6:.1f} MB")
    if args.episodes:
        eval_json = dest / "goal_reaching.json"
        argv = ["run", "--episodes", str(args.episodes), "--first-seed", "1000", "--methods", "random,student,oracle",
                "--models.encoder", f"reference:{name}", "--sim.max_steps", "60", "--planner.samples", "256",
                "--planner.iterations", str(args.iterations), "--json", str(eval_json)]
        code = cli_main(argv)
        if code:
            return code
        info = pack_reference(args.chain_dir, dest, made_by=made_by, packed_by=packed_by, eval_json=eval_json,
                              eval_command="jepa-edge " + shlex.join(argv))
        eval_json.unlink()  # its summary is in reference.json; the per-episode records are not shipped
        s = info["eval"]["methods"]
        print(" | ".join(f"{k} {100 * v['success_rate']:.0f}%" for k, v in s.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

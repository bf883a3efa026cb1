"""Does the agent-position probe's R^2 grow with probe data? (is 300 clips enough to judge an encoder?)

`jepa-edge eval` fits its per-patch ridge probe on 300 held-out clips: 1,800 slots of h*w*D
features (6,144 for vit_small/16 at 64 px), so the probe has more weights than samples. This fits
the same probe (same clips, first N of them; same folds and lambda search) at growing N, for the
trained models, the teacher architecture at random init and raw pixels, so the gap between them can
be read at each N.

    python experiments/bench_distill.py ...            # the models under runs/distill_bench
    python experiments/probe_scaling.py --clips 300 1000 2000

Writes experiments/results/probe_scaling.json.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jepa_edge.utils.device_info import describe  # noqa: E402
from jepa_edge.utils.files import atomic_write_json  # noqa: E402

RUNS = ROOT / "runs" / "distill_bench"
FRAMES = 12  # as bench_distill's EVAL (probe_frames)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, nargs="+", default=[300, 1000, 2000])
    ap.add_argument("--models", nargs="+", default=["teacher", "student"], help="model dirs under --runs")
    ap.add_argument("--runs", type=Path, default=RUNS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-random-init", action="store_true", help="skip the first model's random-init twin (halves the time)")
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "probe_scaling.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from jepa_edge.eval.features import held_out_clips, model_normalization, slot_tokens, slot_truth
    from jepa_edge.eval.probes import pixel_probes, position_probes
    from jepa_edge.eval.run import random_like
    from jepa_edge.models.model_dir import load_model_dir

    bundles = {name: load_model_dir(args.runs / name / "model") for name in args.models}
    if not args.no_random_init:
        bundles[f"{args.models[0]}_random_init"] = random_like(bundles[args.models[0]], 0)
    encoders = {name: (b.encoder.eval(), model_normalization(b.config)) for name, b in bundles.items()}
    sizes = {enc.cfg.img_size for enc, _ in encoders.values()}
    if len(sizes) != 1:
        ap.error(f"the models take different input sizes {sorted(sizes)}: give models of one size")

    t0 = time.perf_counter()
    clips = held_out_clips(max(args.clips), FRAMES, sizes.pop())
    with torch.no_grad():  # every clip through every encoder once; each probe size takes the first n
        all_tokens = {name: slot_tokens(enc, clips.frames, norm) for name, (enc, norm) in encoders.items()}
    rows = {}
    for n in sorted(args.clips):
        row = {}
        for name, (enc, _) in encoders.items():
            tokens = all_tokens[name][:n]
            r = position_probes(tokens, slot_truth(clips.agent[:n], enc.cfg), slot_truth(clips.objects[:n], enc.cfg),
                                kinds=("patch",))
            row[name] = {"agent_r2_patch": round(r["agent"]["patch"]["r2"], 4),
                         "objects_r2_patch": round(r["objects"]["patch"]["r2"], 4),
                         "features": int(tokens.shape[2] * tokens.shape[3]), "samples": r["agent"]["patch"]["n"]}
        px = pixel_probes(clips.frames[:n], clips.agent[:n], clips.objects[:n])
        row["pixels_16x16"] = {"agent_r2_patch": round(px["agent"]["r2"], 4), "objects_r2_patch": round(px["objects"]["r2"], 4),
                               "features": 768, "samples": px["agent"]["n"]}
        rows[str(n)] = row
        print(f"{n} clips: " + "  ".join(f"{k} {v['agent_r2_patch']:.3f}" for k, v in row.items())
              + f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
        atomic_write_json(args.out, {
            "what": __doc__.splitlines()[0], "command": "python " + " ".join(sys.argv), "machine": describe(),
            "load_average": os.getloadavg(), "frames_per_clip": FRAMES, "models": {k: str(args.runs / k / "model") for k in args.models},
            "agent_r2_patch_by_clips": rows, "seconds": round(time.perf_counter() - t0, 1)})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

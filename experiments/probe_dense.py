"""Do the tokens say where the agent is? The dense probe on trained models, their random inits and raw pixels.

`jepa-edge eval`'s dense probe (eval/probes.py: dense_probe) fits one ridge, shared by every token,
from a token to the share of its area the agent covers, then reads the agent's position linearly
from the slot's coverage estimates. Its D + h*w weights are not starved of data the way the patch
probe's h*w*D are (probe_scaling.py), so it answers one question cleanly: does training put the
agent into the tokens where it is, or take it out? The floor is the same probe on raw pixel patches
(each token = its patch's pixels, at the model's patch size).

    python experiments/probe_dense.py [--clips 2000] [--models teacher=runs/... student=runs/...]

Writes experiments/results/probe_dense.json.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jepa_edge.utils.device_info import describe  # noqa: E402
from jepa_edge.utils.files import atomic_write_json  # noqa: E402

RUNS = ROOT / "runs" / "distill_bench"
MODELS = {"teacher": RUNS / "teacher" / "model", "student": RUNS / "student" / "model",
          "student_scratch": RUNS / "student_scratch" / "model"}
FRAMES, SIZE = 12, 64  # as bench_distill's EVAL


def pixel_tokens(frames: np.ndarray, patch: int):
    """uint8 [n, L, H, W, 3] -> float [n, L, (H/p)*(W/p), p*p*3]: every patch's pixels, row-major."""
    import torch

    n, L, H, W, C = frames.shape
    x = frames.reshape(n, L, H // patch, patch, W // patch, patch, C).transpose(0, 1, 2, 4, 3, 5, 6)
    return torch.from_numpy(x.reshape(n, L, (H // patch) * (W // patch), -1).astype(np.float32) / 255.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=2000)
    ap.add_argument("--models", nargs="*", help="NAME=MODEL_DIR ... (default: bench_distill's teacher and students)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "probe_dense.json")
    args = ap.parse_args()

    import torch

    from jepa_edge.data.world import WorldConfig
    from jepa_edge.eval.features import agent_coverage, held_out_clips, model_normalization, slot_tokens, slot_truth
    from jepa_edge.eval.probes import coverage, position_probes
    from jepa_edge.eval.run import random_like
    from jepa_edge.models.model_dir import load_model_dir

    torch.set_num_threads(args.threads)
    models = dict(m.split("=", 1) for m in args.models) if args.models else MODELS
    t0 = time.perf_counter()
    clips = held_out_clips(args.clips, FRAMES, SIZE)
    rows, floors = {}, set()

    def record(name: str, r: dict, extra: dict) -> None:
        d = r["agent"]["dense"]
        rows[name] = {**extra, "agent_r2_dense": round(d["r2"], 4), "coverage_r2": round(d["coverage_r2"], 4),
                      "agent_r2_pooled": round(r["agent"]["pooled"]["r2"], 4), "lambdas": d["lambdas"]}
        print(f"{name:28s} dense {d['r2']:.3f}  coverage {d['coverage_r2']:.3f}  pooled {r['agent']['pooled']['r2']:.3f}", flush=True)

    for name, path in models.items():
        bundle = load_model_dir(path)
        for random_init in (False, True):
            b = (random_like(bundle, 0) if random_init else bundle).eval()
            enc = b.encoder
            with torch.no_grad():
                tokens = slot_tokens(enc, clips.frames, model_normalization(b.config))
            r = position_probes(tokens, slot_truth(clips.agent, enc.cfg), slot_truth(clips.objects, enc.cfg),
                                kinds=("pooled",), agent_cover=agent_coverage(clips.agent, enc.cfg))
            record(f"{name}{' (random init)' if random_init else ''}", r,
                   {"model": str(path), "random_init": random_init, "patch_size": enc.cfg.patch_size, "grid": enc.cfg.grid[1],
                    "dim": enc.cfg.embed_dim})
        p = enc.cfg.patch_size
        if p not in floors:  # the raw-pixel floor at this token size, one row per frame
            px = pixel_tokens(clips.frames, p)
            r = position_probes(px, clips.agent, clips.objects, kinds=("pooled",),
                                agent_cover=coverage(clips.agent, WorldConfig().agent_radius, SIZE // p))
            floors.add(p)
            record(f"raw pixel patches {p}x{p}", r, {"patch_size": p, "grid": SIZE // p, "dim": px.shape[-1]})
    atomic_write_json(args.out, {
        "what": __doc__.splitlines()[0], "command": "python " + " ".join(sys.argv), "machine": describe(),
        "clips": args.clips, "frames": FRAMES, "size": SIZE, "rows": rows,
        "seconds": round(time.perf_counter() - t0, 1)})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

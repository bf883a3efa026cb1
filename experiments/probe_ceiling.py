"""What could the agent-position probe reach with ideal token features? (the ceiling, not a model)

`jepa-edge eval`'s probe is ridge regression from each slot's tokens to the agent's position. This
feeds the same probe, on the same held-out clips, hand-made features that a perfect encoder could
put in its tokens: per token, the share of the token's area the agent covers (exact geometry from
the ground-truth position), or a one-hot of the token that holds the agent's centre. If these reach
~1, the probe's form is not what holds the encoders' R^2 down (its data can be, for features of
thousands of dimensions: probe_scaling.py).

    python experiments/probe_ceiling.py      # ~2 min; writes experiments/results/probe_ceiling.json
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jepa_edge.data.world import WorldConfig  # noqa: E402
from jepa_edge.eval.features import held_out_clips  # noqa: E402
from jepa_edge.eval.probes import coverage, pixel_probes, ridge_probe  # noqa: E402
from jepa_edge.utils.device_info import describe  # noqa: E402
from jepa_edge.utils.files import atomic_write_json  # noqa: E402

CLIPS, FRAMES, SIZE = 2000, 12, 64  # as bench_distill's EVAL: probe_clips=2000, probe_frames=12


def centre_one_hot(pos: np.ndarray, grid: int) -> np.ndarray:
    cell = np.clip((pos * grid).astype(int), 0, grid - 1)
    out = np.zeros((len(pos), grid * grid))
    out[np.arange(len(pos)), cell[:, 1] * grid + cell[:, 0]] = 1.0
    return out


def main() -> int:
    t0 = time.perf_counter()
    clips = held_out_clips(CLIPS, FRAMES, SIZE)
    agent = clips.agent.reshape(-1, 2)  # [n*L, 2], one row per frame
    groups = np.repeat(np.arange(CLIPS), FRAMES)
    radius = WorldConfig().agent_radius
    rows = {}
    for grid in (4, 8):  # 64 px at patch 16 and at patch 8
        for name, feats in (("coverage", coverage(agent, radius, grid)), ("centre_one_hot", centre_one_hot(agent, grid))):
            rows[f"{name}_{grid}x{grid}"] = round(ridge_probe(feats, agent, groups)["r2"], 4)
    rows["pixels_16x16"] = round(pixel_probes(clips.frames, clips.agent, clips.objects)["agent"]["r2"], 4)
    for k, v in rows.items():
        print(f"{k:22s} agent R^2 {v:.4f}")
    result = {"what": __doc__.splitlines()[0], "command": "python experiments/probe_ceiling.py", "machine": describe(),
              "clips": CLIPS, "frames": FRAMES, "size": SIZE, "agent_r2": rows,
              "seconds": round(time.perf_counter() - t0, 1)}
    out = ROOT / "experiments" / "results" / "probe_ceiling.json"
    atomic_write_json(out, result)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Built-in world throughput: rendering, physics, whole clips and dataset items, per image size.

    python benchmarks/bench_world.py [--repeats 15] [--out benchmarks/results/world.json]

Each measurement times a batch of frames after a warm-up, repeats it, and reports the median and
p99 time per frame and the median frames/s. Single process, single thread (as a DataLoader worker
would run it).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

from jepa_edge.data import WorldClips, WorldImages, make_clip, make_policy, make_vo_pair
from jepa_edge.data.world import TabletopWorld, WorldConfig
from jepa_edge.utils.device_info import describe
from jepa_edge.utils.files import atomic_write_json

SIZES = (64, 128, 224, 256)


def timed(fn, frames_per_call: int, repeats: int, warmup: int = 2) -> dict:
    for _ in range(warmup):
        fn()
    per_frame = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        per_frame.append((time.perf_counter() - t) / frames_per_call)
    per_frame = np.array(per_frame)
    return {"median_us_per_frame": float(np.median(per_frame) * 1e6),
            "p99_us_per_frame": float(np.percentile(per_frame, 99) * 1e6),
            "frames_per_s": float(1.0 / np.median(per_frame))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--frames", type=int, default=200, help="frames per timed batch")
    ap.add_argument("--out", default="benchmarks/results/world.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    cfg = WorldConfig()
    world = TabletopWorld(cfg, seed=0)
    states, actions = world.record(make_policy("explore", cfg, 0), args.frames)
    results: dict = {"physics": {}, "render": {}, "clip": {}, "dataset": {}}

    def physics():
        w = TabletopWorld(cfg, seed=1)
        for a in actions:
            w.step(a)
    results["physics"] = timed(physics, len(actions), args.repeats)

    for size in SIZES:
        def render(size=size):
            for s in states:
                world.renderer(s, size)
        results["render"][str(size)] = timed(render, len(states), args.repeats)

        def clip(size=size):   # physics + exploration policy + render, 16-frame clips
            for i in range(args.frames // 16):
                make_clip(i, frames=16, size=size)
        results["clip"][str(size)] = timed(clip, 16 * (args.frames // 16), args.repeats)

        clips = WorldClips(n=10_000, frames=16, size=size)
        def clip_items(clips=clips):  # + ImageNet normalization to float32 [C, T, H, W]
            for i in range(args.frames // 16):
                clips[i]
        results["dataset"][f"WorldClips_{size}"] = timed(clip_items, 16 * (args.frames // 16), args.repeats)

    images = WorldImages(n=10_000, size=64)
    results["dataset"]["WorldImages_64"] = timed(lambda: [images[i] for i in range(50)], 50, args.repeats)

    def vo():
        for i in range(3):
            make_vo_pair(i, "vanish", frames=16, size=64)
    results["vo_pair_vanish_64"] = timed(vo, 3 * 2 * 16, max(args.repeats // 3, 3))

    report = {
        "command": "python " + " ".join(sys.argv),
        "machine": describe(),
        "threads": 1,
        # this machine is shared: a load average above its core count means the numbers are low
        "load_average_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "frames_per_batch": args.frames,
        "repeats": args.repeats,
        "results": results,
    }
    atomic_write_json(args.out, report)
    from rich.console import Console
    from rich.table import Table

    table = Table(title="built-in world, frames/s (median) and p99 us/frame, 1 thread")
    for col in ("size", "render", "clip (physics+policy+render)", "WorldClips item (+normalize)"):
        table.add_column(col, justify="right")
    for size in SIZES:
        r, c, d = (results[k][key] for k, key in (("render", str(size)), ("clip", str(size)),
                                                   ("dataset", f"WorldClips_{size}")))
        table.add_row(str(size), *(f"{m['frames_per_s']:,.0f} ({m['p99_us_per_frame']:.0f} us)" for m in (r, c, d)))
    Console().print(table)
    print(f"physics steps/s: {results['physics']['frames_per_s']:,.0f}; "
          f"WorldImages@64 items/s: {results['dataset']['WorldImages_64']['frames_per_s']:,.0f}; "
          f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

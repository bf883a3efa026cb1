"""How long does the eval's cross-validated ridge probe take, refitting by eigendecomposition vs Cholesky?

`ridge_probes` searches lambda on an inner split with one eigendecomposition per fold, then refits
on all training clips at the chosen lambda. The refit used to eigendecompose again; it now solves
by Cholesky. Both are timed here on synthetic features of the eval's shape, alternating, on the
same data, and their R^2 compared (they must agree).

    python benchmarks/bench_probe.py                       # 1,000 clips x 6 slots, 3,072 features (the student)
    python benchmarks/bench_probe.py --clips 2000 --features 6144 --repeats 2   # the teacher at bench_distill's size

Writes benchmarks/results/probe.json.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jepa_edge.eval import probes  # noqa: E402
from jepa_edge.utils.device_info import describe  # noqa: E402
from jepa_edge.utils.files import atomic_write_json  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=1000)
    ap.add_argument("--slots", type=int, default=6, help="rows per clip (bench_distill: 12 frames = 6 video slots)")
    ap.add_argument("--features", type=int, default=3072)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "probe.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    n = args.clips * args.slots
    X = rng.standard_normal((n, args.features)).astype(np.float32)
    targets = {"agent": X[:, :2] @ rng.standard_normal((2, 2)) + 0.5 * rng.standard_normal((n, 2)),
               "objects": rng.standard_normal((n, 6))}
    groups = np.repeat(np.arange(args.clips), args.slots)
    fit = probes.Ridge.fit

    def eig_refit(self, X, Y, many_lambdas=True):  # the old refit: always eigendecompose
        return fit(self, X, Y, many_lambdas=True)

    times = {"eigh refit": [], "cholesky refit": []}
    r2 = {}
    for _ in range(args.repeats):
        for name in times:
            t0 = time.perf_counter()
            if name == "eigh refit":
                with mock.patch.object(probes.Ridge, "fit", eig_refit):
                    res = probes.ridge_probes(X, targets, groups)
            else:
                res = probes.ridge_probes(X, targets, groups)
            times[name].append(time.perf_counter() - t0)
            r2[name] = {t: round(r["r2"], 6) for t, r in res.items()}
            print(f"{name:15s} {times[name][-1]:7.1f} s  R^2 {r2[name]}", flush=True)
    med = {k: float(np.median(v)) for k, v in times.items()}
    speedup = med["eigh refit"] / med["cholesky refit"]
    print(f"median: eigh refit {med['eigh refit']:.1f} s, cholesky refit {med['cholesky refit']:.1f} s -> {speedup:.2f}x")
    atomic_write_json(args.out, {
        "what": __doc__.splitlines()[0], "command": "python " + " ".join(sys.argv), "machine": describe(),
        "load_average": os.getloadavg(), "rows": n, "features": args.features, "clips": args.clips,
        "seconds": {k: [round(x, 2) for x in v] for k, v in times.items()},
        "median_s": {k: round(v, 2) for k, v in med.items()}, "speedup": round(speedup, 3), "r2": r2,
        "max_r2_difference": max(abs(r2["eigh refit"][t] - r2["cholesky refit"][t]) for t in targets)})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

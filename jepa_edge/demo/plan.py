"""The demo's step table: what runs, in which order, with which flags.

Every step is one public `jepa-edge` command line (an argv list), so the table doubles as the
worked example a user can copy. The demo trains its own small chain with a recipe (`train --recipe
demo`: teacher -> student -> AC predictor -> INT8 -> goal reaching), then runs the shipped reference
model (`reference:tabletop-reach`) through goal reaching and the real-time loop, each through the
firmware simulator. Sizes live in one frozen dataclass per budget: FULL fits 10 min on an idle
2-core CPU, QUICK fits the test suite's 3 min; both were chosen by measuring
(benchmarks/run_demo.py writes the per-step wall-clock).
"""
from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass
from pathlib import Path

REFERENCE = "reference:tabletop-reach"


@dataclass(frozen=True)
class DemoSizes:
    name: str
    recipe: str = "demo"  # the recipe the demo trains its own chain with (recipes/demo.toml)
    # the shipped reference model's goal reaching: the number it is held to (≥ 80%) needs ≥ 40 goals
    reference_goals: int = 40
    reference_max_steps: int = 60
    reference_samples: int = 256
    reference_iterations: int = 1  # CEM iterations per action: 1 is what the real-time loop affords
    reference_threshold: float = 0.8
    # the real-time loop with the reference: ticks at the perception rate, held to tick p99 ≤ loop_p99_ms
    loop_ticks: int = 300
    loop_p99_ms: float = 33.0
    # bench of the demo's own student
    bench_warmup: int = 20
    bench_iters: int = 200


FULL = DemoSizes(name="full")

# Small everything: the point is that every command runs end to end, not the numbers.
QUICK = DemoSizes(name="quick", recipe="demo-quick", reference_goals=2, reference_max_steps=12, reference_samples=32,
                  loop_ticks=60, bench_warmup=3, bench_iters=20)


@dataclass(frozen=True)
class Step:
    """One demo step: the command a user would type, and what it must leave behind."""

    name: str  # short id: "train", "bench", ... (the summary's row, the report's plot prefix)
    title: str  # what the step does, in words
    argv: tuple[str, ...]  # arguments after `jepa-edge`
    needs: tuple[str, ...] = ()  # steps whose outputs this one reads (skipped if one failed)
    outputs: tuple[str, ...] = ()  # paths that must exist when the step succeeded
    plots: tuple[str, ...] = ()  # PNGs the step writes; the report copies them
    ok_codes: tuple[int, ...] = (0,)  # exit codes that mean "ran" (train: 3 = ran, a threshold missed)

    @property
    def command(self) -> str:
        return "jepa-edge " + shlex.join(self.argv)


@dataclass(frozen=True)
class Layout:
    """Where every step writes, under the demo's --out folder."""

    out: Path

    @property
    def chain(self) -> Path:  # `train --recipe demo --out` (its stages' folders, chain.json, report)
        return self.out / "chain"

    @property
    def model(self) -> Path:  # the demo's student encoder + AC predictor
        return self.chain / "train-ac" / "model"

    def run_dir(self, stage: str) -> Path:  # pretrain, distill, train-ac
        return self.chain / stage

    def chain_bundle(self, part: str) -> Path:
        return self.chain / "bundles" / part

    @property
    def bundles(self) -> Path:
        return self.out / "bundles"

    @property
    def bench_dir(self) -> Path:
        return self.out / "bench"

    @property
    def reference_json(self) -> Path:
        return self.out / "reference" / "goal_reaching.json"

    @property
    def loop_json(self) -> Path:
        return self.out / "loop" / "run.json"

    @property
    def report_dir(self) -> Path:
        return self.out / "report"


def demo_steps(out: str | Path, sizes: DemoSizes = FULL, teacher: str | Path | None = None) -> list[Step]:
    """The ordered step table. `teacher`: an existing teacher model dir to use instead of pretraining."""
    L = Layout(Path(out))
    s = sizes
    steps: list[Step] = []

    argv = ["train", "--recipe", s.recipe, "--out", str(L.chain)] + (["--teacher", str(teacher)] if teacher else [])
    steps.append(Step("train", f"train its own chain with the `{s.recipe}` recipe: teacher -> student -> AC predictor "
                      "-> INT8 (OpenVINO) -> goal reaching", tuple(argv),
                      outputs=(str(L.chain / "report.json"), str(L.model / "config.json")),
                      plots=tuple(str(L.run_dir(n) / "loss.png") for n in ("pretrain", "distill", "train-ac")
                                  if not (teacher and n == "pretrain")),
                      ok_codes=(0, 3)))

    kit = L.bundles / "jetson-orin-nano"
    steps.append(Step("export-jetson-orin-nano", "build the Jetson Orin Nano kit (Q/DQ ONNX + build_engine.sh)", (
        "export", str(L.model), "--target", "jetson-orin-nano", "--precision", "int8",
        "--calib", str(L.chain / "calibration" / "encoder"), "--out", str(kit), "--overwrite",
        "--json", str(L.bundles / "jetson-orin-nano.json")),
        needs=("train",), outputs=(str(kit / "manifest.json"), str(L.bundles / "jetson-orin-nano.json"))))

    bench_json = L.bench_dir / "bench.json"
    steps.append(Step("bench", "bench table of its student: torch / ONNX Runtime / OpenVINO FP32 vs the INT8 bundle", (
        "bench", str(L.model), "--backends", "torch,onnxruntime,openvino", "--precisions", "fp32",
        "--bundle", str(L.chain_bundle("encoder")), "--calib", str(L.chain / "calibration" / "encoder"),
        "--threads", "1", "--warmup", str(s.bench_warmup), "--iters", str(s.bench_iters), "--no-peak",
        "--cache", str(L.out / "cache" / "bench"), "--json", str(bench_json),
        "--plot", str(L.bench_dir / "pareto.png"), "--hist", str(L.bench_dir / "latency.png")),
        needs=("train",), outputs=(str(bench_json),),
        plots=(str(L.bench_dir / "pareto.png"), str(L.bench_dir / "latency.png"))))

    steps.append(Step("reference", f"goal reaching with the shipped reference model ({REFERENCE}, INT8 built on first "
                      "use) beside random and oracle, through the firmware simulator", (
                          "run", "--episodes", str(s.reference_goals), "--first-seed", "1000",
                          "--methods", "random,student,oracle", "--models.encoder", REFERENCE,
                          "--sim.max_steps", str(s.reference_max_steps), "--planner.samples", str(s.reference_samples),
                          "--planner.iterations", str(s.reference_iterations), "--json", str(L.reference_json)),
                      outputs=(str(L.reference_json),)))

    steps.append(Step("loop", f"the real-time loop with the reference: {s.loop_ticks} perception ticks, the planner "
                      "on its own thread, commands through the firmware simulator", (
                          "run", "--models.encoder", REFERENCE, "--schedule.max_ticks", str(s.loop_ticks),
                          "--json", str(L.loop_json)),
                      outputs=(str(L.loop_json),)))
    return steps


def sizes_dict(sizes: DemoSizes) -> dict:
    return asdict(sizes)


__all__ = ["DemoSizes", "FULL", "QUICK", "REFERENCE", "Step", "Layout", "demo_steps", "sizes_dict"]

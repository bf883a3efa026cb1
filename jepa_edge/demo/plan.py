"""The demo's step table: what runs, in which order, with which flags.

Every step is one public `jepa-edge` command line (an argv list), so the table doubles as the
worked example a user can copy. Sizes live in one frozen dataclass per budget: FULL fits 10 min
on an idle 2-core CPU, QUICK fits the test suite's 3 min; both were chosen by measuring
(benchmarks/run_demo.py writes the per-step wall-clock).
"""
from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class DemoSizes:
    name: str
    # teacher: I-JEPA on world images (64 px, patch 8: an 8x8 token grid)
    teacher_arch: str = "vit_tiny"
    teacher_depth: int | None = 6  # None: the arch's own depth
    img_size: int = 64
    patch_size: int = 8
    teacher_steps: int = 150
    teacher_batch: int = 32
    dataset_size: int = 1000  # world images the teacher trains on
    predictor_width: int = 96  # divisible by the encoders' heads (3 and 2): the predictor uses theirs
    predictor_depth: int = 3
    # student: V-JEPA 2.1 distillation from the frozen teacher
    student_arch: str = "vit_nano"
    student_depth: int | None = 6
    student_steps: int = 150
    student_batch: int = 32
    distill_dataset_size: int = 500  # teacher features of these are computed once and cached
    # action-conditioned predictor on the frozen student
    ac_steps: int = 150
    ac_trajectories: int = 200
    ac_frames: int = 4  # the predictor's width is the student's (train-ac starts it as "copy the last latent")
    ac_depth: int = 2
    # eval probes
    eval_probe_clips: int = 80
    eval_vo_pairs: int = 20
    eval_rollouts: int = 48
    eval_plan_episodes: int = 20
    # INT8 calibration (held-out split feeds the accuracy gate)
    calib_count: int = 300
    calib_held_out: int = 100
    ac_calib_count: int = 128
    ac_calib_held_out: int = 32
    # bench and closed loop
    bench_warmup: int = 20
    bench_iters: int = 200
    episodes: int = 3
    episode_steps: int = 40
    planner_samples: int = 64  # one batched AC-predictor call per iteration
    planner_elites: int = 8
    planner_iterations: int = 2


FULL = DemoSizes(name="full")

# Small everything: the point is that every command runs end to end, not the numbers.
QUICK = DemoSizes(
    name="quick", teacher_arch="vit_nano", teacher_depth=2, teacher_steps=12, teacher_batch=8, dataset_size=64,
    predictor_width=64, predictor_depth=1, student_arch="vit_nano", student_depth=1, student_steps=10, student_batch=8,
    distill_dataset_size=64, ac_steps=10, ac_trajectories=16, ac_frames=3, ac_depth=1, eval_probe_clips=16,
    eval_vo_pairs=4, eval_rollouts=8, eval_plan_episodes=3, calib_count=32, calib_held_out=16, ac_calib_count=32, ac_calib_held_out=16,
    bench_warmup=3, bench_iters=20, episodes=1, episode_steps=12, planner_samples=32, planner_elites=8,
    planner_iterations=2,
)


@dataclass(frozen=True)
class Step:
    """One demo step: the command a user would type, and what it must leave behind."""

    name: str  # short id: "teacher", "student", ... (the summary's row, the report's plot prefix)
    title: str  # what the step does, in words
    argv: tuple[str, ...]  # arguments after `jepa-edge`
    needs: tuple[str, ...] = ()  # steps whose outputs this one reads (skipped if one failed)
    outputs: tuple[str, ...] = ()  # paths that must exist when the step succeeded
    plots: tuple[str, ...] = ()  # PNGs the step writes; the report copies them
    cache_key: str | None = None  # set for the teacher: reused from the cache when it matches

    @property
    def command(self) -> str:
        return "jepa-edge " + shlex.join(self.argv)


@dataclass(frozen=True)
class Layout:
    """Where every step writes, under the demo's --out folder."""

    out: Path
    teacher_run: Path
    student_run: Path
    ac_run: Path
    eval_dir: Path
    eval_random_dir: Path
    calib_encoder: Path
    calib_ac: Path
    bundles: Path
    bench_dir: Path
    loop_dir: Path
    report_dir: Path

    @classmethod
    def under(cls, out: str | Path) -> "Layout":
        o = Path(out)
        return cls(out=o, teacher_run=o / "teacher", student_run=o / "student", ac_run=o / "ac", eval_dir=o / "eval",
                   eval_random_dir=o / "eval_random_init", calib_encoder=o / "calibration" / "encoder",
                   calib_ac=o / "calibration" / "ac_predictor", bundles=o / "bundles", bench_dir=o / "bench",
                   loop_dir=o / "loop", report_dir=o / "report")

    def bundle(self, name: str) -> Path:
        return self.bundles / name


def encoder_width(arch: str) -> int:
    from jepa_edge.models.registry import ARCHS

    return ARCHS[arch.split("/")[0]][0]


def teacher_argv(sizes: DemoSizes, out: Path) -> list[str]:
    argv = ["pretrain", "--arch", sizes.teacher_arch, "--img-size", str(sizes.img_size),
            "--patch-size", str(sizes.patch_size), "--steps", str(sizes.teacher_steps),
            "--batch-size", str(sizes.teacher_batch), "--dataset-size", str(sizes.dataset_size),
            "--predictor-width", str(sizes.predictor_width), "--predictor-depth", str(sizes.predictor_depth)]
    if sizes.teacher_depth is not None:
        argv += ["--depth", str(sizes.teacher_depth)]
    return argv + ["--out", str(out)]


def teacher_cache_key(argv: list[str]) -> str:
    """Hash of what determines the teacher's weights: the pretrain flags (minus --out) and versions."""
    import torch

    from jepa_edge import __version__
    from jepa_edge.models.model_dir import FORMAT_VERSION

    flags = [a for i, a in enumerate(argv) if a != "--out" and (i == 0 or argv[i - 1] != "--out")]
    blob = json.dumps({"argv": flags, "jepa_edge": __version__, "model_dir_format": FORMAT_VERSION,
                       "torch": torch.__version__.split("+")[0]})
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def demo_steps(out: str | Path, sizes: DemoSizes = FULL, teacher: str | Path | None = None) -> list[Step]:
    """The ordered step table. `teacher`: an existing teacher model dir to use instead of pretraining."""
    L = Layout.under(out)
    s = sizes
    steps: list[Step] = []

    if teacher is None:
        argv = teacher_argv(s, L.teacher_run)
        teacher_dir = L.teacher_run / "model"
        steps.append(Step("teacher", f"pretrain a {s.teacher_arch} teacher (I-JEPA, {s.img_size} px)", tuple(argv),
                          outputs=(str(teacher_dir / "config.json"),), plots=(str(L.teacher_run / "loss.png"),),
                          cache_key=teacher_cache_key(argv)))
        teacher_needs: tuple[str, ...] = ("teacher",)
    else:
        teacher_dir = Path(teacher)
        teacher_needs = ()

    student_dir = L.student_run / "model"
    argv = ["distill", "--teacher", str(teacher_dir), "--student-arch", s.student_arch,
            "--steps", str(s.student_steps), "--batch-size", str(s.student_batch),
            "--dataset-size", str(s.distill_dataset_size), "--predictor-width", str(s.predictor_width),
            "--predictor-depth", str(s.predictor_depth)]
    if s.student_depth is not None:
        argv += ["--student-depth", str(s.student_depth)]
    argv += ["--out", str(L.student_run)]
    steps.append(Step("student", f"distill a {s.student_arch} student from the teacher (V-JEPA 2.1 recipe)",
                      tuple(argv), needs=teacher_needs, outputs=(str(student_dir / "config.json"),),
                      plots=(str(L.student_run / "loss.png"),)))

    ac_dir = L.ac_run / "model"
    steps.append(Step("ac", "train the action-conditioned predictor on the frozen student", (
        "train-ac", "--encoder", str(student_dir), "--steps", str(s.ac_steps),
        "--n-trajectories", str(s.ac_trajectories), "--frames", str(s.ac_frames),
        "--predictor-width", str(encoder_width(s.student_arch)), "--depth", str(s.ac_depth), "--out", str(L.ac_run)),
        needs=("student",), outputs=(str(ac_dir / "config.json"),), plots=(str(L.ac_run / "loss.png"),)))

    eval_json = L.eval_dir / "eval.json"
    steps.append(Step("eval", "probe the student: position R², teacher agreement, AC rollout vs copy-last", (
        "eval", str(ac_dir), "--teacher", str(teacher_dir), "--probe-clips", str(s.eval_probe_clips),
        "--vo-pairs", str(s.eval_vo_pairs), "--rollout-trajectories", str(s.eval_rollouts),
        "--plan-episodes", str(s.eval_plan_episodes), "--out", str(L.eval_dir)),
        needs=("ac", *teacher_needs), outputs=(str(eval_json),), plots=(str(L.eval_dir / "eval.png"),)))
    # The floor those numbers must be read against: the same architecture, untrained.
    steps.append(Step("eval-random-init", "the same probes on the same architecture at random init (the floor)", (
        "eval", str(ac_dir), "--random-init", "--probe-clips", str(s.eval_probe_clips),
        "--vo-pairs", str(s.eval_vo_pairs), "--rollout-trajectories", str(s.eval_rollouts),
        "--plan-episodes", str(s.eval_plan_episodes), "--out", str(L.eval_random_dir)),
        needs=("ac",), outputs=(str(L.eval_random_dir / "eval.json"),)))

    steps.append(Step("calibrate", "record an INT8 calibration set (+ held-out split) from the world", (
        "calibrate", str(ac_dir), "--out", str(L.calib_encoder), "--count", str(s.calib_count),
        "--held-out", str(s.calib_held_out)),
        needs=("ac",), outputs=(str(L.calib_encoder / "manifest.json"),)))
    steps.append(Step("calibrate-ac", "record the AC predictor's calibration set (world trajectories)", (
        "calibrate", str(ac_dir), "--part", "ac_predictor", "--out", str(L.calib_ac),
        "--count", str(s.ac_calib_count), "--held-out", str(s.ac_calib_held_out)),
        needs=("ac",), outputs=(str(L.calib_ac / "manifest.json"),)))

    def export(name, title, target, part, calib, needs):
        bundle = L.bundle(name)
        argv = ["export", str(ac_dir), "--target", target, "--precision", "int8", "--calib", str(calib)]
        if part != "encoder":
            argv += ["--part", part]
        argv += ["--out", str(bundle), "--overwrite", "--json", str(L.bundles / f"{name}.json")]
        return Step(f"export-{name}", title, tuple(argv), needs=needs,
                    outputs=(str(bundle / "manifest.json"), str(L.bundles / f"{name}.json")))

    steps.append(export("openvino-int8", "quantize the encoder to INT8 for OpenVINO (NNCF) + accuracy gate",
                        "openvino", "encoder", L.calib_encoder, ("calibrate",)))
    steps.append(export("onnxruntime-int8", "quantize the encoder to INT8 for ONNX Runtime (QDQ) + accuracy gate",
                        "onnxruntime", "encoder", L.calib_encoder, ("calibrate",)))
    steps.append(export("ac-onnxruntime-int8", "quantize the AC predictor to INT8 for ONNX Runtime + accuracy gate",
                        "onnxruntime", "ac_predictor", L.calib_ac, ("calibrate-ac",)))
    steps.append(export("jetson-orin-nano", "build the Jetson Orin Nano kit (Q/DQ ONNX + build_engine.sh)",
                        "jetson-orin-nano", "encoder", L.calib_encoder, ("calibrate",)))

    bench_json = L.bench_dir / "bench.json"
    steps.append(Step("bench", "bench table: torch / ONNX Runtime / OpenVINO, FP32 vs INT8", (
        "bench", str(ac_dir), "--backends", "torch,onnxruntime,openvino", "--precisions", "fp32",
        "--bundle", str(L.bundle("onnxruntime-int8")), "--bundle", str(L.bundle("openvino-int8")),
        "--calib", str(L.calib_encoder), "--threads", "1", "--warmup", str(s.bench_warmup),
        "--iters", str(s.bench_iters), "--no-peak", "--cache", str(L.out / "cache" / "bench"),
        "--json", str(bench_json), "--plot", str(L.bench_dir / "pareto.png"),
        "--hist", str(L.bench_dir / "latency.png")),
        needs=("export-openvino-int8", "export-onnxruntime-int8"), outputs=(str(bench_json),),
        plots=(str(L.bench_dir / "pareto.png"), str(L.bench_dir / "latency.png"))))

    loop_json = L.loop_dir / "goal_reaching.json"
    steps.append(Step("loop", "closed loop in simulation: the INT8 student plans, commands go through the firmware "
                      "simulator", (
        "run", "--episodes", str(s.episodes), "--methods", "random,student,oracle",
        "--models.encoder", str(L.bundle("openvino-int8")), "--models.predictor", str(L.bundle("ac-onnxruntime-int8")),
        "--sim.img_size", str(s.img_size), "--sim.max_steps", str(s.episode_steps),
        "--planner.samples", str(s.planner_samples), "--planner.elites", str(s.planner_elites),
        "--planner.iterations", str(s.planner_iterations),
        "--json", str(loop_json)),
        needs=("export-openvino-int8", "export-ac-onnxruntime-int8"), outputs=(str(loop_json),)))
    return steps


def sizes_dict(sizes: DemoSizes) -> dict:
    return asdict(sizes)


__all__ = ["DemoSizes", "FULL", "QUICK", "Step", "Layout", "demo_steps", "teacher_cache_key", "sizes_dict"]

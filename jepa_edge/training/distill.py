"""Teacher -> student distillation, the V-JEPA 2.1 recipe.

A frozen teacher replaces the EMA target: its layer-normed last-layer tokens are the targets. The
student encoder + a predictor whose last linear maps to the teacher's width learn them with the
pretraining masks and L1 loss; an EMA copy of (student, predictor) is the result. `dense=True`
also matches the teacher on the unmasked (context) tokens through a linear head.

The student sees the same clip as the teacher, possibly at a lower resolution: the teacher input
is the student input resized to the teacher's size, and both must give the same token grid
(the loss compares tokens position by position).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from jepa_edge.errors import ConfigError
from jepa_edge.models.config import EncoderConfig
from jepa_edge.models.model_dir import ModelDir, load_model_dir, save_model_dir
from jepa_edge.models.registry import build_predictor, encoder_config, parse_arch
from jepa_edge.models.vit import VisionTransformer
from jepa_edge.training import ddp
from jepa_edge.training.common import EncoderTrainingConfig, ema_after_step, layer_norm_features, start_run
from jepa_edge.training.data import (StepSampler, build_training_data, check_masking, load_rows, mask_families,
                                     masks_for_step)
from jepa_edge.training.jepa import OnlineJEPA, autocast, jepa_loss
from jepa_edge.training.loop import run_command
from jepa_edge.training.pretrain import _to, training_record
from jepa_edge.training.teacher_cache import TeacherFeatureCache
from jepa_edge.data.transforms import Normalization


@dataclass(frozen=True)
class DistillConfig(EncoderTrainingConfig):
    teacher: str  # model dir of the teacher (ours, or a converted official checkpoint)
    student_arch: str = "vit_tiny"  # student size, e.g. vit_tiny, vit_nano or vit_tiny/8
    student_depth: int | None = None  # override the arch's depth (None: the named depth)
    patch_size: int | None = None  # None: the arch's "/P" suffix, else the teacher's patch size
    img_size: int | None = None  # student input size; None: teacher grid side * student patch (the grids then match)
    pos: Literal["sincos", "rope"] = "sincos"  # the student's positions: "sincos" table or "rope"
    input_blur: float = 0.0  # the student's input low-pass (models/vit.py); the teacher keeps its own
    predictor_width: int = 192  # the predictor's embedding width
    predictor_depth: int = 6  # the predictor's transformer blocks
    future_masks: bool = True  # video: also predict the last temporal slots from the first ones
    masking: Literal["blocks", "random"] = "blocks"  # "blocks" (official multi-block / tubes) or "random" (uniform tokens)
    mask_ratio: float = 0.75  # --masking random: fraction of tokens to predict
    dense: bool = False  # also match teacher features on unmasked tokens (linear head)
    dense_weight: float = 1.0  # weight of the --dense term
    ema_start: float = 0.99  # EMA of the student (the result), not a target
    ema_end: float = 0.999  # ... its momentum rises linearly from ema_start to this at the last step
    teacher_cache: bool = True  # cache the teacher's features of the fixed data set on disk, in shards (needs a finite data set)
    cache_dir: str | None = None  # default: <out>/teacher_cache
    # the run fields (batch_size, steps, lr, ..., device) come from RunConfig, with its defaults

    def __post_init__(self):
        super().__post_init__()
        check_masking(self.masking, self.mask_ratio)


def student_config(cfg: DistillConfig, teacher: EncoderConfig) -> EncoderConfig:
    """The student's encoder config: same frames/tubelet as the teacher; patch and size default to
    the values that reproduce the teacher's token grid."""
    named = parse_arch(cfg.student_arch)[1]
    if named and cfg.patch_size and named != cfg.patch_size:
        raise ConfigError(f"--student-arch {cfg.student_arch} says patch {named} but --patch-size is {cfg.patch_size}")
    patch = cfg.patch_size or named or teacher.patch_size
    size = cfg.img_size or teacher.grid[1] * patch
    extra = {} if cfg.student_depth is None else {"depth": cfg.student_depth}
    return encoder_config(cfg.student_arch, img_size=size, patch_size=patch, num_frames=teacher.num_frames,
                          tubelet_size=teacher.tubelet_size, pos=cfg.pos, input_blur=cfg.input_blur, **extra)


def check_grids(teacher: EncoderConfig, student: EncoderConfig) -> None:
    """Distillation compares tokens position by position: the token grids must be equal."""
    def describe(c):
        frames = f", {c.num_frames} frames / tubelet {c.tubelet_size}" if c.is_video else ""
        return f"{c.arch} at {c.img_size} px, patch {c.patch_size}{frames} -> grid t,h,w = {c.grid}"

    if teacher.grid != student.grid or teacher.num_frames != student.num_frames or teacher.is_video != student.is_video:
        side = teacher.grid[1]
        raise ConfigError(
            f"the teacher's patch grid does not match the student's input: teacher {describe(teacher)}, "
            f"student {describe(student)}. Choose the student input so the grids agree, e.g. "
            f"--img-size {side * student.patch_size} for patch {student.patch_size} "
            f"(or --patch-size P with --img-size {side}*P), and the teacher's frame count"
        )


class TeacherInput:
    """Maps a student batch to the teacher's input: resize to the teacher's size, and renormalize
    when the two model dirs record different normalizations."""

    def __init__(self, teacher: EncoderConfig, student: EncoderConfig, t_norm: Normalization, s_norm: Normalization):
        self.size, self.video = teacher.img_size, teacher.is_video
        self.resize = teacher.img_size != student.img_size
        self.renorm = t_norm != s_norm
        self.t_norm, self.s_norm = t_norm, s_norm

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.renorm:
            shape = (1, 3) + (1,) * (x.dim() - 2)
            sm, ss = (torch.tensor(v, device=x.device).view(shape) for v in (self.s_norm.mean, self.s_norm.std))
            tm, ts = (torch.tensor(v, device=x.device).view(shape) for v in (self.t_norm.mean, self.t_norm.std))
            x = (x * ss + sm - tm) / ts
        if self.resize:
            if self.video:  # [B, C, T, H, W]: resize space only
                x = F.interpolate(x, size=(x.shape[2], self.size, self.size), mode="trilinear", align_corners=False)
            else:
                x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return x


def _normalization(config: dict) -> Normalization:
    n = config.get("normalization")
    return Normalization.from_dict(n) if n else Normalization()


def distill(cfg: DistillConfig, out: str | Path, *, resume: bool = False, progress: bool = True,
            env: ddp.DistEnv | None = None, crash_after_step: int | None = None,
            overwrite: bool = False, trust_unverified: bool = False) -> dict:
    out, env, own_env = start_run(out, cfg.seed, cfg.device, env, resume=resume, overwrite=overwrite)
    teacher_bundle = load_model_dir(cfg.teacher, trust_unverified=trust_unverified)
    teacher = teacher_bundle.encoder.to(env.device).eval().requires_grad_(False)
    t_cfg = teacher.cfg
    s_cfg = student_config(cfg, t_cfg)
    check_grids(t_cfg, s_cfg)
    t_norm = _normalization(teacher_bundle.config)
    to_teacher = TeacherInput(t_cfg, s_cfg, t_norm, t_norm)  # the student is trained in the teacher's normalization

    families = mask_families(s_cfg.grid, cfg.future_masks, cfg.masking, cfg.mask_ratio)
    student = VisionTransformer(s_cfg)
    predictor = build_predictor(s_cfg, predictor_embed_dim=cfg.predictor_width, depth=cfg.predictor_depth,
                                num_mask_tokens=len(families), out_dim=t_cfg.embed_dim)
    dense_head = torch.nn.Linear(s_cfg.embed_dim, t_cfg.embed_dim) if cfg.dense else None
    online = OnlineJEPA(student, predictor, dense_head).to(env.device)
    ema = copy.deepcopy(online).requires_grad_(False)
    model = ddp.wrap(online, env)

    data = build_training_data(cfg.data, s_cfg.img_size, s_cfg.num_frames, cfg.dataset_size, cfg.seed,
                               cfg.frame_stride, norm=t_norm, image_key=cfg.image_key)
    sampler = StepSampler(len(data), cfg.batch_size, cfg.seed)
    rows = ddp.local_rows(cfg.batch_size, env)

    def teacher_features(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), autocast(env.device, cfg.precision):
            return layer_norm_features(teacher(to_teacher(x.to(env.device))).float())

    cache = None
    if cfg.teacher_cache:
        key = {"teacher_sha256": teacher_bundle.config.get("weights_sha256"), "teacher": str(cfg.teacher),
               "data": data.describe() if hasattr(data, "describe") else type(data).__name__,
               "n": len(data), "student_input": [s_cfg.img_size, s_cfg.num_frames], "precision": cfg.precision}
        cache = TeacherFeatureCache(Path(cfg.cache_dir) if cfg.cache_dir else out / "teacher_cache", key, len(data))
        cache.build(data, teacher_features, cfg.batch_size, env, progress)

    def compute_loss(step: int):
        idx = sampler.indices(step)[rows]
        x = load_rows(data, idx).to(env.device)
        masks = [_to(m, env.device) for m in masks_for_step(families, cfg.batch_size, cfg.seed, step, rows)]
        targets = cache.get(idx).to(env.device) if cache is not None else teacher_features(x)
        with autocast(env.device, cfg.precision):
            return jepa_loss(model, x, masks, targets, dense_weight=cfg.dense_weight, var_weight=cfg.var_weight,
                             cov_weight=cfg.cov_weight)

    summary = run_command(
        cfg, "distill", env, [online], run_dir=out, modules={"online": online, "ema": ema},
        compute_loss=compute_loss, after_step=ema_after_step(ema, online, cfg), resume=resume, progress=progress,
        description=f"distill {s_cfg.arch} <- {t_cfg.arch}", crash_after_step=crash_after_step,
        overwrite=overwrite,
    )
    if env.is_main:
        record = training_record(cfg, families, data, summary)
        record["recipe"] = "v-jepa-2.1-distill" + ("+dense" if cfg.dense else "")
        record["teacher"] = {"path": str(cfg.teacher), "arch": t_cfg.arch, "embed_dim": t_cfg.embed_dim,
                             "img_size": t_cfg.img_size, "weights_sha256": teacher_bundle.config.get("weights_sha256")}
        record["predictor_space"] = "teacher"  # the predictor outputs teacher-width, teacher-space tokens
        bundle = ModelDir(config={"training": record, "normalization": t_norm.to_dict()},
                             encoder=ema.encoder.cpu(), predictor=ema.predictor.cpu())
        save_model_dir(out / "model", bundle, source={"kind": "distill", "run_dir": str(out), "teacher": str(cfg.teacher)})
    ddp.barrier(env)
    if own_env:
        ddp.shutdown(env)
    return {**summary, "model_dir": str(out / "model")}

"""Self-supervised JEPA pretraining: I-JEPA on images (num_frames == 1), V-JEPA on clips.

Context encoder + predictor learn to predict the layer-normed tokens that an EMA copy of the
encoder (momentum schedule start -> end) produces for masked blocks; L1 loss; AdamW with warm-up
and cosine decay. The result is a model dir with the EMA encoder and the predictor.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch

from jepa_edge.errors import ConfigError
from jepa_edge.models.model_dir import ModelDir, save_model_dir
from jepa_edge.models.registry import build_predictor, encoder_config, parse_arch
from jepa_edge.models.vit import VisionTransformer
from jepa_edge.training import ddp
from jepa_edge.training.common import EncoderTrainingConfig, ema_after_step, layer_norm_features, start_run
from jepa_edge.training.data import (StepSampler, build_training_data, check_masking, load_rows, mask_families,
                                     masks_for_step)
from jepa_edge.training.jepa import OnlineJEPA, autocast, jepa_loss
from jepa_edge.training.loop import run_command


@dataclass(frozen=True)
class PretrainConfig(EncoderTrainingConfig):
    arch: str = "vit_small"  # encoder size, e.g. vit_small or vit_small/8 (8-px patches)
    depth: int | None = None  # override the arch's depth (None: the named depth)
    img_size: int = 64  # input size in px (square)
    patch_size: int | None = None  # None: the arch's "/P" suffix, else 8
    num_frames: int = 1  # 1: I-JEPA on images; > 1: V-JEPA on clips of this many frames
    tubelet_size: int = 2  # frames per token (clips)
    pos: Literal["sincos", "rope"] = "sincos"  # "sincos": fixed table added to the patches; "rope": RoPE in attention
    input_blur: float = 0.0  # Gaussian sigma (pixels) before the patch embedding: anti-aliasing (models/vit.py)
    predictor_width: int = 192  # the predictor's embedding width
    predictor_depth: int = 6  # the predictor's transformer blocks
    future_masks: bool = True  # video: also predict the last temporal slots from the first ones
    masking: Literal["blocks", "random"] = "blocks"  # "blocks" (official multi-block / tubes) or "random" (uniform tokens)
    mask_ratio: float = 0.75  # --masking random: fraction of tokens to predict
    dense: bool = False  # also match the EMA target's tokens at the context positions (linear head)
    dense_weight: float = 1.0  # weight of the --dense term
    ema_start: float = 0.996  # EMA momentum of the target encoder at step 0 ...
    ema_end: float = 1.0  # ... rising linearly to this at the last step
    # the run fields (batch_size, steps, lr, ..., device) come from RunConfig, with its defaults

    def __post_init__(self):
        super().__post_init__()
        check_masking(self.masking, self.mask_ratio)
        if not 0.0 <= self.ema_start <= self.ema_end <= 1.0:
            raise ConfigError(f"need 0 <= ema_start <= ema_end <= 1, got {self.ema_start}, {self.ema_end}")

    def encoder_config(self):
        extra = {} if self.depth is None else {"depth": self.depth}
        named = parse_arch(self.arch)[1]
        if named and self.patch_size and named != self.patch_size:
            raise ConfigError(f"--arch {self.arch} says patch {named} but --patch-size is {self.patch_size}")
        return encoder_config(self.arch, img_size=self.img_size, patch_size=self.patch_size or named or 8,
                              num_frames=self.num_frames, tubelet_size=self.tubelet_size, pos=self.pos,
                              input_blur=self.input_blur, **extra)


def pretrain(cfg: PretrainConfig, out: str | Path, *, resume: bool = False, progress: bool = True,
             env: ddp.DistEnv | None = None, crash_after_step: int | None = None,
             overwrite: bool = False, trust_unverified: bool = False) -> dict:
    """Train and write `out/model` (model dir), `out/metrics.jsonl`, `out/loss.png`,
    `out/checkpoints/`. Returns a summary dict."""
    out, env, own_env = start_run(out, cfg.seed, cfg.device, env, resume=resume, overwrite=overwrite)
    enc_cfg = cfg.encoder_config()
    families = mask_families(enc_cfg.grid, cfg.future_masks, cfg.masking, cfg.mask_ratio)
    encoder = VisionTransformer(enc_cfg)
    predictor = build_predictor(enc_cfg, predictor_embed_dim=cfg.predictor_width, depth=cfg.predictor_depth,
                                num_mask_tokens=len(families))
    # --dense: each context token must also give back its own target token, so what a token holds
    # stays where it is (the masked loss alone lets training spread it over the slot: experiments/probe_dense.py)
    dense_head = torch.nn.Linear(enc_cfg.embed_dim, enc_cfg.embed_dim) if cfg.dense else None
    online = OnlineJEPA(encoder, predictor, dense_head).to(env.device)
    target = copy.deepcopy(encoder).requires_grad_(False).to(env.device)
    model = ddp.wrap(online, env)

    # a robot dataset (--data DATASET) gives single frames (num_frames 1) or clips of consecutive frames of an episode
    data = build_training_data(cfg.data, cfg.img_size, cfg.num_frames, cfg.dataset_size, cfg.seed, cfg.frame_stride,
                               image_key=cfg.image_key)
    sampler = StepSampler(len(data), cfg.batch_size, cfg.seed)
    rows = ddp.local_rows(cfg.batch_size, env)

    def compute_loss(step: int):
        x = load_rows(data, sampler.indices(step)[rows]).to(env.device)
        masks = [_to(m, env.device) for m in masks_for_step(families, cfg.batch_size, cfg.seed, step, rows)]
        with torch.no_grad(), autocast(env.device, cfg.precision):
            targets = layer_norm_features(target(x).float())  # [B, N, D]
        with autocast(env.device, cfg.precision):
            return jepa_loss(model, x, masks, targets, dense_weight=cfg.dense_weight, var_weight=cfg.var_weight,
                             cov_weight=cfg.cov_weight)

    summary = run_command(
        cfg, "pretrain", env, [online], run_dir=out, modules={"online": online, "target": target},
        compute_loss=compute_loss, after_step=ema_after_step(target, online.encoder, cfg),
        resume=resume, progress=progress, description=f"pretrain {enc_cfg.arch}", crash_after_step=crash_after_step,
        overwrite=overwrite,
    )
    if env.is_main:
        bundle = ModelDir(config={"training": training_record(cfg, families, data, summary)},
                             encoder=target.cpu(), predictor=online.predictor.cpu())
        save_model_dir(out / "model", bundle, source={"kind": "pretrain", "run_dir": str(out)})
    ddp.barrier(env)
    if own_env:
        ddp.shutdown(env)
    return {**summary, "model_dir": str(out / "model")}


def training_record(cfg, families, data, summary) -> dict:
    """What config.json records about how the weights were made (mask families for the probes)."""
    names = [type(f).__name__ for f in families]
    return {
        "recipe": ("v-jepa" if any("3D" in n or "Future" in n for n in names) else "i-jepa") + ("+dense" if cfg.dense else ""),
        "config": asdict(cfg),
        "mask_families": names,
        "future_mask_index": names.index("FutureMasker") if "FutureMasker" in names else None,
        "data": getattr(data, "describe", lambda: {"source": type(data).__name__, "n": len(data)})(),
        "steps": summary["steps"],
        "seconds": round(summary["seconds"], 1),
        "cpu_seconds": round(summary["cpu_seconds"], 1),
        "final_loss": summary["final_loss"],
    }


def _to(m, device):
    return type(m)(m.ctx.to(device), m.tgt.to(device))

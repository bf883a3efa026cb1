"""`evaluate(model_dir, teacher=...)`: every probe that applies to what the model dir holds.

- position probes (always): ridge from frozen features (pooled, all tokens, and for the agent the
  dense per-token coverage probe) to agent / object positions, R^2, and the same probe on raw 16x16
  pixels (the floor);
- intuitive physics (video encoder + mask-token predictor): surprise accuracy and AUROC; a
  distilled student's predictor predicts teacher tokens, so it needs the teacher for targets;
- agreement (when a teacher is given): CKA and mapped cosine on the same clips;
- AC rollout vs copy-last (when the dir holds an ac_predictor);
- plannability (always): is L1 to a goal image's latent a usable planning energy (eval/plannability.py).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from jepa_edge.errors import ConfigError
from jepa_edge.eval.features import agent_coverage, held_out_clips, model_normalization, slot_tokens, slot_truth
from jepa_edge.models.model_dir import ModelDir, load_model_dir


@dataclass(frozen=True)
class EvalOptions:
    probe_clips: int = 120
    probe_frames: int = 12  # frames per probe clip (a video model sees L // num_frames windows)
    vo_pairs: int = 40  # matched pairs per violation type
    vo_frames: int = 16
    rollout_trajectories: int = 64
    horizons: tuple[int, ...] = (1, 2, 4)
    plan_episodes: int = 20  # reach episodes for the plannability check (0 skips it)
    random_init: bool = False  # evaluate the same architecture with fresh random weights (baseline)
    seed: int = 0


def random_like(bundle: ModelDir, seed: int = 0) -> ModelDir:
    """Same parts and configs, fresh random weights."""
    torch.manual_seed(seed)
    parts = {name: type(m)(m.cfg).eval() for name, m in bundle.parts().items()}
    return ModelDir(config=dict(bundle.config), **parts)


def _future_mask_index(config: dict) -> int:
    idx = (config.get("training") or {}).get("future_mask_index")
    return int(idx) if idx is not None else 0


@torch.no_grad()  # scoped: a global set_grad_enabled(False) would leak into the caller's training
def evaluate(model: str | Path | ModelDir, teacher: str | Path | ModelDir | None = None,
             opts: EvalOptions = EvalOptions(), progress=lambda msg: None) -> dict:
    bundle = model if isinstance(model, ModelDir) else load_model_dir(model)
    if opts.random_init:
        bundle = random_like(bundle, opts.seed)
    bundle.eval()
    t_bundle = None
    if teacher is not None:
        t_bundle = (teacher if isinstance(teacher, ModelDir) else load_model_dir(teacher)).eval()
    enc = bundle.encoder
    norm = model_normalization(bundle.config)
    results: dict = {"model": {"arch": enc.cfg.arch, "encoder": enc.cfg.to_dict(),
                               "params": sum(p.numel() for p in enc.parameters()),
                               "parts": list(bundle.parts()), "random_init": opts.random_init,
                               "training": bundle.config.get("training")},  # recipe, config, final loss
                     "options": asdict(opts), "skipped": {}, "seconds": {}}

    # -- position probes -------------------------------------------------------------------------
    from jepa_edge.eval.probes import pixel_probes, position_probes

    t0 = time.perf_counter()
    progress("position probes")
    clips = held_out_clips(opts.probe_clips, opts.probe_frames, enc.cfg.img_size)
    tokens = slot_tokens(enc, clips.frames, norm)
    results["probes"] = position_probes(tokens, slot_truth(clips.agent, enc.cfg), slot_truth(clips.objects, enc.cfg),
                                        seed=opts.seed, agent_cover=agent_coverage(clips.agent, enc.cfg))
    results["probes_pixels"] = pixel_probes(clips.frames, clips.agent, clips.objects, seed=opts.seed)
    results["seconds"]["probes"] = round(time.perf_counter() - t0, 1)

    # -- agreement with the teacher ------------------------------------------------------------------
    if t_bundle is not None:
        from jepa_edge.eval.agreement import agreement

        progress("teacher agreement")
        t0 = time.perf_counter()
        tc = t_bundle.encoder.cfg
        if tc.grid != enc.cfg.grid or tc.num_frames != enc.cfg.num_frames:
            results["skipped"]["agreement"] = f"token grids differ (teacher {tc.grid}, model {enc.cfg.grid})"
        else:
            t_clips = clips if tc.img_size == enc.cfg.img_size else held_out_clips(
                opts.probe_clips, opts.probe_frames, tc.img_size)
            t_tokens = slot_tokens(t_bundle.encoder, t_clips.frames, model_normalization(t_bundle.config))
            results["agreement"] = agreement(tokens, t_tokens, seed=opts.seed)
        results["seconds"]["agreement"] = round(time.perf_counter() - t0, 1)

    # -- intuitive physics -----------------------------------------------------------------------------
    space = (bundle.config.get("training") or {}).get("predictor_space", "self")
    if bundle.predictor is None:
        results["skipped"]["physics"] = "the model dir holds no mask-token predictor"
    elif not enc.cfg.is_video:
        results["skipped"]["physics"] = "image model: no future frames to predict"
    elif space == "teacher" and t_bundle is None:
        results["skipped"]["physics"] = "the predictor predicts teacher tokens: pass --teacher to score surprise"
    else:
        from jepa_edge.eval.physics import physics_eval

        progress("intuitive physics")
        t0 = time.perf_counter()
        targets_fn = None
        if space == "teacher":
            from jepa_edge.training.distill import TeacherInput

            to_t = TeacherInput(t_bundle.encoder.cfg, enc.cfg, model_normalization(t_bundle.config), norm)
            targets_fn = lambda x: t_bundle.encoder(to_t(x))  # noqa: E731
        results["physics"] = physics_eval(enc, bundle.predictor, norm, _future_mask_index(bundle.config),
                                          targets_fn, n_pairs=opts.vo_pairs, clip_frames=opts.vo_frames)
        results["seconds"]["physics"] = round(time.perf_counter() - t0, 1)

    # -- action-conditioned rollout ---------------------------------------------------------------------
    if bundle.ac_predictor is None:
        results["skipped"]["rollout"] = "the model dir holds no ac_predictor"
    else:
        from jepa_edge.eval.rollout import rollout_errors

        progress("AC rollout")
        t0 = time.perf_counter()
        if max(opts.horizons) + 1 > bundle.ac_predictor.cfg.max_frames:
            raise ConfigError(f"horizon {max(opts.horizons)} exceeds the AC predictor's {bundle.ac_predictor.cfg.max_frames} frames")
        results["rollout"] = rollout_errors(enc, bundle.ac_predictor, norm, opts.horizons, n=opts.rollout_trajectories)
        results["seconds"]["rollout"] = round(time.perf_counter() - t0, 1)

    # -- plannability of the latent space -----------------------------------------------------------------
    if opts.plan_episodes:
        from jepa_edge.eval.plannability import plannability

        progress("plannability")
        t0 = time.perf_counter()
        results["plannability"] = plannability(enc, norm, episodes=opts.plan_episodes)
        results["seconds"]["plannability"] = round(time.perf_counter() - t0, 1)
    return results

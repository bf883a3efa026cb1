"""Distillation and AC training on tiny models: they learn, the teacher cache is reused, and
mismatched teacher/student grids or bad shapes are clear errors."""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from jepa_edge.data.world import WorldConfig
from jepa_edge.errors import ConfigError, DataError
from jepa_edge.models.model_dir import ModelDir, load_model_dir, save_model_dir
from jepa_edge.models.registry import build_encoder, build_predictor
from jepa_edge.planning.kinematics import StateUpdate
from jepa_edge.training.ac import TrainACConfig, train_ac
from jepa_edge.training.common import read_metrics
from jepa_edge.training.distill import DistillConfig, distill


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    """A random-init video teacher (2 blocks, 32 px, 4 frames): distillation only needs its features."""
    torch.manual_seed(0)
    enc = build_encoder("vit_nano", depth=2, img_size=32, patch_size=8, num_frames=4)
    pred = build_predictor(enc.cfg, predictor_embed_dim=64, depth=1)
    return save_model_dir(tmp_path_factory.mktemp("teacher"), ModelDir(encoder=enc, predictor=pred))


def tiny(teacher, **kw):
    base = dict(teacher=str(teacher), student_arch="vit_nano", student_depth=1, predictor_width=64, predictor_depth=1,
                dataset_size=16, batch_size=8, steps=8, lr=3e-3, start_lr=3e-4, warmup_steps=2, ckpt_every=4, log_every=1)
    base.update(kw)
    return DistillConfig(**base)


def test_distill_learns_and_reuses_the_teacher_cache(teacher_dir, tmp_path, monkeypatch):
    torch.set_num_threads(1)
    cache = tmp_path / "cache"
    out = distill(tiny(teacher_dir, dense=True, cache_dir=str(cache)), tmp_path / "a", progress=False)
    curve = [r["loss"] for r in read_metrics(tmp_path / "a" / "metrics.jsonl")]
    assert np.mean(curve[-2:]) < np.mean(curve[:2])
    assert len(list(cache.glob("shard_*.safetensors"))) == 1
    student = load_model_dir(out["model_dir"])
    config = json.loads((tmp_path / "a" / "model" / "config.json").read_text())
    assert config["training"]["recipe"] == "v-jepa-2.1-distill+dense"
    assert config["training"]["predictor_space"] == "teacher"
    assert student.predictor.cfg.output_dim == 128  # teacher width
    assert student.encoder.cfg.grid == (2, 4, 4)

    # A second run over the same data reads the shards: the teacher must never run again.
    from jepa_edge.models.vit import VisionTransformer

    calls = []
    real = VisionTransformer.forward
    monkeypatch.setattr(VisionTransformer, "forward", lambda self, x: calls.append(self.cfg.arch) or real(self, x))
    distill(tiny(teacher_dir, dense=True, cache_dir=str(cache), steps=2), tmp_path / "b", progress=False)
    assert calls == []


def test_teacher_student_grid_mismatch_is_a_clear_error(teacher_dir, tmp_path):
    with pytest.raises(ConfigError, match="patch grid does not match"):
        distill(tiny(teacher_dir, img_size=64, patch_size=8), tmp_path / "x", progress=False)
    with pytest.raises(ConfigError, match="--img-size 32"):
        distill(tiny(teacher_dir, img_size=48), tmp_path / "y", progress=False)


def test_student_at_lower_resolution_with_a_matching_grid(teacher_dir, tmp_path):
    # teacher 32 px / patch 8 -> 4x4; student 16 px / patch 4 -> 4x4: allowed, the teacher sees an upsampled clip
    out = distill(tiny(teacher_dir, patch_size=4, steps=2, teacher_cache=False, input_blur=1.0), tmp_path / "z",
                  progress=False)
    student = load_model_dir(out["model_dir"]).encoder.cfg
    assert student.img_size == 16 and student.input_blur == 1.0  # --input-blur: the student's own low-pass


def test_train_ac_writes_encoder_plus_ac_predictor(teacher_dir, tmp_path):
    torch.set_num_threads(1)
    cfg = TrainACConfig(encoder=str(teacher_dir), predictor_width=128, depth=1, num_heads=2, frames=4, n_trajectories=8,
                        identity_init=False, input_blur=1.0,
                        batch_size=4, steps=6, lr=3e-3, start_lr=3e-4, warmup_steps=1, ckpt_every=3, log_every=1)
    out = train_ac(cfg, tmp_path / "ac", progress=False)
    bundle = load_model_dir(out["model_dir"])
    assert set(bundle.parts()) == {"encoder", "predictor", "ac_predictor"}
    assert bundle.config["ac"]["norm"] == "layer_norm"
    # --input-blur: the frozen encoder's weights behind a new input low-pass, recorded in the model dir
    teacher = load_model_dir(teacher_dir).encoder
    assert teacher.cfg.input_blur == 0 and bundle.encoder.cfg.input_blur == 1.0
    assert all(torch.equal(a, b) for a, b in zip(teacher.state_dict().values(), bundle.encoder.state_dict().values()))
    # the kinematics the planner integrates its actions with (planning/kinematics.py)
    assert StateUpdate.from_dict(bundle.config["ac"]["state_update"]) == StateUpdate.for_world(WorldConfig())
    curve = [r["loss"] for r in read_metrics(tmp_path / "ac" / "metrics.jsonl")]
    assert curve[-1] < curve[0] and all(np.isfinite(curve))
    with pytest.raises(ConfigError, match="rollout"):
        replace(cfg, frames=2, rollout_steps=2)
    with pytest.raises(ConfigError, match="identity"):
        train_ac(replace(cfg, predictor_width=32, identity_init=True), tmp_path / "ac2", progress=False)  # narrower


@pytest.mark.parametrize("width", [64, 128])  # as wide as the latents, and wider
def test_identity_init_makes_the_untrained_ac_predictor_copy_the_last_latent(width):
    from jepa_edge.models.ac_predictor import ACPredictorConfig, ActionConditionedPredictor
    from jepa_edge.training.ac import identity_init_
    from jepa_edge.training.common import layer_norm_features

    torch.manual_seed(0)
    ac = ActionConditionedPredictor(ACPredictorConfig(embed_dim=64, predictor_embed_dim=width, depth=1, num_heads=2,
                                                      action_dim=2, state_dim=4, img_size=16, patch_size=8))
    assert identity_init_(ac)
    z = layer_norm_features(torch.randn(2, 3 * 4, 64))
    out = ac(z, torch.randn(2, 3, 2), torch.randn(2, 3, 4))
    assert (out - z).abs().mean() < 0.1 * z.abs().mean()
    ac.blocks = torch.nn.ModuleList()  # without the (near-zero) blocks the copy is exact
    torch.testing.assert_close(ac(z, torch.randn(2, 3, 2), torch.randn(2, 3, 4)), z, atol=1e-4, rtol=1e-4)


def test_wrong_input_shapes_are_clear_errors(teacher_dir):
    enc = load_model_dir(teacher_dir).encoder
    with pytest.raises(ValueError, match=r"expects input \[B, C, T, H, W\]"):
        enc(torch.zeros(1, 3, 32, 32))
    from jepa_edge.models.ac_predictor import ACPredictorConfig, ActionConditionedPredictor

    ac = ActionConditionedPredictor(ACPredictorConfig(embed_dim=128, predictor_embed_dim=32, depth=1, num_heads=2,
                                                      action_dim=2, state_dim=4, img_size=32, patch_size=8))
    with pytest.raises(DataError):
        ac(torch.zeros(1, 2 * 16, 128), torch.zeros(1, 3, 2), torch.zeros(1, 2, 4))


def test_teacher_cache_shards_resume_and_invalidate(tmp_path):
    from jepa_edge.training.teacher_cache import TeacherFeatureCache

    data = [torch.full((2, 3), float(i)) for i in range(10)]
    calls = []

    def feats(x):
        calls.append(len(x))
        return x.reshape(len(x), 2, 3) * 2

    cache = TeacherFeatureCache(tmp_path, {"teacher": "A"}, n=10, shard_size=4)
    assert cache.build(data, feats, batch_size=3, progress=False) == 3  # shards of 4, 4, 2 rows
    assert torch.equal(cache.get([9, 0, 5]), torch.stack([data[i] * 2 for i in (9, 0, 5)]))
    (tmp_path / "shard_00001.safetensors").unlink()  # an interrupted build: only the missing shard is redone
    assert TeacherFeatureCache(tmp_path, {"teacher": "A"}, n=10, shard_size=4).build(data, feats, 3, progress=False) == 1
    # another teacher: every old shard is wrong, the cache starts over
    assert TeacherFeatureCache(tmp_path, {"teacher": "B"}, n=10, shard_size=4).build(data, feats, 3, progress=False) == 3


def test_motion_weighted_ac_loss_charges_more_for_missing_what_moved():
    from jepa_edge.training.ac import motion_weighted_l1

    prev = torch.zeros(1, 4, 3)
    target = prev.clone()
    target[0, 1] = 1.0  # token 1 changed (the agent moved there); the others stayed
    wrong_on_mover, wrong_on_static = target.clone(), target.clone()
    wrong_on_mover[0, 1] = 0.0   # copies the last latent where the agent went
    wrong_on_static[0, 2] = 1.0  # the same L1 error, on a token that did not change
    plain = [motion_weighted_l1(p, target, prev, 0.0) for p in (wrong_on_mover, wrong_on_static)]
    assert torch.isclose(plain[0], plain[1]) and torch.isclose(plain[0], (wrong_on_mover - target).abs().mean())
    weighted = [motion_weighted_l1(p, target, prev, 10.0) for p in (wrong_on_mover, wrong_on_static)]
    assert weighted[0] > 3 * weighted[1]
    with pytest.raises(ConfigError, match="motion-weight"):
        TrainACConfig(encoder="e", motion_weight=-1)


def test_one_step_ac_loss_predicts_each_transition_from_its_frame_alone():
    """--one-step: every transition is a sample of its own, as the loop's planner calls the predictor
    (one frame per call); with two frames it is the block-causal loss (frame 0 sees only itself)."""
    from jepa_edge.models.ac_predictor import ACPredictorConfig, ActionConditionedPredictor
    from jepa_edge.training.ac import ac_loss, motion_weighted_l1

    torch.manual_seed(0)
    ac = ActionConditionedPredictor(ACPredictorConfig(embed_dim=32, predictor_embed_dim=32, depth=1, num_heads=2,
                                                      action_dim=2, state_dim=4, img_size=16, patch_size=8))
    B, T, N, D = 2, 4, 4, 32
    z, a, s = torch.randn(B, T, N, D), torch.randn(B, T, 2), torch.randn(B, T, 4)
    _, parts = ac_loss(ac, z, a, s, rollout_steps=1, one_step=True)
    alone = torch.stack([motion_weighted_l1(ac(z[:, t], a[:, t:t + 1], s[:, t:t + 1]), z[:, t + 1], z[:, t], 0.0)
                         for t in range(T - 1)]).mean()
    assert parts["loss_forcing"] == pytest.approx(float(alone), rel=1e-6)  # block-causal: 1e-4 away here
    two = [ac_loss(ac, z[:, :2], a[:, :2], s[:, :2], rollout_steps=1, one_step=o)[0] for o in (False, True)]
    torch.testing.assert_close(two[0], two[1])


def test_train_ac_on_static_scenes():
    """--object-speed 0 --p-cross 0: the task's scenes, where only what the agent pushes moves."""
    from jepa_edge.data.datasets import WorldTrajectories
    from jepa_edge.training.ac import scene_config

    cfg = TrainACConfig(encoder="e", object_speed=0.0, p_cross=0.0)
    data = WorldTrajectories(6, 4, 32, cfg=scene_config(cfg, 32), p_cross=cfg.p_cross)
    assert all(np.all(data.clip(i).world_states()[0].obj_vel == 0) for i in range(len(data)))
    default = WorldTrajectories(6, 4, 32, cfg=scene_config(TrainACConfig(encoder="e"), 32))
    assert any(np.any(default.clip(i).world_states()[0].obj_vel != 0) for i in range(len(default)))
    for bad in ({"object_speed": -1.0}, {"p_cross": 1.5}, {"action_repeat": 0}):
        with pytest.raises(ConfigError, match="object-speed|p-cross|action-repeat"):
            TrainACConfig(encoder="e", **bad)

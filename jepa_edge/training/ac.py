"""`train-ac`: the V-JEPA 2-AC action-conditioned predictor on top of a frozen encoder.

Latents of world trajectories (per-frame, layer-normed; see latents.py) are computed once and
cached on disk. The predictor learns z[t+1] from z[<=t], actions and states with two L1 terms, as
V-JEPA 2-AC: teacher forcing (all frames at once, block-causal) and a short autoregressive
rollout (its own predictions fed back for `rollout_steps` steps from the first frame).
The result is a model dir holding the encoder (and its mask-token predictor, if any) + ac_predictor.
"""
from __future__ import annotations

from dataclasses import KW_ONLY, asdict, dataclass, replace
from pathlib import Path

import torch

from jepa_edge.data.datasets import WorldTrajectories
from jepa_edge.data.transforms import Normalization
from jepa_edge.data.world import WorldConfig
from jepa_edge.errors import ConfigError
from jepa_edge.models.ac_predictor import ACPredictorConfig, ActionConditionedPredictor
from jepa_edge.models.model_dir import ModelDir, load_model_dir, save_model_dir
from jepa_edge.models.vit import with_input_blur
from jepa_edge.planning.kinematics import StateUpdate
from jepa_edge.training import ddp
from jepa_edge.training.common import RunConfig, start_run
from jepa_edge.training.jepa import autocast
from jepa_edge.latent import LATENT_RECIPE
from jepa_edge.training.latents import frame_latents
from jepa_edge.training.loop import run_command
from jepa_edge.training.teacher_cache import TeacherFeatureCache
from jepa_edge.training.data import StepSampler


@dataclass(frozen=True)
class TrainACConfig(RunConfig):
    encoder: str  # model dir whose encoder stays frozen (teacher or student)
    input_blur: float | None = None  # None: the encoder's own input low-pass; else set it (models/vit.py)
    predictor_width: int | None = None  # None: the encoder's width (identity init needs >= it)
    depth: int = 4  # the predictor's transformer blocks
    num_heads: int = 4  # the predictor's attention heads
    frames: int = 8  # frames per training trajectory
    rollout_steps: int = 2  # steps of the autoregressive rollout loss (own predictions fed back)
    # True: learn z[t+1] = f(z[t], a[t], s[t]) from one frame, which is how the loop's planner rolls the
    # predictor out (planning/planner.py LatentDynamics: one frame per call); False: block-causal over
    # all frames at once, as V-JEPA 2-AC trains
    one_step: bool = False
    identity_init: bool = True  # start as "copy the last latent" (needs predictor_width >= encoder width)
    motion_weight: float = 0.0  # extra L1 weight on tokens that change between frames (0: the official loss)
    n_trajectories: int = 1000  # world trajectories (a fixed set, encoded once and cached)
    # the trajectories' scenes: by default objects drift and a quarter of the clips send one across
    # the occluder (the pretraining data); the reach/push tasks have objects at rest (tasks.TASK_CONFIG),
    # where everything that moves is the agent or what it pushes
    object_speed: float | None = None  # None: the world's default; 0: objects move only when pushed
    p_cross: float = 0.25  # share of clips that send an object across the occluder
    # world steps per predictor step: each action is held this long and every k-th frame kept. Why:
    # one world step moves the agent too little for the L1 energy to rank candidate moves (greedy
    # search on the true next frames reaches 10% of reach goals, on frames 3 steps ahead 90%:
    # closed_loop_ceiling*.json), and rolling a one-step predictor out 3 times compounds its error
    action_repeat: int = 1
    cache_dir: str | None = None  # default: <out>/latent_cache
    # "world": trajectories of the built-in world; else a robot dataset folder (LeRobot v3.0 layout,
    # `jepa-edge record`): its episodes cut into trajectories, actions and states normalized with its stats
    data: str = "world"
    image_key: str | None = None  # robot dataset: the camera feature (None: its first observation.images.*)
    state_key: str = "observation.state"  # robot dataset: the state feature
    action_key: str = "action"  # robot dataset: the action feature
    # `jepa-edge train-ac` only: after training, seconds for the planner search (energy x delta_scale x blur, as `jepa-edge
    # diagnose` scores them on held-out reach episodes 500..; eval/energy_direction.py search_planner):
    # the best settings go into config.json "ac"]["planner"], which `run` plans with. 0: no search
    planner_search_s: float = 30.0
    # the run fields come from RunConfig; a small predictor on cached latents wants a smaller
    # batch, fewer steps and a lower peak lr than RunConfig's defaults
    _: KW_ONLY
    batch_size: int = 16
    steps: int = 600
    lr: float = 5e-4
    start_lr: float = 5e-5
    warmup_steps: int = 30

    def __post_init__(self):
        if self.object_speed is not None and self.object_speed < 0:
            raise ConfigError(f"--object-speed must be >= 0, got {self.object_speed}")
        if not 0 <= self.p_cross <= 1:
            raise ConfigError(f"--p-cross must be in [0, 1], got {self.p_cross}")
        if self.action_repeat < 1:
            raise ConfigError(f"--action-repeat must be >= 1, got {self.action_repeat}")
        if not self.planner_search_s >= 0:
            raise ConfigError(f"--planner-search-s must be >= 0 (0: no search), got {self.planner_search_s}")
        if self.motion_weight < 0:
            raise ConfigError(f"--motion-weight must be >= 0, got {self.motion_weight}")
        if self.frames < self.rollout_steps + 1 or self.frames < 2:
            raise ConfigError(f"--frames {self.frames} must exceed --rollout-steps {self.rollout_steps}")
        super().__post_init__()


class _ActionsMemo(torch.utils.data.Dataset):
    """Trajectory dataset that hands out clips and remembers the (small) actions/states it saw."""

    def __init__(self, data):
        self.data, self.extras = data, {}

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        clip, actions, states = self.data[i]
        self.extras[int(i)] = (actions, states)
        return clip

    def actions_states(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        for i in indices:
            if int(i) not in self.extras:
                self[int(i)]
        a = torch.stack([self.extras[int(i)][0] for i in indices])
        s = torch.stack([self.extras[int(i)][1] for i in indices])
        return a, s

    def describe(self):
        return {**self.data.describe(), "n": len(self.data), "seed": self.data.seed}


def scene_config(cfg: TrainACConfig, img_size: int) -> WorldConfig:
    base = WorldConfig(img_size=img_size)
    return base if cfg.object_speed is None else replace(base, object_speed=cfg.object_speed)


def ac_config(cfg: TrainACConfig, enc_cfg, action_dim: int, state_dim: int) -> ACPredictorConfig:
    return ACPredictorConfig(
        embed_dim=enc_cfg.embed_dim, predictor_embed_dim=cfg.predictor_width or enc_cfg.embed_dim, depth=cfg.depth,
        num_heads=cfg.num_heads, action_dim=action_dim, state_dim=state_dim, img_size=enc_cfg.img_size,
        patch_size=enc_cfg.patch_size, max_frames=max(cfg.frames, 8),
    )


def identity_init_(ac: ActionConditionedPredictor) -> bool:
    """Make the untrained predictor output its input latents: the token embedding and the output
    projection start as identities (the blocks start near zero, and LayerNorm of layer-normed
    latents is the identity). Training then learns the change a frame brings, not the whole frame.

    A predictor wider than the latents (P > D) embeds them into its first D channels; its final
    LayerNorm then sees D unit-variance channels and P - D zeros, i.e. x * sqrt(P / D), which the
    output projection scales back. A narrower one cannot pass the latents through: False."""
    D, P = ac.cfg.embed_dim, ac.cfg.predictor_embed_dim
    if P < D:
        return False
    with torch.no_grad():
        ac.embed.weight.zero_()
        ac.embed.weight[:D].copy_(torch.eye(D))
        ac.embed.bias.zero_()
        ac.proj.weight.zero_()
        ac.proj.weight[:, :D].copy_(torch.eye(D) * (D / P) ** 0.5)
        ac.proj.bias.zero_()
    return True


def motion_weighted_l1(pred: torch.Tensor, target: torch.Tensor, prev: torch.Tensor, weight: float) -> torch.Tensor:
    """L1 with each token weighted by 1 + weight * (how much it changed from `prev`) / (the mean change).

    Why: a small agent moves in a few of the tokens; the rest of the frame stays as it was. Under the
    plain L1 a predictor that copies the last latent is almost optimal, and ours learned to move the
    agent by 1-3% of what it really moves (experiments/ac_motion.py), which leaves a planner nothing
    to rank. Weighting the tokens that change makes the motion a large share of the loss."""
    err = (pred.float() - target.float()).abs()  # [B, M, D]
    if weight == 0:
        return err.mean()
    change = (target.float() - prev.float()).abs().mean(-1, keepdim=True)  # [B, M, 1]
    w = 1 + weight * change / change.mean().clamp_min(1e-8)
    return (w * err).mean() / w.mean()


def _total(forcing: torch.Tensor, rollout: list[torch.Tensor]):
    roll = torch.stack(rollout).mean()
    return forcing + roll, {"loss_forcing": float(forcing.detach()), "loss_rollout": float(roll.detach())}


def ac_loss(ac, z: torch.Tensor, actions: torch.Tensor, states: torch.Tensor, rollout_steps: int,
            motion_weight: float = 0.0, one_step: bool = False):
    """z [B, T, N, D] latents; actions [B, T, A]; states [B, T, S]."""
    if one_step:
        return one_step_loss(ac, z, actions, states, rollout_steps, motion_weight)
    B, T, N, D = z.shape
    pred = ac(z[:, :-1].reshape(B, (T - 1) * N, D), actions[:, :-1], states[:, :-1])  # [B, (T-1)*N, D]
    forcing = motion_weighted_l1(pred, z[:, 1:].reshape(B, (T - 1) * N, D), z[:, :-1].reshape(B, (T - 1) * N, D),
                                 motion_weight)
    seq, rollout = z[:, 0], []  # [B, N, D]
    for k in range(1, rollout_steps + 1):
        nxt = ac(seq, actions[:, :k], states[:, :k])[:, -N:]  # prediction of frame k
        rollout.append(motion_weighted_l1(nxt, z[:, k], z[:, k - 1], motion_weight))
        seq = torch.cat([seq, nxt], dim=1)
    return _total(forcing, rollout)


def one_step_loss(ac, z, actions, states, rollout_steps: int, motion_weight: float):
    """ac_loss for a predictor that sees one frame: every transition of the batch is a sample of its
    own (teacher forcing), and the rollout feeds each prediction back as the next call's only frame
    (with the true state, which the planner integrates from its actions)."""
    B, T, N, D = z.shape
    pred = ac(z[:, :-1].reshape(B * (T - 1), N, D), actions[:, :-1].reshape(B * (T - 1), 1, -1),
              states[:, :-1].reshape(B * (T - 1), 1, -1))
    forcing = motion_weighted_l1(pred, z[:, 1:].reshape(B * (T - 1), N, D), z[:, :-1].reshape(B * (T - 1), N, D),
                                 motion_weight)
    nxt, rollout = z[:, 0], []
    for k in range(rollout_steps):
        nxt = ac(nxt, actions[:, k:k + 1], states[:, k:k + 1])
        rollout.append(motion_weighted_l1(nxt, z[:, k + 1], z[:, k], motion_weight))
    return _total(forcing, rollout)


def robot_trajectories(cfg: TrainACConfig, img_size: int, norm: Normalization):
    """Trajectories of a robot dataset, and what config.json's "ac" records about them: the
    features used, their normalization (from the dataset's stats: the predictor sees
    (x - mean) / std, and so must the planner's actions and states), the action period."""
    from jepa_edge.data.datasets import RobotEpisodes

    world = RobotEpisodes(cfg.data, "trajectories", img_size, cfg.frames, cfg.action_repeat, normalization=norm,
                          image_key=cfg.image_key, state_key=cfg.state_key, action_key=cfg.action_key)
    ds = world.data
    world.action_norm, world.state_norm = ds.norm(ds.action_key), ds.norm(ds.state_key)
    features = ds.features
    recorded = {
        "data": {"root": str(ds.root), "episodes": len(ds), "frames": ds.num_frames, "fps": ds.fps,
                 "robot_type": ds.info.get("robot_type"), "image_key": ds.image_key},
        "states": f"{ds.state_key}: {features[ds.state_key].get('names')}",
        "actions": f"{ds.action_key}: {features[ds.action_key].get('names')}",
        "action_info": features[ds.action_key].get("info"),  # bounds, absolute or delta (as recorded)
        "action_norm": world.action_norm, "state_norm": world.state_norm,
        "fps": ds.fps, "action_period_s": cfg.action_repeat / ds.fps,  # seconds per predictor step
        "state_update": None,
    }
    from jepa_edge.data.recording import WORLD_ROBOT_TYPE

    if ds.info.get("robot_type") == WORLD_ROBOT_TYPE:  # recorded from the built-in world: its kinematics
        recorded["state_update"] = StateUpdate.for_world(WorldConfig(img_size=img_size), cfg.action_repeat).to_dict()
    return world, recorded


def check_action_dims(source: ModelDir, world, cfg: TrainACConfig) -> None:
    """An encoder dir that already holds an AC predictor (a train-ac output) fixes the action and state
    sizes: data of other sizes is refused, naming both."""
    old = source.ac_predictor_cfg
    if old is None:
        return
    ds = world.data
    for what, key, have, want in (("actions", ds.action_key, ds.action_dim, old.action_dim),
                                  ("states", ds.state_key, ds.state_dim, old.state_dim)):
        if have != want:
            raise ConfigError(f"{ds.root}: {key!r} holds {have}-d {what} but the AC predictor in {cfg.encoder} takes "
                              f"{want}-d {what}; pick a {want}-d --{'action' if what == 'actions' else 'state'}-key, "
                              "or pass an --encoder model dir without an AC predictor (a distill or convert output)")


def train_ac(cfg: TrainACConfig, out: str | Path, *, resume: bool = False, progress: bool = True,
             env: ddp.DistEnv | None = None, crash_after_step: int | None = None,
             overwrite: bool = False, trust_unverified: bool = False) -> dict:
    out, env, _ = start_run(out, cfg.seed, cfg.device, env, resume=resume, overwrite=overwrite)
    source = load_model_dir(cfg.encoder, trust_unverified=trust_unverified)
    encoder = with_input_blur(source.encoder, cfg.input_blur).to(env.device).eval().requires_grad_(False)
    enc_cfg = encoder.cfg
    norm_d = source.config.get("normalization")
    norm = Normalization.from_dict(norm_d) if norm_d else Normalization()
    if cfg.data == "world":
        if cfg.image_key is not None:
            raise ConfigError("--image-key names a camera of a robot dataset (--data DATASET), not of the built-in world")
        world = WorldTrajectories(cfg.n_trajectories, cfg.frames, enc_cfg.img_size, seed=cfg.seed + 1000,
                                  normalization=norm, cfg=scene_config(cfg, enc_cfg.img_size), p_cross=cfg.p_cross,
                                  action_repeat=cfg.action_repeat)
        recorded = None
    else:
        world, recorded = robot_trajectories(cfg, enc_cfg.img_size, norm)
        check_action_dims(source, world, cfg)
    data = _ActionsMemo(world)
    a0, s0 = data.actions_states([0])
    ac = ActionConditionedPredictor(ac_config(cfg, enc_cfg, a0.shape[-1], s0.shape[-1]))
    if cfg.identity_init and not identity_init_(ac):
        raise ConfigError(f"--identity-init needs --predictor-width of at least the encoder width {enc_cfg.embed_dim} "
                          f"(got {cfg.predictor_width}); pass --no-identity-init or that width")
    ac = ac.to(env.device)
    model = ddp.wrap(ac, env)

    def latents(x: torch.Tensor) -> torch.Tensor:  # [B, C, T, H, W] -> [B, T*N, D]
        with autocast(env.device, cfg.precision):
            z = frame_latents(encoder, x.to(env.device))
        return z.flatten(1, 2)

    key = {"encoder_sha256": source.config.get("weights_sha256"), "data": data.describe(),
           "recipe": LATENT_RECIPE, "precision": cfg.precision}
    if enc_cfg.input_blur:  # the same weights see other pixels (a key without it: caches made before the field)
        key["input_blur"] = enc_cfg.input_blur
    if cfg.data == "world" and (cfg.object_speed is not None or cfg.p_cross != TrainACConfig.p_cross):  # other scenes (named only when set)
        key["scenes"] = {"object_speed": world.cfg.object_speed, "p_cross": cfg.p_cross}
    if cfg.action_repeat != 1:
        key["action_repeat"] = cfg.action_repeat
    cache = TeacherFeatureCache(Path(cfg.cache_dir) if cfg.cache_dir else out / "latent_cache", key, len(data))
    cache.build(data, latents, cfg.batch_size, env, progress)
    sampler = StepSampler(len(data), cfg.batch_size, cfg.seed)
    rows = ddp.local_rows(cfg.batch_size, env)
    N = enc_cfg.grid[1] * enc_cfg.grid[2]

    def compute_loss(step: int):
        idx = sampler.indices(step)[rows]
        z = cache.get(idx).to(env.device)
        z = z.reshape(len(idx), cfg.frames, N, -1)  # [B, T, N, D]
        a, s = (t.to(env.device) for t in data.actions_states(idx))
        with autocast(env.device, cfg.precision):
            return ac_loss(model, z, a, s, cfg.rollout_steps, cfg.motion_weight, cfg.one_step)

    summary = run_command(
        cfg, "train-ac", env, [ac], run_dir=out, modules={"ac_predictor": ac}, compute_loss=compute_loss,
        resume=resume, progress=progress, description=f"train-ac on {enc_cfg.arch}", crash_after_step=crash_after_step,
        overwrite=overwrite,
    )
    if env.is_main:
        config = {k: v for k, v in source.config.items() if k in ("normalization", "training")}
        if recorded is None:
            about = {"states": "agent x, y, vx, vy (built-in world proprio)", "actions": "agent velocity in [-1, 1]^2",
                     # how one action moves those states: the planner integrates its actions with it
                     "state_update": StateUpdate.for_world(world.cfg, cfg.action_repeat).to_dict()}
        else:
            about = recorded
        config["ac"] = {**LATENT_RECIPE, "frames": cfg.frames, "rollout_steps": cfg.rollout_steps, **about,
                        "action_repeat": cfg.action_repeat,  # world steps per predictor step
                        "encoder_from": str(cfg.encoder), "config": asdict(cfg),
                        "seconds": round(summary["seconds"], 1), "final_loss": summary["final_loss"]}
        bundle = ModelDir(config=config, encoder=encoder.cpu(), predictor=source.predictor, ac_predictor=ac.cpu())
        save_model_dir(out / "model", bundle, source={"kind": "train-ac", "run_dir": str(out), "encoder": str(cfg.encoder)})
    ddp.barrier(env)
    return {**summary, "model_dir": str(out / "model")}

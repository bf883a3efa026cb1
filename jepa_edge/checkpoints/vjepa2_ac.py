"""Convert an official V-JEPA 2-AC checkpoint (facebookresearch/vjepa2, `vjepa2-ac-vitg.pt` layout)
into our model dir parts: the V-JEPA 2 encoder and the action-conditioned predictor.

The file is a dict with `encoder` and `predictor` state dicts (training files add
`target_encoder`, `opt`, `epoch`, ...), keys prefixed `module.` / `module.backbone.` by the
DistributedDataParallel wrapper. Everything the weights determine (widths, depth, action / state /
extrinsics sizes, MLP kind) is read from them; what they cannot (heads, input size, how many frames
the causal mask covers, whether the extrinsics token is used) comes from flags with the official
defaults (64-wide heads, 256 px, 16 px patches, 64 frames / tubelet 2 = 32 steps, no extrinsics).

Strict: every key is either mapped to a parameter of the right shape or refused, with one known
exception — the official predictor always builds `extrinsics_encoder` even when the model does not
use it (the released model), so those two tensors are dropped unless `use_extrinsics=True`.
"""
from __future__ import annotations

import re

import torch

from jepa_edge.checkpoints.official import (
    abbrev, check_keys, is_state_dict, need, select_state, source_record, strip_wrapper_prefixes,
)
from jepa_edge.errors import CheckpointError, ConfigError
from jepa_edge.models.ac_predictor import ACPredictorConfig, ActionConditionedPredictor

# official name (first dotted component) -> ours
RENAMES = {
    "predictor_embed": "embed",
    "action_encoder": "action_embed",
    "state_encoder": "state_embed",
    "extrinsics_encoder": "extrinsics_embed",
    "predictor_blocks": "blocks",
    "predictor_norm": "norm",
    "predictor_proj": "proj",
}
OFFICIAL_HEAD_DIM = 64  # the released AC predictor: 1024 wide, 16 heads


def _block_indices(sd: dict) -> list[int]:
    return sorted({int(m.group(1)) for k in sd if (m := re.match(r"predictor_blocks\.(\d+)\.", k))})


def _mlp_layout(sd: dict, width: int, block: int) -> dict:
    """gelu (fc1, fc2) or SwiGLU (fc1, fc2, fc3); find mlp_ratio / wide_silu that give the hidden size."""
    hidden = need(sd, f"predictor_blocks.{block}.mlp.fc1.weight", "AC predictor MLP").shape[0]
    ratio = hidden / width if int(width * (hidden / width)) == hidden else (hidden + 0.5) / width  # int() rounds down
    if f"predictor_blocks.{block}.mlp.fc3.weight" not in sd:
        return {"mlp": "gelu", "mlp_ratio": ratio}
    for wide in (True, False):  # the official predictor hard-codes mlp_ratio=4
        cfg = {"mlp": "swiglu", "mlp_ratio": 4.0, "wide_silu": wide}
        probe = ACPredictorConfig(embed_dim=1, predictor_embed_dim=width, num_heads=1, use_rope=False, **cfg)
        if probe.mlp_hidden == hidden:
            return cfg
    return {"mlp": "swiglu", "mlp_ratio": ratio, "wide_silu": False}


def infer_ac_predictor_config(
    sd: dict,
    *,
    predictor_heads: int | None = None,
    img_size: int = 256,
    patch_size: int = 16,
    max_frames: int = 32,
    use_extrinsics: bool = False,
    use_rope: bool = True,
    frame_causal: bool = True,
) -> ACPredictorConfig:
    """ACPredictorConfig from an official predictor state dict (wrapper prefixes already removed)."""
    width, enc_dim = need(sd, "predictor_embed.weight", "AC predictor token input projection").shape
    action_dim = need(sd, "action_encoder.weight", "AC predictor action token").shape[1]
    state_dim = need(sd, "state_encoder.weight", "AC predictor state token").shape[1]
    extrinsics_dim = 0
    if use_extrinsics:
        extrinsics_dim = need(sd, "extrinsics_encoder.weight", "AC predictor extrinsics token").shape[1]
    blocks = _block_indices(sd)
    if not blocks:
        raise CheckpointError("not a V-JEPA 2-AC predictor: no predictor_blocks.N.* keys")
    if predictor_heads is None:
        if width % OFFICIAL_HEAD_DIM:
            raise ConfigError(
                f"the AC predictor is {width} wide, not a multiple of the official {OFFICIAL_HEAD_DIM}-wide "
                "heads: pass --predictor-heads N"
            )
        predictor_heads = width // OFFICIAL_HEAD_DIM
    return ACPredictorConfig(
        embed_dim=enc_dim,
        predictor_embed_dim=width,
        depth=blocks[-1] + 1,  # a gap in the indices shows up as missing keys, named, below
        num_heads=predictor_heads,
        action_dim=action_dim,
        state_dim=state_dim,
        extrinsics_dim=extrinsics_dim,
        img_size=img_size,
        patch_size=patch_size,
        max_frames=max_frames,
        qkv_bias=f"predictor_blocks.{blocks[0]}.attn.qkv.bias" in sd,
        use_rope=use_rope,
        frame_causal=frame_causal,
        **_mlp_layout(sd, width, blocks[0]),  # read from a block that is there; others are checked
    )


def _our_name(official: str) -> str:
    head, _, rest = official.partition(".")
    return f"{RENAMES.get(head, head)}.{rest}" if rest else RENAMES.get(head, head)


def _official_name(ours: str) -> str:
    inverse = {v: k for k, v in RENAMES.items()}
    head, _, rest = ours.partition(".")
    return f"{inverse.get(head, head)}.{rest}" if rest else inverse.get(head, head)


def convert_ac_predictor_state(sd: dict, *, depth: int | None = None, **flags) -> tuple[dict, dict]:
    """Official AC predictor state dict (any wrapper prefixes) -> (ACPredictorConfig dict, our state
    dict). Pure.

    `depth`, when given, is what the caller expects; a file with another depth is refused and the
    message names the blocks that are missing or extra. Other flags: see infer_ac_predictor_config.
    """
    sd = strip_wrapper_prefixes(sd)
    cfg = infer_ac_predictor_config(sd, **flags)
    if depth is not None and depth != cfg.depth:
        extra = sorted(k for k in sd if (m := re.match(r"predictor_blocks\.(\d+)\.", k)) and int(m.group(1)) >= depth)
        hint = f"extra keys: {abbrev(extra)}" if extra else f"missing blocks {list(range(cfg.depth, depth))}"
        raise CheckpointError(f"AC predictor depth: the checkpoint has {cfg.depth} blocks, expected {depth}; {hint}")
    if not cfg.extrinsics_dim:
        sd = {k: v for k, v in sd.items() if not k.startswith("extrinsics_encoder.")}  # unused, always built
    ours = {_our_name(k): v for k, v in sd.items()}
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in ActionConditionedPredictor(cfg).state_dict().items()}
    check_keys(expected, ours, f"V-JEPA 2-AC predictor ({cfg.depth} blocks, {cfg.predictor_embed_dim} wide, "
                               f"{cfg.num_heads} heads)", _official_name)
    return cfg.to_dict(), {k: ours[k].detach().clone().float().contiguous() for k in expected}


def convert_vjepa2_ac(
    ckpt: dict,
    *,
    key: str | None = None,
    encoder_only: bool = False,
    predictor_heads: int | None = None,
    predictor_depth: int | None = None,
    max_frames: int = 32,
    use_extrinsics: bool = False,
    **encoder_flags,
) -> tuple[dict, dict]:
    """Official V-JEPA 2-AC checkpoint dict -> (config dict with `encoder`, `ac_predictor` and
    `source`; state dict with `encoder.` / `ac_predictor.` prefixes). Pure.

    encoder_flags (arch, heads, img_size, patch, frames, tubelet) go to the V-JEPA 2 encoder
    converter. The AC pipeline encodes every frame on its own, as a 2-frame tubelet of the frame
    repeated (app/vjepa_droid, notebooks), so `frames` defaults to the tubelet: the model dir's
    encoder input is one camera frame. The predictor takes the encoder's input size and patch.
    """
    from jepa_edge.checkpoints.vjepa2 import convert_vjepa2_encoder

    if not isinstance(ckpt, dict):
        raise CheckpointError(f"expected a checkpoint dict, got {type(ckpt).__name__}")
    enc_key, enc_sd = select_state(ckpt, key, ("encoder", "target_encoder"), "encoder")
    if encoder_flags.get("frames") is None:  # one frame = one tubelet (Conv3d kernel depth)
        w = strip_wrapper_prefixes(enc_sd).get("patch_embed.proj.weight")
        if isinstance(w, torch.Tensor) and w.dim() == 5:
            encoder_flags["frames"] = w.shape[2]
    enc_cfg, enc_state, dropped = convert_vjepa2_encoder(enc_sd, **encoder_flags)
    config = {"encoder": enc_cfg.to_dict()}
    state = {f"encoder.{k}": v for k, v in enc_state.items()}
    if not encoder_only:
        pred_sd = ckpt.get("predictor")
        if not is_state_dict(pred_sd):
            raise CheckpointError("no 'predictor' state dict in the checkpoint: not a V-JEPA 2-AC file "
                                  "(convert the encoder alone with --encoder-only, or use --format vjepa2)")
        pred_cfg, pred_state = convert_ac_predictor_state(
            pred_sd, depth=predictor_depth, predictor_heads=predictor_heads, img_size=enc_cfg.img_size,
            patch_size=enc_cfg.patch_size, max_frames=max_frames, use_extrinsics=use_extrinsics,
        )
        if pred_cfg["embed_dim"] != enc_cfg.embed_dim:
            raise CheckpointError(f"the AC predictor reads {pred_cfg['embed_dim']}-wide tokens but the encoder "
                                  f"is {enc_cfg.embed_dim} wide: predictor_embed.weight does not fit this encoder")
        config["ac_predictor"] = pred_cfg
        state.update({f"ac_predictor.{k}": v for k, v in pred_state.items()})
        if not use_extrinsics:
            dropped += [f"ac_predictor.{k}" for k in ("extrinsics_encoder.weight", "extrinsics_encoder.bias")
                        if any(n.endswith(k) for n in pred_sd)]
    config["source"] = source_record("vjepa2-ac", enc_key, dropped, ckpt)
    return config, state

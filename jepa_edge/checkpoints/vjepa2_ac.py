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
_WRAPPER_PREFIXES = ("module.", "backbone.")


def strip_wrapper_prefixes(sd: dict) -> dict:
    """Drop leading `module.` / `backbone.` (DDP and MultiSeqWrapper), as the official hub loader."""
    out = {}
    for key, value in sd.items():
        name = key
        while name.startswith(_WRAPPER_PREFIXES):
            name = name.split(".", 1)[1]
        if name in out:
            raise CheckpointError(f"two keys map to {name!r} after removing wrapper prefixes (one is {key!r})")
        out[name] = value
    return out


def _shape(sd: dict, key: str, what: str) -> tuple[int, ...]:
    if key not in sd:
        present = ", ".join(sorted(sd)[:8]) + (" ..." if len(sd) > 8 else "")
        raise CheckpointError(f"not a V-JEPA 2-AC predictor: missing {key!r} ({what}); keys found: {present}")
    value = sd[key]
    if not isinstance(value, torch.Tensor):
        raise CheckpointError(f"{key!r} is a {type(value).__name__}, expected a tensor")
    return tuple(value.shape)


def _block_indices(sd: dict) -> list[int]:
    return sorted({int(m.group(1)) for k in sd if (m := re.match(r"predictor_blocks\.(\d+)\.", k))})


def _mlp_layout(sd: dict, width: int, block: int) -> dict:
    """gelu (fc1, fc2) or SwiGLU (fc1, fc2, fc3); find mlp_ratio / wide_silu that give the hidden size."""
    hidden = _shape(sd, f"predictor_blocks.{block}.mlp.fc1.weight", "first MLP layer")[0]
    if f"predictor_blocks.{block}.mlp.fc3.weight" not in sd:
        return {"mlp": "gelu", "mlp_ratio": hidden / width}
    for wide in (True, False):  # the official predictor hard-codes mlp_ratio=4
        cfg = {"mlp": "swiglu", "mlp_ratio": 4.0, "wide_silu": wide}
        if ACPredictorConfig(embed_dim=1, predictor_embed_dim=width, num_heads=1, use_rope=False, **cfg).mlp_hidden == hidden:
            return cfg
    return {"mlp": "swiglu", "mlp_ratio": hidden / width, "wide_silu": False}


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
    width, enc_dim = _shape(sd, "predictor_embed.weight", "token input projection")
    action_dim = _shape(sd, "action_encoder.weight", "action token")[1]
    state_dim = _shape(sd, "state_encoder.weight", "state token")[1]
    extrinsics_dim = _shape(sd, "extrinsics_encoder.weight", "extrinsics token")[1] if use_extrinsics else 0
    blocks = _block_indices(sd)
    if not blocks:
        raise CheckpointError("not a V-JEPA 2-AC predictor: no predictor_blocks.N.* keys")
    if predictor_heads is None:
        if width % OFFICIAL_HEAD_DIM:
            raise ConfigError(
                f"the AC predictor is {width} wide, not a multiple of the official {OFFICIAL_HEAD_DIM}-wide heads: "
                "pass --predictor-heads N"
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


def convert_ac_predictor_state(sd: dict, *, depth: int | None = None, **flags) -> tuple[dict, dict]:
    """Official AC predictor state dict -> (ACPredictorConfig dict, our state dict). Pure.

    `depth`, when given, is what the caller expects; a file with another depth is refused and the
    message names the blocks that are missing or extra. Other flags: see infer_ac_predictor_config.
    """
    sd = strip_wrapper_prefixes(sd)
    cfg = infer_ac_predictor_config(sd, **flags)
    if depth is not None and depth != cfg.depth:
        have = _block_indices(sd)
        extra = sorted(k for k in sd if (m := re.match(r"predictor_blocks\.(\d+)\.", k)) and int(m.group(1)) >= depth)
        hint = f"extra keys: {_abbrev(extra)}" if extra else f"missing blocks {list(range(len(have), depth))}"
        raise CheckpointError(f"AC predictor depth: the checkpoint has {cfg.depth} blocks, expected {depth}; {hint}")
    if not cfg.extrinsics_dim:
        sd = {k: v for k, v in sd.items() if not k.startswith("extrinsics_encoder.")}  # unused, always built

    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in ActionConditionedPredictor(cfg).state_dict().items()}
    ours = {_our_name(k): k for k in sd}
    unexpected = sorted(ours[k] for k in ours if k not in expected)
    missing = sorted(k for k in expected if k not in ours)
    mismatched = sorted(
        f"{ours[k]} {list(sd[ours[k]].shape)} (expected {list(shape)})"
        for k, shape in expected.items()
        if k in ours and tuple(sd[ours[k]].shape) != shape
    )
    if unexpected or missing or mismatched:
        parts = []
        if missing:
            parts.append(f"missing keys: {_abbrev([_official_name(k) for k in missing])}")
        if unexpected:
            parts.append(f"unexpected keys: {_abbrev(unexpected)}")
        if mismatched:
            parts.append(f"shape mismatches: {_abbrev(mismatched)}")
        raise CheckpointError(
            f"AC predictor checkpoint does not match the inferred architecture (depth {cfg.depth}, "
            f"width {cfg.predictor_embed_dim}, {cfg.num_heads} heads): " + "; ".join(parts)
        )
    state = {k: sd[ours_k].detach().clone().contiguous() for k, ours_k in ((k, ours[k]) for k in expected)}
    return cfg.to_dict(), state


def _official_name(ours: str) -> str:
    inverse = {v: k for k, v in RENAMES.items()}
    head, _, rest = ours.partition(".")
    return f"{inverse.get(head, head)}.{rest}"


def _abbrev(items: list[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")

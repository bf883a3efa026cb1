"""Conversion shared by I-JEPA, V-JEPA, V-JEPA 2 and V-JEPA 2.1: the ViT encoder and the
mask-token predictor. One `Family` per format says what differs (positions, which sub-dict holds
the encoder, defaults for what the weights cannot tell). Pure functions: dicts of tensors in,
(config dict, our state dict) out; nothing is read or written here.

Inferred from the weights: width, depth, MLP width, patch size, input channels, tubelet (Conv3d),
qkv bias, predictor width/depth/output width/number of mask tokens, and, for sin-cos models,
the token grid (from the stored position table). Not inferable, so flags with official defaults:
heads (unless the registry's name fixes them), and for RoPE models the input size and frames.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from jepa_edge.checkpoints.official import (
    block_count, check_keys, is_state_dict, need, select_state, source_record, strip_wrapper_prefixes,
)
from jepa_edge.errors import CheckpointError
from jepa_edge.models.config import EncoderConfig, PredictorConfig
from jepa_edge.models.registry import ARCHS, MLP_RATIOS, parse_arch


@dataclass(frozen=True)
class Family:
    name: str
    pos: str  # "sincos" | "rope"
    encoder_keys: tuple[str, ...]  # which sub-dict to take, in order of preference
    giant: str  # 1408 wide, 40 deep: vit_giant (16 heads) or vit_giant_xformers (22)
    img_size: int  # default input size when the weights cannot tell (RoPE, or ambiguous video)
    frames: int  # default clip length for video models when the weights cannot tell
    predictor_heads: int | None  # None: the encoder's head count (I-JEPA, V-JEPA)
    # Tensors the released files carry but the model never uses (the official hub loader hides
    # them behind strict=False). Exactly these are dropped; anything else unexpected is refused.
    leftovers: tuple[str, ...] = ()
    predictor_leftovers: tuple[str, ...] = ()


# ------------------------------------------------------------------------------ encoder

def _mlp_ratio(width: int, hidden: int) -> float:
    for r in (4.0, 48 / 11, hidden / width, (hidden + 0.5) / width):
        if int(width * r) == hidden:
            return r
    raise CheckpointError(f"cannot express an MLP of {hidden} for width {width}")


def _resolve_arch(fam: Family, width: int, depth: int, arch: str | None, heads: int | None):
    """(arch name, depth, heads): from --arch, else from the registry entry with this width and
    depth (the family's giant for 1408/40), else heads must come from --heads."""
    if arch is not None:
        name, _ = parse_arch(arch)
        a_width, a_depth, a_heads = ARCHS[name]
        return name, a_depth, heads or a_heads, a_width
    matches = [n for n, (w, d, _) in ARCHS.items() if (w, d) == (width, depth)]
    if fam.giant in matches:
        matches = [fam.giant]
    if len(matches) == 1:
        return matches[0], depth, heads or ARCHS[matches[0]][2], width
    if heads is None:
        raise CheckpointError(
            f"a {width}-wide, {depth}-deep encoder matches no registered arch, and heads cannot be read from "
            f"weights: pass --heads N (or --arch NAME)"
        )
    return f"vit_custom_{width}x{depth}", depth, heads, width


def _sincos_grid(n: int, p: int, video: bool, tubelet: int, img_size, frames, fam: Family):
    """(img_size, frames) from the stored position table's length n."""
    if not video:
        side = round(n**0.5)
        if side * side != n:
            raise CheckpointError(f"pos_embed has {n} positions, not a square grid")
        if img_size is not None and img_size != side * p:
            raise CheckpointError(f"the checkpoint's pos_embed is for {side * p} px ({side}x{side} patches of {p}); "
                                  f"--img-size {img_size} does not match")
        return side * p, 1
    if frames is not None and img_size is None:
        t = frames // tubelet
        side = round((n / t) ** 0.5) if t else 0
        if t == 0 or side * side * t != n:
            raise CheckpointError(f"pos_embed has {n} positions: not {t} x square grid; check --frames")
        return side * p, frames
    img = img_size or fam.img_size
    per_frame = (img // p) ** 2
    if n % per_frame:
        raise CheckpointError(f"pos_embed has {n} positions, not a multiple of {per_frame} ({img} px / {p}); "
                              "pass --img-size")
    t = n // per_frame
    if frames is not None and frames != t * tubelet:
        raise CheckpointError(f"pos_embed holds {t * tubelet} frames at {img} px; --frames {frames} does not match")
    return img, t * tubelet


def convert_encoder_state(sd: dict, fam: Family, *, arch=None, heads=None, img_size=None, patch=None,
                          frames=None, tubelet=None) -> tuple[EncoderConfig, dict, list[str]]:
    """Official encoder state dict (any wrapper prefixes) -> (EncoderConfig, our state dict, dropped keys)."""
    from jepa_edge.models.vit import VisionTransformer

    sd = strip_wrapper_prefixes(sd)
    w = need(sd, "patch_embed.proj.weight", "patch embedding")
    video = w.dim() == 5
    width, chans, p = w.shape[0], w.shape[1], w.shape[-1]
    tub = w.shape[2] if video else (tubelet or 2)
    if patch is not None and patch != p:
        raise CheckpointError(f"the checkpoint's patch embedding is {p}x{p}; --patch {patch} does not match")
    if video and tubelet is not None and tubelet != tub:
        raise CheckpointError(f"the checkpoint's tubelet is {tub} frames; --tubelet {tubelet} does not match")
    if arch is not None and (arch_patch := parse_arch(arch)[1]) is not None and arch_patch != p:
        raise CheckpointError(f"the checkpoint's patch embedding is {p}x{p}; --arch {arch} says {arch_patch}")
    depth = block_count(sd, "blocks.")
    name, depth, n_heads, _ = _resolve_arch(fam, width, depth, arch, heads)
    hidden = need(sd, "blocks.0.mlp.fc1.weight", "first MLP layer").shape[0]
    mlp_ratio = MLP_RATIOS.get(name, 4.0) if arch else _mlp_ratio(width, hidden)

    dropped = [k for k in fam.leftovers if k in sd]
    sd = {k: v for k, v in sd.items() if k not in dropped}
    if fam.pos == "sincos":
        n = need(sd, "pos_embed", "sin-cos position table").shape[-2]
        img, n_frames = _sincos_grid(n, p, video, tub, img_size, frames, fam)
    else:
        img, n_frames = img_size or fam.img_size, (frames or fam.frames) if video else 1
    if arch is not None:  # the named arch decides the width: a different file shows up as shape mismatches
        width = ARCHS[name][0]
    try:
        cfg = EncoderConfig(arch=name, embed_dim=width, depth=depth, num_heads=n_heads, mlp_ratio=mlp_ratio,
                            patch_size=p, img_size=img, in_chans=chans, num_frames=n_frames, tubelet_size=tub,
                            pos=fam.pos, qkv_bias="blocks.0.attn.qkv.bias" in sd)
    except Exception as e:
        raise CheckpointError(f"inferred encoder config is invalid: {e}") from None
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in VisionTransformer(cfg).state_dict().items()}
    check_keys(expected, sd, f"{fam.name} encoder ({name}, {depth} blocks, {width} wide)")
    return cfg, {k: sd[k].detach().clone().float().contiguous() for k in expected}, dropped


# ------------------------------------------------------------------------------ predictor

_PRED_RENAMES = {"predictor_embed": "embed", "predictor_blocks": "blocks", "predictor_norm": "norm",
                 "predictor_proj": "proj"}
_PRED_OFFICIAL = {v: k for k, v in _PRED_RENAMES.items()}


def _pred_official_name(ours: str) -> str:
    if ours == "pos_embed":
        return "predictor_pos_embed"
    if ours == "mask_tokens":
        return "mask_token(s)"
    head, _, rest = ours.partition(".")
    return f"{_PRED_OFFICIAL.get(head, head)}.{rest}" if rest else _PRED_OFFICIAL.get(head, head)


def convert_predictor_state(sd: dict, fam: Family, enc_cfg: EncoderConfig, *, heads=None
                            ) -> tuple[PredictorConfig, dict, list[str]]:
    """Official mask-token predictor state dict -> (PredictorConfig, our state dict, dropped keys)."""
    from jepa_edge.models.predictor import MaskTokenPredictor

    sd = strip_wrapper_prefixes(sd)
    dropped = [k for k in fam.predictor_leftovers if k in sd]
    sd = {k: v for k, v in sd.items() if k not in dropped}
    width, enc_dim = need(sd, "predictor_embed.weight", "predictor input projection").shape
    out_dim = need(sd, "predictor_proj.weight", "predictor output projection").shape[0]
    depth = block_count(sd, "predictor_blocks.")
    hidden = need(sd, "predictor_blocks.0.mlp.fc1.weight", "first predictor MLP layer").shape[0]

    ours: dict[str, torch.Tensor] = {}
    token_ids = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"mask_tokens\.(\d+)", k)))
    if "mask_token" in sd and token_ids:
        raise CheckpointError("predictor has both mask_token and mask_tokens.N")
    if "mask_token" in sd:  # I-JEPA: one [1, 1, P] token
        ours["mask_tokens"] = sd.pop("mask_token").reshape(1, -1)
    elif token_ids:  # V-JEPA: a ParameterList of [1, 1, P]
        if token_ids != list(range(len(token_ids))):
            raise CheckpointError(f"predictor mask tokens are not numbered 0..n-1: {token_ids}")
        ours["mask_tokens"] = torch.cat([sd.pop(f"mask_tokens.{i}").reshape(1, -1) for i in token_ids])
    else:
        raise CheckpointError("predictor has no mask_token / mask_tokens.N: not a mask-token predictor "
                              "(convert the encoder alone with --encoder-only)")
    for k, v in sd.items():
        if k == "predictor_pos_embed":
            ours["pos_embed"] = v.reshape(v.shape[-2], v.shape[-1])  # [1, N, P] -> [N, P]
        else:
            head, _, rest = k.partition(".")
            ours[f"{_PRED_RENAMES.get(head, head)}.{rest}" if rest else _PRED_RENAMES.get(head, head)] = v

    n_heads = heads or fam.predictor_heads or enc_cfg.num_heads
    try:
        cfg = PredictorConfig(
            embed_dim=enc_dim, predictor_embed_dim=width, depth=depth, num_heads=n_heads,
            mlp_ratio=_mlp_ratio(width, hidden), patch_size=enc_cfg.patch_size, img_size=enc_cfg.img_size,
            num_frames=enc_cfg.num_frames, tubelet_size=enc_cfg.tubelet_size, pos=fam.pos,
            num_mask_tokens=ours["mask_tokens"].shape[0], out_dim=None if out_dim == enc_dim else out_dim,
            qkv_bias="predictor_blocks.0.attn.qkv.bias" in sd,
        )
    except Exception as e:
        raise CheckpointError(f"inferred predictor config is invalid: {e}; pass --predictor-heads N") from None
    if enc_dim != enc_cfg.embed_dim:
        raise CheckpointError(f"predictor reads {enc_dim}-wide tokens but the encoder is {enc_cfg.embed_dim} wide")
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in MaskTokenPredictor(cfg).state_dict().items()}
    check_keys(expected, ours, f"{fam.name} predictor ({depth} blocks, {width} wide)", _pred_official_name)
    return cfg, {k: ours[k].detach().clone().float().contiguous() for k in expected}, dropped


# ------------------------------------------------------------------------------ whole file

def convert_family(ckpt: dict, fam: Family, *, key: str | None = None, encoder_only: bool = False,
                   predictor_heads: int | None = None, **encoder_flags) -> tuple[dict, dict]:
    """Official checkpoint dict -> (config dict with `encoder` [+ `predictor`] and `source`,
    state dict with `encoder.` / `predictor.` prefixes)."""
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"expected a checkpoint dict, got {type(ckpt).__name__}")
    enc_key, enc_sd = select_state(ckpt, key, fam.encoder_keys, "encoder")
    enc_cfg, enc_state, dropped = convert_encoder_state(enc_sd, fam, **encoder_flags)
    config = {"encoder": enc_cfg.to_dict()}
    state = {f"encoder.{k}": v for k, v in enc_state.items()}
    pred_sd = ckpt.get("predictor")
    if not encoder_only and is_state_dict(pred_sd):
        pred_cfg, pred_state, pred_dropped = convert_predictor_state(pred_sd, fam, enc_cfg, heads=predictor_heads)
        config["predictor"] = pred_cfg.to_dict()
        state.update({f"predictor.{k}": v for k, v in pred_state.items()})
        dropped += [f"predictor.{k}" for k in pred_dropped]
    config["source"] = source_record(fam.name, enc_key, dropped, ckpt)
    return config, state

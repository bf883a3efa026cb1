"""Regenerate the V-JEPA 2-AC parity data in this folder from the OFFICIAL code.

Needs a checkout of https://github.com/facebookresearch/vjepa2 (not part of jepa-edge, never
committed here). Run from anywhere, outside this repo's package:

    python tests/data/parity_ac/make_parity_ac.py /path/to/vjepa2 tests/data/parity_ac

It imports the official `src.models.ac_predictor` and `src.models.vision_transformer` as they are;
`timm` and `einops` are stubbed only if absent (the code paths used here never call them: no
drop-path, PatchEmbed3D does not use `rearrange`).
"""
from __future__ import annotations

import sys
import types
from functools import partial
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file


def _stub_missing_deps():
    try:
        import timm.models.layers  # noqa: F401
    except ImportError:
        timm = types.ModuleType("timm")
        models = types.ModuleType("timm.models")
        layers = types.ModuleType("timm.models.layers")

        def drop_path(x, p=0.0, training=False):
            assert p == 0.0, "stub: drop-path is not used in the parity configs"
            return x

        layers.drop_path = drop_path
        sys.modules.update({"timm": timm, "timm.models": models, "timm.models.layers": layers})
    try:
        import einops  # noqa: F401
    except ImportError:
        einops = types.ModuleType("einops")
        einops.rearrange = None  # imported but unused by the modules we run
        sys.modules["einops"] = einops


def _perturb_vectors(module: nn.Module, gen: torch.Generator) -> None:
    """Official init zeroes biases and sets LayerNorm to identity; randomize them so parity
    also checks that every bias and norm parameter is mapped to the right place."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim == 1:
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=gen))


def _official_layout(sd: dict) -> dict:
    # The released files come from DistributedDataParallel(+ wrapper): keys start with
    # "module.backbone." (the hub loader strips "module." and "backbone.").
    return {f"module.backbone.{k}": v.clone() for k, v in sd.items()}


def main(repo: str, out_dir: str) -> None:
    sys.path.insert(0, str(Path(repo).resolve()))
    _stub_missing_deps()
    from src.models.ac_predictor import vit_ac_predictor
    from src.models.vision_transformer import VisionTransformer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    img, patch, tubelet = 64, 16, 2
    grid = img // patch

    # ---- case A: a whole AC file (encoder + predictor), 2 heads of 32 in the predictor
    encoder = VisionTransformer(
        img_size=(img, img), patch_size=patch, num_frames=2, tubelet_size=tubelet, embed_dim=32,
        depth=1, num_heads=2, mlp_ratio=4, qkv_bias=True, use_rope=True, use_sdpa=True,
        norm_layer=partial(nn.LayerNorm, eps=1e-6), uniform_power=False,
    ).eval()
    predictor = vit_ac_predictor(
        img_size=(img, img), patch_size=patch, num_frames=8, tubelet_size=tubelet, embed_dim=32,
        predictor_embed_dim=64, depth=2, num_heads=2, action_embed_dim=7, use_rope=True,
        is_frame_causal=True, use_extrinsics=False,
    ).eval()
    _perturb_vectors(encoder, gen)
    _perturb_vectors(predictor, gen)
    ckpt = {
        "encoder": _official_layout(encoder.state_dict()),
        "predictor": _official_layout(predictor.state_dict()),
        "epoch": 3,
    }
    torch.save(ckpt, out / "vjepa2_ac_tiny.pt")

    B, T = 2, 3
    tokens = torch.randn(B, T * grid * grid, 32, generator=gen)
    actions = torch.randn(B, T, 7, generator=gen)
    states = torch.randn(B, T, 7, generator=gen)
    frames = torch.randn(1, 3, T, img, img, generator=gen)  # [B, C, T, H, W], already normalized
    frame_actions, frame_states = actions[:1], states[:1]
    with torch.no_grad():
        pred_out = predictor(tokens, actions, states)
        # The official AC pipeline (app/vjepa_droid, notebooks/utils/world_model_wrapper.py):
        # each frame becomes a 2-frame tubelet, tokens per frame are layer-normed, then predicted.
        clip = frames.permute(0, 2, 1, 3, 4).flatten(0, 1).unsqueeze(2).repeat(1, 1, 2, 1, 1)
        h = encoder(clip)
        h = h.view(1, T, -1, h.size(-1)).flatten(1, 2)
        h = F.layer_norm(h, (h.size(-1),))
        e2e_out = predictor(h, frame_actions, frame_states)
    save_file(
        {
            "tokens": tokens, "actions": actions, "states": states, "predicted": pred_out,
            "frames": frames, "frame_actions": frame_actions.clone(),
            "frame_states": frame_states.clone(), "frame_tokens": h.contiguous(),
            "frames_predicted": e2e_out,
        },
        out / "case_a_io.safetensors",
    )

    # ---- case B: predictor only, the official head geometry (64 wide) and extrinsics tokens
    pred_b = vit_ac_predictor(
        img_size=(img, img), patch_size=patch, num_frames=8, tubelet_size=tubelet, embed_dim=32,
        predictor_embed_dim=64, depth=1, num_heads=1, action_embed_dim=5, use_rope=True,
        is_frame_causal=True, use_extrinsics=True,
    ).eval()
    _perturb_vectors(pred_b, gen)
    torch.save({"predictor": _official_layout(pred_b.state_dict())}, out / "vjepa2_ac_extrinsics.pt")
    T = 4
    tok_b = torch.randn(B, T * grid * grid, 32, generator=gen)
    act_b = torch.randn(B, T, 5, generator=gen)
    st_b = torch.randn(B, T, 5, generator=gen)
    ext_b = torch.randn(B, T, 4, generator=gen)
    with torch.no_grad():
        out_b = pred_b(tok_b, act_b, st_b, ext_b)
    save_file(
        {"tokens": tok_b, "actions": act_b, "states": st_b, "extrinsics": ext_b, "predicted": out_b},
        out / "case_b_io.safetensors",
    )
    for p in sorted(out.iterdir()):
        print(f"{p.name}: {p.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

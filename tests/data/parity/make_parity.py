"""Make the parity reference files in this folder by running the OFFICIAL JEPA model code.

NOT part of the package and not run by the tests. It needs checkouts of the official repositories
(their `src/` folders; nothing of theirs is committed here):

    python tests/data/parity/make_parity.py \
        --ijepa /path/to/facebookresearch/ijepa --jepa /path/to/facebookresearch/jepa \
        --vjepa2 /path/to/facebookresearch/vjepa2 [--out tests/data/parity]

Revisions used for the committed files: see README.md here. Only torch and numpy are needed: the two
imports the official model files make but never call in eval without drop-path (timm's drop_path,
einops' rearrange) are stubbed when absent. Each case runs in its own process because all three
repos name their package `src`.

For each family it builds a tiny model with the official classes (seed 0), perturbs every trained weight
(LayerNorms too) so no parameter sits at its init value, runs a seeded input through the official
forward passes, and saves
  <case>.pth.tar      the state in the official training-checkpoint layout: `encoder`, `predictor`,
                      `target_encoder` (prefixed `module.` or `module.backbone.`), `opt`, `epoch`, ...
  <case>_input.npy    the input [B, C, H, W] or [B, C, T, H, W], float32
  <case>_expected.npz target_encoder(x) (`tokens`), context indices `ctx_idx`, target indices `tgt_idx`,
                      encoder(x, masks=ctx_idx) (`ctx_tokens`), predictor(ctx_tokens, ctx_idx, tgt_idx)
                      (`pred`) and the predictor's `mask_index`.
"""
from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
import types
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

B = 2


def _stub_missing_imports():
    try:
        import timm.models.layers  # noqa: F401
    except ImportError:
        def drop_path(x, drop_prob=0.0, training=False):
            assert drop_prob == 0.0 or not training, "stub: drop path is not used for parity"
            return x

        for name in ("timm", "timm.models", "timm.models.layers"):
            sys.modules[name] = types.ModuleType(name)
        sys.modules["timm.models.layers"].drop_path = drop_path
    try:
        import einops  # noqa: F401
    except ImportError:
        sys.modules["einops"] = types.ModuleType("einops")
        sys.modules["einops"].rearrange = None  # imported by patch_embed.py, never called


def _perturb(*modules):
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in modules:
            for name, p in m.named_parameters():
                if p.requires_grad:  # fixed sin-cos tables stay exact, as in training
                    p.add_(0.05 * torch.randn(p.shape, generator=g))


def _prefixed(sd, prefix):
    return {prefix + k: v.clone() for k, v in sd.items()}


def _masks(n_tokens, n_ctx, n_tgt):
    g = torch.Generator().manual_seed(2)
    ctx, tgt = [], []
    for _ in range(B):
        perm = torch.randperm(n_tokens, generator=g)
        ctx.append(perm[:n_ctx].sort().values)
        tgt.append(perm[n_ctx : n_ctx + n_tgt].sort().values)
    return torch.stack(ctx), torch.stack(tgt)


def _save(out: Path, case: str, ckpt: dict, x, tokens, ctx, tgt, ctx_tokens, pred, mask_index):
    torch.save(ckpt, out / f"{case}.pth.tar")
    np.save(out / f"{case}_input.npy", x.numpy().astype(np.float32))
    np.savez(out / f"{case}_expected.npz", tokens=tokens.numpy(), ctx_idx=ctx.numpy(), tgt_idx=tgt.numpy(),
             ctx_tokens=ctx_tokens.numpy(), pred=pred.numpy(), mask_index=np.array(mask_index))
    print(f"{case}: tokens {list(tokens.shape)}, pred {list(pred.shape)}")


def _training_extras(params):
    opt = torch.optim.AdamW(params, lr=1e-3)  # a real optimizer state dict, as the official files carry
    return {"opt": opt.state_dict(), "scaler": None, "epoch": 3, "loss": 0.25, "batch_size": B,
            "world_size": 1, "lr": 1e-3}


def case_ijepa(out: Path):
    from src.models.vision_transformer import VisionTransformer, vit_predictor

    torch.manual_seed(0)
    ln = partial(nn.LayerNorm, eps=1e-6)
    enc = VisionTransformer(img_size=[32], patch_size=8, embed_dim=24, depth=2, num_heads=2, mlp_ratio=4,
                            qkv_bias=True, norm_layer=ln)
    pred = vit_predictor(num_patches=16, embed_dim=24, predictor_embed_dim=12, depth=1, num_heads=2)
    target = copy.deepcopy(enc)
    _perturb(enc, pred)
    _perturb(target)  # EMA target differs from the context encoder: the converter must take the right one
    enc.eval(), pred.eval(), target.eval()
    x = torch.randn(B, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    ctx, tgt = _masks(16, 9, 4)
    with torch.no_grad():
        tokens = target(x)
        ctx_tokens = enc(x, masks=ctx)
        p = pred(ctx_tokens, ctx, tgt)
    ckpt = {"encoder": _prefixed(enc.state_dict(), "module."), "predictor": _prefixed(pred.state_dict(), "module."),
            "target_encoder": _prefixed(target.state_dict(), "module."),
            **_training_extras(list(enc.parameters()) + list(pred.parameters()))}
    _save(out, "ijepa_tiny", ckpt, x, tokens, ctx, tgt, ctx_tokens, p, 0)


def case_vjepa(out: Path):
    from src.models.predictor import vit_predictor
    from src.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    ln = partial(nn.LayerNorm, eps=1e-6)
    enc = VisionTransformer(img_size=32, patch_size=8, num_frames=4, tubelet_size=2, embed_dim=24, depth=2,
                            num_heads=2, mlp_ratio=4, qkv_bias=True, norm_layer=ln, uniform_power=True)
    pred = vit_predictor(img_size=32, patch_size=8, num_frames=4, tubelet_size=2, embed_dim=24,
                         predictor_embed_dim=12, depth=1, num_heads=2, uniform_power=True, use_mask_tokens=True,
                         num_mask_tokens=2, zero_init_mask_tokens=False)
    target = copy.deepcopy(enc)
    _perturb(enc, pred)
    _perturb(target)
    enc.eval(), pred.eval(), target.eval()
    x = torch.randn(B, 3, 4, 32, 32, generator=torch.Generator().manual_seed(3))
    ctx, tgt = _masks(32, 20, 8)
    with torch.no_grad():
        tokens = target(x)
        ctx_tokens = enc(x, masks=ctx)
        p = pred(ctx_tokens, None, ctx, tgt, mask_index=1)
    pre = "module.backbone."  # DDP(MultiMaskWrapper(model))
    ckpt = {"encoder": _prefixed(enc.state_dict(), pre), "predictor": _prefixed(pred.state_dict(), pre),
            "target_encoder": _prefixed(target.state_dict(), pre),
            **_training_extras(list(enc.parameters()) + list(pred.parameters()))}
    _save(out, "vjepa_tiny", ckpt, x, tokens, ctx, tgt, ctx_tokens, p, 1)


def case_vjepa2(out: Path):
    from src.models.predictor import vit_predictor
    from src.models.utils.pos_embs import get_3d_sincos_pos_embed
    from src.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    ln = partial(nn.LayerNorm, eps=1e-6)
    # head_dim 16: RoPE rotates 3 x 4 channels and leaves 4 alone, so the leftover path is exercised.
    enc = VisionTransformer(img_size=(32, 32), patch_size=8, num_frames=4, tubelet_size=2, embed_dim=32, depth=2,
                            num_heads=2, mlp_ratio=4, qkv_bias=True, norm_layer=ln, use_rope=True, use_sdpa=True,
                            uniform_power=True)
    pred = vit_predictor(img_size=(32, 32), patch_size=8, num_frames=4, tubelet_size=2, embed_dim=32,
                         predictor_embed_dim=24, depth=1, num_heads=2, use_mask_tokens=True, num_mask_tokens=10,
                         zero_init_mask_tokens=False, use_rope=True, uniform_power=True, use_sdpa=True)
    target = copy.deepcopy(enc)
    _perturb(enc, pred)
    _perturb(target)
    enc.eval(), pred.eval(), target.eval()
    x = torch.randn(B, 3, 4, 32, 32, generator=torch.Generator().manual_seed(3))
    ctx, tgt = _masks(32, 20, 8)
    with torch.no_grad():
        tokens = target(x)
        ctx_tokens = enc(x, masks=ctx)
        p = pred(ctx_tokens, ctx, tgt, mask_index=1)
    pre = "module.backbone."
    # The released V-JEPA 2 files still carry sin-cos tables the RoPE model never reads.
    leftover = lambda d: torch.from_numpy(get_3d_sincos_pos_embed(d, 4, 2, uniform_power=True)).float()[None]
    enc_sd = {**_prefixed(enc.state_dict(), pre), pre + "pos_embed": leftover(32)}
    tgt_sd = {**_prefixed(target.state_dict(), pre), pre + "pos_embed": leftover(32)}
    pred_sd = {**_prefixed(pred.state_dict(), pre), pre + "predictor_pos_embed": leftover(24)}
    ckpt = {"encoder": enc_sd, "predictor": pred_sd, "target_encoder": tgt_sd,
            **_training_extras(list(enc.parameters()) + list(pred.parameters()))}
    _save(out, "vjepa2_tiny", ckpt, x, tokens, ctx, tgt, ctx_tokens, p, 1)


CASES = {"ijepa": case_ijepa, "jepa": case_vjepa, "vjepa2": case_vjepa2}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for repo in CASES:
        ap.add_argument(f"--{repo}", type=Path, help=f"checkout of facebookresearch/{repo}")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    ap.add_argument("--case", choices=list(CASES), help=argparse.SUPPRESS)  # internal: one case per process
    args = ap.parse_args()
    if args.case:
        sys.path.insert(0, str(getattr(args, args.case)))
        _stub_missing_imports()
        torch.set_num_threads(1)
        CASES[args.case](args.out)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    for repo in CASES:
        path = getattr(args, repo)
        if path is None or not (path / "src" / "models").is_dir():
            sys.exit(f"--{repo} must point at a checkout of facebookresearch/{repo} (with src/models/)")
        env = dict(os.environ, PYTHONPATH="")  # only the official checkout provides `src`
        subprocess.run([sys.executable, __file__, "--case", repo, f"--{repo}", str(path), "--out", str(args.out)],
                       check=True, env=env, cwd=tempfile.gettempdir())


if __name__ == "__main__":
    main()

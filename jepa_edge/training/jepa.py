"""The JEPA objective shared by pretraining and distillation.

online path: context tokens (encoder on the kept indices) -> predictor -> predicted target tokens;
targets:     layer-normed tokens of a frozen network on the whole input (EMA encoder when
             pretraining, the teacher when distilling), gathered at the target indices;
loss:        L1, averaged over mask families (V-JEPA: short-range, long-range, future frames).
             Optionally (ours, off in the official recipes) a VICReg variance + covariance term on
             the context tokens: with small batches and short runs the EMA target alone can let
             every token collapse to one vector; this keeps every feature dimension alive.
With a dense head (`--dense` in distillation and pretraining), the context tokens themselves are
also mapped to the target width and matched to the targets at the context positions.
"""
from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn as nn

from jepa_edge.models.masks import MaskBatch
from jepa_edge.models.vit import gather_tokens
from jepa_edge.training.common import l1_loss


class OnlineJEPA(nn.Module):
    """encoder + predictor (+ dense head): the part that learns. One module, so one DDP wrap
    synchronizes all of it."""

    def __init__(self, encoder: nn.Module, predictor: nn.Module, dense_head: nn.Module | None = None):
        super().__init__()
        self.encoder, self.predictor, self.dense_head = encoder, predictor, dense_head

    def forward(self, x: torch.Tensor, masks: list[MaskBatch]):
        """-> per family: predictions [B, n_blocks*Nt, D_out], dense [B, Nc, D_out] or None,
        context tokens [B, Nc, D]."""
        preds, dense, ctx = [], [], []
        for k, m in enumerate(masks):
            z = self.encoder.forward_features(x, m.ctx)  # [B, Nc, D]
            p = self.predictor(z, m.ctx, m.tgt, mask_index=k)  # [B, nb, Nt, D_out]
            preds.append(p.flatten(1, 2))  # [B, nb*Nt, D_out]
            dense.append(self.dense_head(z) if self.dense_head is not None else None)
            ctx.append(z)
        return preds, dense, ctx


def variance_covariance(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """VICReg terms over all tokens z [..., D]: hinge on each dim's std (target 1), and the mean
    squared off-diagonal covariance."""
    z = z.reshape(-1, z.shape[-1]).float()
    z = z - z.mean(0)
    std = torch.sqrt(z.var(0) + 1e-4)
    var = torch.relu(1.0 - std).mean()
    cov = (z.T @ z) / max(1, len(z) - 1)
    off = cov - torch.diag(torch.diag(cov))
    return var, off.pow(2).sum() / z.shape[-1]


def jepa_loss(online: nn.Module, x: torch.Tensor, masks: list[MaskBatch], targets: torch.Tensor,
              dense_weight: float = 0.0, var_weight: float = 0.0, cov_weight: float = 0.0) -> tuple[torch.Tensor, dict]:
    """targets: layer-normed [B, N, D_out] features of the whole input."""
    preds, dense, ctx = online(x, masks)
    pred_losses, dense_losses = [], []
    for m, p, d in zip(masks, preds, dense):
        pred_losses.append(l1_loss(p, gather_tokens(targets, m.tgt.flatten(1))))
        if d is not None:
            dense_losses.append(l1_loss(d, gather_tokens(targets, m.ctx)))
    loss = torch.stack(pred_losses).mean()
    metrics = {f"loss_mask{k}": float(v.detach()) for k, v in enumerate(pred_losses)}
    if dense_losses:
        dl = torch.stack(dense_losses).mean()
        metrics["loss_pred"], metrics["loss_dense"] = float(loss.detach()), float(dl.detach())
        loss = loss + dense_weight * dl
    if var_weight or cov_weight:
        var, cov = variance_covariance(torch.cat([z.reshape(-1, z.shape[-1]) for z in ctx]))
        metrics["reg_var"], metrics["reg_cov"] = float(var.detach()), float(cov.detach())
        loss = loss + var_weight * var + cov_weight * cov
    return loss, metrics


def autocast(device: str, precision: str):
    """bf16 autocast (AMX on recent Xeons, tensor cores on GPUs) or plain fp32."""
    if precision == "fp32":
        return nullcontext()
    if precision != "bf16":
        raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
    return torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16)

"""Small encoders and the predictor export to ONNX and match PyTorch in ONNX Runtime (< 1e-4).

Exporter: the dynamo exporter (`torch.onnx.export(..., dynamo=True)`, opset 18) is the one we ship
(the default since torch 2.9, used by jepa_edge.quant.onnx_export); it is tested on the hardest graphs
(RoPE video encoder, predictor with index inputs). It costs ~5-10 s per export on a 2-core CPU, so the
legacy TorchScript exporter (opset 17, < 1 s) covers the remaining encoder flavour and the RoPE encoder
a second time, which keeps the models exportable by either. Exported at batch 2, run at batch 3:
the batch axis is dynamic.
"""
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch

from jepa_edge.models import build_encoder, build_predictor

torch.set_num_threads(1)


def _export(module, args, names, out_names, path, dynamo=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            batch = torch.export.Dim("batch", min=1, max=64)
            shapes = {n: {0: batch} for n in names}
            torch.onnx.export(module, args, str(path), input_names=names, output_names=out_names, dynamo=True,
                              opset_version=18, dynamic_shapes=shapes, verbose=False)
        else:
            axes = {n: {0: "batch"} for n in names + out_names}
            torch.onnx.export(module, args, str(path), input_names=names, output_names=out_names, dynamo=False,
                              opset_version=17, dynamic_axes=axes)
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize(
    "pos,frames,dynamo,blur",
    [("rope", 4, True, 1.0), ("sincos", 1, False, 1.5), ("rope", 4, False, 0.0)],
    ids=["video-rope-blur-dynamo", "image-sincos-blur-legacy", "video-rope-legacy"],
)
def test_encoder_onnx_matches_torch(pos, frames, dynamo, blur, tmp_path):
    torch.manual_seed(0)
    enc = build_encoder("vit_nano", img_size=32, patch_size=8, num_frames=frames, pos=pos, depth=2,
                        input_blur=blur).eval()
    shape = (3, frames, 32, 32) if frames > 1 else (3, 32, 32)
    sess = _export(enc, (torch.randn(2, *shape),), ["x"], ["tokens"], tmp_path / "enc.onnx", dynamo)
    x = torch.randn(3, *shape)
    with torch.no_grad():
        want = enc(x).numpy()
    got = sess.run(None, {"x": x.numpy()})[0]
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 1e-4


def test_predictor_onnx_matches_torch(tmp_path):
    torch.manual_seed(0)
    enc_cfg = build_encoder("vit_nano", img_size=32, patch_size=8, num_frames=4, pos="rope", depth=1).cfg  # 2x4x4
    pred = build_predictor(enc_cfg, depth=2, predictor_embed_dim=64, num_heads=2).eval()
    with torch.no_grad():
        pred.mask_tokens.normal_()  # zero-initialized: make the token matter
    g = torch.Generator().manual_seed(0)

    def inputs(b):
        perm = torch.stack([torch.randperm(32, generator=g) for _ in range(b)])
        return torch.randn(b, 20, 128, generator=g), perm[:, :20], perm[:, 20:28]

    sess = _export(pred, inputs(2), ["ctx_tokens", "ctx_idx", "tgt_idx"], ["pred"], tmp_path / "pred.onnx")
    ctx, ci, ti = inputs(3)
    with torch.no_grad():
        want = pred(ctx, ci, ti).numpy()
    got = sess.run(None, {"ctx_tokens": ctx.numpy(), "ctx_idx": ci.numpy(), "tgt_idx": ti.numpy()})[0]
    assert np.abs(got - want).max() < 1e-4

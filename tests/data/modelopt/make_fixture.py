"""Regenerate modelopt_vit_micro_int8.onnx (see README.md here). Needs the [modelopt] extra; CPU only.

    python tests/data/modelopt/make_fixture.py
"""
from pathlib import Path

import numpy as np
import onnx
import torch

from jepa_edge.models.registry import build_encoder
from jepa_edge.quant.onnx_export import encoder_io, export_onnx

HERE = Path(__file__).resolve().parent


def main():
    from modelopt.onnx.quantization import quantize

    torch.manual_seed(0)
    model = build_encoder("vit_nano/8", img_size=16, depth=1, embed_dim=32, num_heads=2).eval()
    fp32 = HERE / "vit_micro_fp32.tmp.onnx"
    export_onnx(model, encoder_io(model.cfg), fp32, dynamic_batch=True, max_batch=4)
    calib = np.random.default_rng(0).standard_normal((16, 3, 16, 16)).astype(np.float32)
    out = HERE / "modelopt_vit_micro_int8.onnx"
    quantize(str(fp32), quantize_mode="int8", calibration_data={"pixels": calib}, calibration_method="max",
             calibration_eps=["cpu"], calibration_shapes="pixels:1x3x16x16", high_precision_dtype="fp16",
             output_path=str(out), log_level="ERROR")
    for p in HERE.glob("vit_micro_fp32*"):
        p.unlink()
    m = onnx.load(str(out))
    print(out, out.stat().st_size, "bytes, opset", [o.version for o in m.opset_import])


if __name__ == "__main__":
    main()

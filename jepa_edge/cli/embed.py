"""`jepa-edge embed MODEL_DIR --input X.npy --output Z.npy`: encoder tokens for an array of inputs.

The input must already be preprocessed (float32, the model's size and normalization); the output is
the encoder's tokens [B, N, D] in float32, computed with torch in batches of --batch-size.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from jepa_edge.cli import _output
from jepa_edge.errors import DataError


def add_arguments(p):
    p.add_argument("model_dir", help="model dir (config.json + model.safetensors)")
    p.add_argument("--trust-unverified", action="store_true",
                   help="load a model dir whose config.json carries no hashes (hand-made, older jepa-edge) unchecked")
    p.add_argument("--input", required=True, help="float32 .npy [B,C,H,W] or [B,C,T,H,W], already normalized")
    p.add_argument("--output", required=True, help=".npy to write: tokens [B, N, D] (float32)")
    p.add_argument("--batch-size", type=int, default=8, help="inputs per forward pass (default 8)")


def load_inputs(path, want: tuple[int, ...]) -> np.ndarray:
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{path}: cannot read as .npy ({e})") from None
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"{path}: dtype {x.dtype}; expected normalized float32 input (not raw {x.dtype} pixels)")
    if x.ndim != len(want) + 1 or tuple(x.shape[1:]) != want:
        raise DataError(f"{path}: shape {list(x.shape)}; this model takes [B, {', '.join(map(str, want))}]")
    if x.shape[0] == 0:
        raise DataError(f"{path}: empty batch")
    if not np.isfinite(x).all():
        raise DataError(f"{path}: contains NaN or inf")
    return x.astype(np.float32, copy=False)


def run(args) -> int:
    import torch

    from jepa_edge.models.model_dir import load_model_dir
    from jepa_edge.utils.files import atomic_path

    bundle = load_model_dir(args.model_dir, trust_unverified=args.trust_unverified)
    want = tuple(bundle.config["input"]["shape"])
    x = load_inputs(args.input, want)
    outs = []
    with torch.inference_mode(), _output.progress(transient=True) as progress:
        task = progress.add_task("embedding", total=len(x))
        for i in range(0, len(x), max(1, args.batch_size)):
            chunk = torch.from_numpy(np.ascontiguousarray(x[i : i + args.batch_size]))
            outs.append(bundle.encoder(chunk).numpy())
            progress.advance(task, len(chunk))
    z = np.concatenate(outs).astype(np.float32)
    with atomic_path(Path(args.output)) as tmp, open(tmp, "wb") as f:
        np.save(f, z)
    print(f"wrote {args.output}: tokens {list(z.shape)}")
    return 0

"""PyTorch -> ONNX, with FP32 parity checked before anything else touches the graph.

Exporter: torch's dynamo exporter (`torch.onnx.export(..., dynamo=True)`), opset 18, chosen on
purpose: it is torch's default since 2.9 and the TorchScript exporter is deprecated; its graphs
have no Constant/Cast soup (the quantizers see one MatMul per Linear and one LayerNormalization
per norm, which ORT, OpenVINO and TensorRT all fuse); 18 is the lowest opset it emits and
TensorRT 10.3 (JetPack 6) parses it. Each node keeps the torch module path it came from
(`pkg.torch.onnx.name_scopes`), which the accuracy gate uses to name sensitive layers.

Users report ViT accuracy lost at export before any quantization; so `check_parity` runs the
ONNX in ONNX Runtime against torch on real inputs and refuses to continue if they disagree.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jepa_edge.errors import JepaEdgeError
from jepa_edge.inference.session import TensorSpec

EXPORTER = "dynamo"
OPSET = 18


class ParityError(JepaEdgeError):
    """The exported graph does not compute what the torch model computes."""


@dataclass(frozen=True)
class PartIO:
    """Names and shapes of one exportable part (batch axis first, "batch" when dynamic)."""
    part: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]

    def example(self, batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        return {s.name: rng.standard_normal((_batch_of(s, batch), *s.shape[1:])).astype(np.float32) for s in self.inputs}

    def with_batch(self, batch: int | str) -> "PartIO":
        """The same io with its batch axes ("batch") fixed; an input of static batch 1 (a shared frame) stays 1."""
        fix = lambda specs: [TensorSpec(s.name, (_batch_of(s, batch), *s.shape[1:]), s.dtype) for s in specs]  # noqa: E731
        return PartIO(self.part, fix(self.inputs), fix(self.outputs))


def _batch_of(spec: TensorSpec, batch: int | str) -> int | str:
    return batch if isinstance(spec.shape[0], str) else spec.shape[0]


def encoder_io(cfg, batch: int | str = "batch") -> PartIO:
    """cfg: EncoderConfig. Images [B, C, H, W], clips [B, C, T, H, W] -> tokens [B, N, D]."""
    s = cfg.img_size
    shape = (cfg.in_chans, cfg.num_frames, s, s) if cfg.is_video else (cfg.in_chans, s, s)
    return PartIO("encoder", [TensorSpec("pixels", (batch, *shape))],
                  [TensorSpec("tokens", (batch, cfg.num_patches, cfg.embed_dim))])


def ac_predictor_io(cfg, frames: int, batch: int | str = "batch", shared_frame: bool = False) -> PartIO:
    """cfg: ACPredictorConfig. tokens [B, T*HW, D], actions [B, T, A], states [B, T, S] -> next_tokens [B, T*HW, D].
    shared_frame: tokens [1, HW, D], the one frame every sample plans from (ActionConditionedPredictor.forward_shared_frame)."""
    n = frames * cfg.tokens_per_frame
    ins = [TensorSpec("tokens", (1 if shared_frame else batch, n, cfg.embed_dim)),
           TensorSpec("actions", (batch, frames, cfg.action_dim)),
           TensorSpec("states", (batch, frames, cfg.state_dim))]
    if cfg.extrinsics_dim:
        ins.append(TensorSpec("extrinsics", (batch, frames, cfg.extrinsics_dim)))
    return PartIO("ac_predictor", ins, [TensorSpec("next_tokens", (batch, n, cfg.embed_dim))])


@contextlib.contextmanager
def _quiet_exporter():
    """The dynamo exporter narrates every step on stdout and warns about torchvision; keep our output clean."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.onnx._internal.exporter._registration", "torch.export")]
    old = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, old):
            lg.setLevel(lv)


def export_onnx(module, io_spec: PartIO, path: str | os.PathLike, *, dynamic_batch: bool = True,
                max_batch: int = 64, example_batch: int = 2) -> Path:
    """Export `module` (already in eval mode, fp32, on CPU) to `path` with the dynamo exporter."""
    import onnx
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_size(module, io_spec.part)
    module = module.eval().float().cpu()
    example = {k: torch.from_numpy(v) for k, v in io_spec.example(example_batch).items()}
    args = tuple(example[s.name] for s in io_spec.inputs)
    dyn = None
    if dynamic_batch:
        b = torch.export.Dim("batch", min=1, max=max(max_batch, example_batch))
        dyn = tuple({0: b} if isinstance(s.shape[0], str) else {} for s in io_spec.inputs)
    with _quiet_exporter(), torch.inference_mode(False), torch.no_grad():
        program = torch.onnx.export(
            module, args, None, dynamo=True, opset_version=OPSET, input_names=[s.name for s in io_spec.inputs],
            output_names=[s.name for s in io_spec.outputs], dynamic_shapes=dyn, optimize=True, verbose=False)
    with _quiet_exporter():
        program.save(str(path), external_data=False)
    onnx.checker.check_model(str(path))
    return path


MAX_WEIGHT_BYTES = 1_900_000_000  # protobuf's 2 GB limit for a single-file ONNX


def check_size(module, part: str) -> None:
    """Refuse, before exporting, a part whose fp32 weights do not fit a single-file ONNX (every
    backend here copies, quantizes and hashes one file). Distilled students are far below it."""
    from jepa_edge.errors import ConfigError

    n = sum(p.numel() for p in module.parameters()) + sum(b.numel() for b in module.buffers())
    if 4 * n > MAX_WEIGHT_BYTES:
        raise ConfigError(f"the {part} has {n / 1e6:.0f}M parameters ({4 * n / 2**30:.1f} GiB in fp32): bundles are "
                          f"single-file ONNX (< 2 GB); export a distilled student instead")


@dataclass(frozen=True)
class Parity:
    max_abs: float
    rel: float          # max |onnx - torch| / max |torch|
    cos_min: float      # worst per-token cosine
    ok: bool

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def token_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-token cosine similarity along the last axis, flattened: [n_tokens]."""
    a = a.reshape(-1, a.shape[-1]).astype(np.float64)
    b = b.reshape(-1, b.shape[-1]).astype(np.float64)
    num = (a * b).sum(-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return num / np.maximum(den, 1e-12)


def check_parity(module, onnx_path: str | os.PathLike, inputs: dict[str, np.ndarray], *, rel_tol: float = 1e-3,
                 cos_tol: float = 0.9999, raise_on_fail: bool = True) -> Parity:
    """Run torch and the exported ONNX (ONNX Runtime, CPU, fp32) on `inputs` and compare."""
    import torch

    from jepa_edge.inference.ort_session import OrtSession

    sess = OrtSession(onnx_path)
    names = [s.name for s in sess.inputs]
    # A graph with an input of static batch 1 (a shared frame) takes the samples one at a time.
    count = len(inputs[names[0]])
    calls = [{n: inputs[n][i:i + 1] for n in names} for i in range(count)] \
        if any(s.shape[0] == 1 for s in sess.inputs) else [inputs]
    with torch.inference_mode():
        refs = [module(*[torch.from_numpy(c[n]) for n in names]) for c in calls]
    ref = np.concatenate([(r[0] if isinstance(r, (tuple, list)) else r).float().numpy() for r in refs])
    got = np.concatenate([sess.run(c)[sess.outputs[0].name] for c in calls])
    if got.shape != ref.shape:
        raise ParityError(f"ONNX output shape {got.shape} != torch {ref.shape} for {onnx_path}")
    max_abs = float(np.abs(got - ref).max())
    rel = max_abs / max(float(np.abs(ref).max()), 1e-12)
    cos_min = float(token_cosine(got, ref).min())
    p = Parity(max_abs, rel, cos_min, rel <= rel_tol and cos_min >= cos_tol)
    if raise_on_fail and not p.ok:
        raise ParityError(f"FP32 ONNX export disagrees with torch before any quantization "
                          f"(max abs {max_abs:.3g}, rel {rel:.3g}, worst token cosine {cos_min:.6f}); "
                          f"this is an exporter problem, not a quantization one: report it with the model config")
    return p

"""The AC predictor exports to ONNX (dynamo exporter, opset 18) with a dynamic batch axis, so a
planner can score any number of candidate action sequences in one session call."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import torch

from jepa_edge.models.ac_predictor import ACPredictorConfig, ActionConditionedPredictor

NAMES = ["tokens", "actions", "states"]


def test_onnx_export_matches_torch_with_dynamic_batch(tmp_path):
    torch.set_num_threads(2)
    torch.manual_seed(0)
    cfg = ACPredictorConfig(embed_dim=24, predictor_embed_dim=32, depth=2, num_heads=2, img_size=32,
                            action_dim=3, state_dim=4, max_frames=4)
    model = ActionConditionedPredictor(cfg).eval()
    T, n = 3, cfg.tokens_per_frame

    def inputs(batch):
        return (torch.randn(batch, T * n, 24), torch.randn(batch, T, 3), torch.randn(batch, T, 4))

    batch = torch.export.Dim("batch")
    path = tmp_path / "ac_predictor.onnx"
    torch.onnx.export(
        model, inputs(2), str(path), input_names=NAMES, output_names=["predicted"], dynamo=True,
        opset_version=18, dynamic_shapes={name: {0: batch} for name in NAMES},
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.shape[0] for i in session.get_inputs()] == ["batch"] * 3  # symbolic, not 2
    for b in (1, 7):  # neither is the batch it was exported with
        x = inputs(b)
        got = session.run(None, {k: v.numpy() for k, v in zip(NAMES, x)})[0]
        with torch.no_grad():
            ref = model(*x).numpy()
        assert got.shape == ref.shape == (b, T * n, 24)
        assert np.abs(got - ref).max() < 1e-4

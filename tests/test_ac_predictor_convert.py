"""A V-JEPA 2-AC file through the public path: `jepa-edge convert --format vjepa2-ac` -> model dir
with encoder AND ac_predictor -> `jepa_edge.load_model_dir(dir)` reproduces the official outputs."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import jepa_edge
from jepa_edge.checkpoints.vjepa2_ac import convert_vjepa2_ac
from jepa_edge.cli import main
from jepa_edge.errors import CheckpointError

DATA = Path(__file__).parent / "data" / "parity_ac"
torch.set_num_threads(2)


def _rel_err(y, ref):
    return ((y - ref).norm() / ref.norm()).item()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    dst = tmp_path_factory.mktemp("ac") / "model"
    rc = main(["convert", str(DATA / "vjepa2_ac_tiny.pt"), str(dst), "--format", "vjepa2-ac",
               "--heads", "2", "--predictor-heads", "2", "--img-size", "64"])
    assert rc == 0
    return dst


def test_convert_cli_then_load_matches_official(model_dir):
    bundle = jepa_edge.load_model_dir(model_dir)
    assert bundle.encoder is not None and bundle.ac_predictor is not None and bundle.predictor is None
    assert bundle.config["source"]["dropped_unused"] == [
        "ac_predictor.extrinsics_encoder.weight", "ac_predictor.extrinsics_encoder.bias"]
    io = load_file(DATA / "case_a_io.safetensors")
    with torch.no_grad():
        y = bundle.ac_predictor(io["tokens"], io["actions"], io["states"])
    assert _rel_err(y, io["predicted"]) < 1e-4

    # encoder + predictor as the official AC pipeline runs them: every frame a 2-frame tubelet
    frames = io["frames"]  # [B, C, T, H, W]
    B, _, T, _, _ = frames.shape
    assert bundle.encoder.cfg.num_frames == 2  # the model dir's encoder input is one camera frame
    clip = frames.permute(0, 2, 1, 3, 4).flatten(0, 1).unsqueeze(2).repeat(1, 1, 2, 1, 1)  # [B*T, C, 2, H, W]
    with torch.no_grad():
        h = bundle.encoder(clip).view(B, T, -1, bundle.encoder.cfg.embed_dim).flatten(1, 2)  # [B, T*HW, D]
        h = F.layer_norm(h, (h.size(-1),))
        y = bundle.ac_predictor(h, io["frame_actions"], io["frame_states"])
    assert _rel_err(h, io["frame_tokens"]) < 1e-4
    assert _rel_err(y, io["frames_predicted"]) < 1e-4


def test_ac_file_without_predictor_or_with_wrong_width_is_refused():
    ckpt = torch.load(DATA / "vjepa2_ac_tiny.pt", map_location="cpu", weights_only=True)
    with pytest.raises(CheckpointError, match="no 'predictor' state dict"):
        convert_vjepa2_ac({"encoder": ckpt["encoder"]}, heads=2, img_size=64)
    config, state = convert_vjepa2_ac({"encoder": ckpt["encoder"]}, heads=2, img_size=64, encoder_only=True)
    assert "ac_predictor" not in config and all(k.startswith("encoder.") for k in state)

    pred = dict(ckpt["predictor"])
    pred["module.backbone.predictor_embed.weight"] = torch.zeros(64, 48)  # reads 48-wide tokens
    pred["module.backbone.predictor_proj.weight"] = torch.zeros(48, 64)
    pred["module.backbone.predictor_proj.bias"] = torch.zeros(48)
    with pytest.raises(CheckpointError, match="reads 48-wide tokens but the encoder is 32 wide"):
        convert_vjepa2_ac({"encoder": ckpt["encoder"], "predictor": pred}, heads=2, predictor_heads=2, img_size=64)

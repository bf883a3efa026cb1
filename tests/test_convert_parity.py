"""Official checkpoints (tests/data/parity, made by the official code) -> `jepa-edge convert` ->
`jepa_edge.load_model_dir` / `jepa-edge embed` reproduce the official outputs (relative error < 1e-4)."""
from pathlib import Path

import numpy as np
import pytest
import torch

import jepa_edge
from jepa_edge.cli import main
from jepa_edge.models.pos_embed import sincos_2d, sincos_3d

torch.set_num_threads(1)
DATA = Path(__file__).parent / "data" / "parity"
# case -> (format, flags the weights cannot decide; see tests/data/parity/README.md)
CASES = {
    "ijepa_tiny": ("ijepa", ["--heads", "2"]),
    "vjepa_tiny": ("vjepa", ["--heads", "2", "--img-size", "32"]),
    "vjepa2_tiny": ("vjepa2", ["--heads", "2", "--img-size", "32", "--frames", "4", "--predictor-heads", "2"]),
}


def rel_err(got, want) -> float:
    return float(np.abs(np.asarray(got) - want).max() / np.abs(want).max())


def convert(case, dst, *extra):
    fmt, flags = CASES[case]
    assert main(["convert", str(DATA / f"{case}.pth.tar"), str(dst), "--format", fmt, *flags, *extra]) == 0
    return dst


@pytest.mark.parametrize("case", list(CASES))
def test_embed_cli_reproduces_official_target_encoder(case, tmp_path):
    model = convert(case, tmp_path / "model")  # default sub-dict: target_encoder
    out = tmp_path / "z.npy"
    assert main(["embed", str(model), "--input", str(DATA / f"{case}_input.npy"), "--output", str(out)]) == 0
    want = np.load(DATA / f"{case}_expected.npz")["tokens"]
    got = np.load(out)
    assert got.shape == want.shape and got.dtype == np.float32
    assert rel_err(got, want) < 1e-4


@pytest.mark.parametrize("case", list(CASES))
def test_masked_encoder_and_predictor_reproduce_official(case, tmp_path):
    bundle = jepa_edge.load_model_dir(convert(case, tmp_path / "model", "--key", "encoder"))
    exp = np.load(DATA / f"{case}_expected.npz")
    x = torch.from_numpy(np.load(DATA / f"{case}_input.npy"))
    ctx, tgt = torch.from_numpy(exp["ctx_idx"]), torch.from_numpy(exp["tgt_idx"])
    with torch.no_grad():
        ctx_tokens = bundle.encoder.forward_features(x, ctx)
        pred = bundle.predictor(ctx_tokens, ctx, tgt, mask_index=int(exp["mask_index"]))
    assert rel_err(ctx_tokens, exp["ctx_tokens"]) < 1e-4
    assert rel_err(pred, exp["pred"]) < 1e-4


def test_default_sub_dict_is_target_encoder_and_source_is_recorded(tmp_path):
    bundle = jepa_edge.load_model_dir(convert("vjepa2_tiny", tmp_path / "m"))
    src = bundle.config["source"]
    assert src["encoder_key"] == "target_encoder" and src["epoch"] == 3
    # exactly the known V-JEPA 2 leftovers were dropped, and said so
    assert src["dropped_unused"] == ["pos_embed", "predictor.predictor_pos_embed"]
    cfg = bundle.encoder_cfg
    assert (cfg.pos, cfg.num_frames, cfg.tubelet_size, cfg.patch_size, cfg.embed_dim) == ("rope", 4, 2, 8, 32)
    assert bundle.predictor.cfg.num_mask_tokens == 10


def test_our_sincos_tables_equal_the_official_ones():
    ij = torch.load(DATA / "ijepa_tiny.pth.tar", weights_only=True)["encoder"]["module.pos_embed"][0]
    torch.testing.assert_close(sincos_2d(24, 4, 4, order="wh"), ij)  # I-JEPA: column half first
    vj = torch.load(DATA / "vjepa_tiny.pth.tar", weights_only=True)["encoder"]["module.backbone.pos_embed"][0]
    torch.testing.assert_close(sincos_3d(24, 2, 4, 4, uniform_power=True), vj)

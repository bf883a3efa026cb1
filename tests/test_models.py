"""Encoder / predictor shapes, masking, intermediates, configs, registry, FLOPs."""
import pytest
import torch

from jepa_edge.errors import ConfigError
from jepa_edge.models import (
    ARCHS, EncoderConfig, PredictorConfig, build_encoder, build_predictor, count_params, encoder_config, encoder_macs,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def image_encoder():
    torch.manual_seed(0)
    return build_encoder("vit_nano", img_size=64, depth=2).eval()


@pytest.fixture(scope="module")
def video_encoder():
    torch.manual_seed(0)
    return build_encoder("vit_nano", img_size=32, num_frames=4, pos="rope", depth=2).eval()


def test_image_and_video_token_shapes(image_encoder, video_encoder):
    assert image_encoder(torch.randn(2, 3, 64, 64)).shape == (2, 16, 128)
    assert video_encoder.cfg.grid == (2, 2, 2)
    assert video_encoder(torch.randn(2, 3, 4, 32, 32)).shape == (2, 8, 128)


def test_wrong_input_shape_is_refused(image_encoder):
    with pytest.raises(ValueError, match=r"\[B, 3, 64, 64\]"):
        image_encoder(torch.randn(1, 3, 32, 32))


@pytest.mark.parametrize("which", ["image_encoder", "video_encoder"])
def test_masked_forward_equals_full_forward_on_the_kept_tokens_when_nothing_is_dropped(which, request):
    enc = request.getfixturevalue(which)
    shape = (2, 3, 64, 64) if which == "image_encoder" else (2, 3, 4, 32, 32)
    x = torch.randn(shape)
    n = enc.cfg.num_patches
    perm = torch.stack([torch.randperm(n), torch.randperm(n)])  # every token, shuffled differently per sample
    with torch.no_grad():
        full = enc(x)
        masked = enc.forward_features(x, perm)
    expected = torch.gather(full, 1, perm.unsqueeze(-1).expand(-1, -1, full.shape[-1]))
    torch.testing.assert_close(masked, expected, atol=1e-5, rtol=1e-5)


def test_masked_forward_depends_on_the_kept_positions(video_encoder):
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        a = video_encoder.forward_features(x, torch.tensor([[0, 1, 2]]))
        b = video_encoder.forward_features(x, torch.tensor([[0, 1, 7]]))
    assert not torch.allclose(a[:, :2], b[:, :2])  # RoPE: attention sees where token 3 sits


def test_intermediates_last_equals_forward(image_encoder):
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        outs = image_encoder.forward_intermediates(x, [0, -1])
        torch.testing.assert_close(outs[-1], image_encoder(x))
    assert len(outs) == 2
    with pytest.raises(ValueError):
        image_encoder.forward_intermediates(x, [5])


@pytest.mark.parametrize("pos", ["sincos", "rope"])
def test_predictor_shapes_and_blocks(pos):
    enc_cfg = encoder_config("vit_nano", img_size=32, num_frames=4, pos=pos)
    pred = build_predictor(enc_cfg, depth=1, predictor_embed_dim=64, out_dim=96).eval()
    ctx = torch.randn(2, 5, 128)
    ctx_idx = torch.tensor([[0, 1, 2, 3, 4]] * 2)
    tgt_idx = torch.tensor([[5, 6], [6, 7]])
    assert pred(ctx, ctx_idx, tgt_idx).shape == (2, 2, 96)
    blocks = torch.stack([tgt_idx, tgt_idx.flip(1)], dim=1)  # [B, 2 blocks, 2]
    out = pred(ctx, ctx_idx, blocks)
    assert out.shape == (2, 2, 2, 96)
    torch.testing.assert_close(out[:, 0], pred(ctx, ctx_idx, tgt_idx), atol=1e-5, rtol=1e-5)


def test_config_round_trip_and_unknown_keys():
    cfg = encoder_config("vit_small/8", img_size=96)
    assert cfg.patch_size == 8 and cfg.grid == (1, 12, 12) and cfg.num_patches == 144
    assert EncoderConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="bogus"):
        EncoderConfig.from_dict({**cfg.to_dict(), "bogus": 1})
    pc = PredictorConfig(embed_dim=384)
    assert PredictorConfig.from_dict(pc.to_dict()) == pc and pc.output_dim == 384
    with pytest.raises(ConfigError):
        encoder_config("vit_enormous")
    with pytest.raises(ConfigError):
        encoder_config("vit_small", img_size=100)


def test_vit_small_macs_and_params():
    assert abs(encoder_macs(encoder_config("vit_small/16", img_size=224)) / 4.6e9 - 1) < 0.05
    with torch.device("meta"):
        enc = build_encoder("vit_small")
    assert 21.5e6 < count_params(enc) < 22.5e6  # ViT-S/16: ~22M


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("pos", ["sincos", "rope"])
def test_every_size_builds(arch, pos):
    dim, depth, heads = ARCHS[arch]
    with torch.device("meta"):  # the giants would take GBs and seconds to build for real
        enc = build_encoder(arch, pos=pos, num_frames=16 if pos == "rope" else 1)
        pred = build_predictor(enc.cfg)
    assert enc.cfg.embed_dim == dim and len(enc.blocks) == depth and enc.blocks[0].attn.num_heads == heads
    assert pred.cfg.embed_dim == dim and pred.proj.out_features == dim
    if arch.startswith("vit_giant"):
        assert enc.blocks[0].mlp.fc1.out_features == 6144


def test_input_blur_is_a_normalized_gaussian_low_pass_that_survives_a_model_dir(tmp_path):
    from jepa_edge.models.model_dir import ModelDir, load_model_dir, save_model_dir

    torch.manual_seed(0)
    enc = build_encoder("vit_nano", img_size=32, patch_size=8, num_frames=4, depth=1, input_blur=1.5).eval()
    blur = enc.patch_embed.blur
    flat = torch.full((1, 3, 4, 32, 32), 0.7)
    assert torch.allclose(blur(flat), flat, atol=1e-6)  # taps sum to 1, edges reflected: no darkening at the border
    dot = torch.zeros(1, 3, 32, 32)
    dot[..., 16, 16] = 1.0
    out = blur(dot)[0, 0]
    assert abs(float(out.sum()) - 1) < 1e-5
    r2 = (torch.arange(32.0) - 16) ** 2
    assert abs(float((out.sum(0) * r2).sum()) - 1.5 ** 2) < 0.05  # its variance along x is sigma^2
    x = torch.randn(2, 3, 4, 32, 32)
    sharp = build_encoder("vit_nano", img_size=32, patch_size=8, num_frames=4, depth=1).eval()
    sharp.load_state_dict(enc.state_dict())  # the taps are not weights: the same state dict fits both
    with torch.no_grad():
        assert torch.allclose(enc(x), sharp(blur(x)), atol=1e-5)
        assert not torch.allclose(enc(x), sharp(x), atol=1e-3)
    save_model_dir(tmp_path / "m", ModelDir(config={}, encoder=enc))
    back = load_model_dir(tmp_path / "m").encoder  # built on the meta device: the taps are rebuilt
    assert back.cfg.input_blur == 1.5
    with torch.no_grad():
        assert torch.allclose(back(x), enc(x), atol=1e-6)


def test_input_blur_config_is_checked_and_optional():
    d = encoder_config("vit_nano", img_size=32, patch_size=8).to_dict()
    del d["input_blur"]  # written before the field existed
    assert EncoderConfig.from_dict(d).input_blur == 0.0
    with pytest.raises(ConfigError, match="input_blur"):
        encoder_config("vit_nano", img_size=32, patch_size=8, input_blur=-1)
    with pytest.raises(ConfigError, match="img_size / 8"):
        encoder_config("vit_nano", img_size=32, patch_size=8, input_blur=5)

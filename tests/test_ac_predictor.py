"""V-JEPA 2-AC action-conditioned predictor: official parity, masks, strict conversion, sizes.

Parity data in tests/data/parity_ac/ were produced by the official facebookresearch/vjepa2 code
(see the README there); nothing of that code is in this repo.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from jepa_edge.checkpoints.vjepa2_ac import convert_ac_predictor_state
from jepa_edge.errors import CheckpointError, ConfigError, DataError
from jepa_edge.models.ac_predictor import ACPredictorConfig, ActionConditionedPredictor
from jepa_edge.models.flops import count_params

DATA = Path(__file__).parent / "data" / "parity_ac"
torch.set_num_threads(2)


def _rel_err(y, ref):
    return ((y - ref).norm() / ref.norm()).item()


def _official(name):
    return torch.load(DATA / name, map_location="cpu", weights_only=True)


def _build(cfg_dict, state):
    model = ActionConditionedPredictor(ACPredictorConfig.from_dict(cfg_dict)).eval()
    model.load_state_dict(state, strict=True)
    return model


def _tiny(**over):
    kw = dict(embed_dim=24, predictor_embed_dim=32, depth=2, num_heads=2, img_size=32, patch_size=16,
              action_dim=3, state_dim=4, max_frames=4)
    kw.update(over)
    return ActionConditionedPredictor(ACPredictorConfig(**kw)).eval()


def _inputs(model, B=2, T=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    c = model.cfg
    return (torch.randn(B, T * c.tokens_per_frame, c.embed_dim, generator=g),
            torch.randn(B, T, c.action_dim, generator=g), torch.randn(B, T, c.state_dim, generator=g))


# ---------------------------------------------------------------- parity with the official code

def test_parity_with_official_predictor():
    cfg, state = convert_ac_predictor_state(_official("vjepa2_ac_tiny.pt")["predictor"],
                                            predictor_heads=2, img_size=64, max_frames=4)
    inferred = (cfg["depth"], cfg["predictor_embed_dim"], cfg["embed_dim"], cfg["action_dim"], cfg["state_dim"])
    assert inferred == (2, 64, 32, 7, 7)
    assert cfg["extrinsics_dim"] == 0 and not any(k.startswith("extrinsics") for k in state)
    model = _build(cfg, state)
    io = load_file(DATA / "case_a_io.safetensors")
    with torch.no_grad():
        y = model(io["tokens"], io["actions"], io["states"])
    assert y.shape == io["predicted"].shape
    assert _rel_err(y, io["predicted"]) < 1e-4


def test_parity_with_official_predictor_extrinsics_and_64_wide_heads():
    # default heads: 64-wide, as the released model -> 1 head here; head dim 64 = 3 x 20 rotated + 4 not
    cfg, state = convert_ac_predictor_state(_official("vjepa2_ac_extrinsics.pt")["predictor"],
                                            img_size=64, max_frames=4, use_extrinsics=True)
    assert (cfg["num_heads"], cfg["extrinsics_dim"], cfg["action_dim"]) == (1, 4, 5)
    model = _build(cfg, state)
    io = load_file(DATA / "case_b_io.safetensors")
    with torch.no_grad():
        y = model(io["tokens"], io["actions"], io["states"], io["extrinsics"])
    assert _rel_err(y, io["predicted"]) < 1e-4


# ---------------------------------------------------------------- behaviour

def test_block_causal_future_does_not_leak_into_past():
    model = _tiny()
    tokens, actions, states = _inputs(model, T=3)
    n = model.cfg.tokens_per_frame
    with torch.no_grad():
        y = model(tokens, actions, states)
        t2, a2, s2 = tokens.clone(), actions.clone(), states.clone()
        t2[:, 2 * n:] += 1.0
        a2[:, 2] += 1.0
        s2[:, 2] -= 1.0
        y2 = model(t2, a2, s2)
        a1 = actions.clone()
        a1[:, 0] += 1.0
        y1 = model(tokens, a1, states)
    torch.testing.assert_close(y2[:, : 2 * n], y[:, : 2 * n], rtol=0, atol=1e-6)  # frames 0, 1 unchanged
    assert (y2[:, 2 * n:] - y[:, 2 * n:]).abs().max() > 1e-3
    assert (y1[:, :n] - y[:, :n]).abs().max() > 1e-3  # frame 0's action conditions frame 0's prediction


def test_fewer_frames_is_a_prefix_and_batch_rows_are_independent():
    model = _tiny()
    tokens, actions, states = _inputs(model, B=4, T=3)
    n = model.cfg.tokens_per_frame
    with torch.no_grad():
        y = model(tokens, actions, states)
        y_short = model(tokens[:, : 2 * n], actions[:, :2], states[:, :2])
        y_one = model(tokens[2:3], actions[2:3], states[2:3])
        nxt = model.predict_next(tokens, actions, states)
    torch.testing.assert_close(y_short, y[:, : 2 * n], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y_one, y[2:3], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(nxt, y[:, -n:])


@pytest.mark.parametrize("kw", [dict(depth=1), dict(depth=3, extrinsics_dim=3, mlp="swiglu"),
                                dict(depth=2, use_rope=False)])
def test_shared_frame_forward_equals_forward_on_the_repeated_frame(kw):
    """The planner's graph: one frame for every sample, the first block's frame work done once,
    its softmax split exactly. Same numbers as the plain forward on the frame repeated B times."""
    torch.manual_seed(0)
    cfg = ACPredictorConfig(embed_dim=32, predictor_embed_dim=48, num_heads=4, action_dim=2, state_dim=4,
                            img_size=32, patch_size=8, max_frames=4, **kw)
    model = ActionConditionedPredictor(cfg).eval()
    B = 5
    frame, actions, states = torch.randn(1, cfg.tokens_per_frame, 32), torch.randn(B, 1, 2), torch.randn(B, 1, 4)
    extrinsics = torch.randn(B, 1, 3) if cfg.extrinsics_dim else None
    with torch.no_grad():
        want = model(frame.expand(B, -1, -1), actions, states, extrinsics)
        got = model.forward_shared_frame(frame, actions, states, extrinsics)
        assert not torch.allclose(got[0], got[1])  # the samples differ: the actions reach every token
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        frame = frame * 100  # large logits: the split softmax stays stable (joint max)
        torch.testing.assert_close(model.forward_shared_frame(frame, actions, states, extrinsics),
                                   model(frame.expand(B, -1, -1), actions, states, extrinsics), rtol=1e-4, atol=1e-4)
    with pytest.raises(DataError, match="one frame for every sample"):
        model.forward_shared_frame(frame.expand(2, -1, -1), actions[:2], states[:2], extrinsics)


def test_bad_inputs_are_data_errors():
    model = _tiny()
    tokens, actions, states = _inputs(model, T=2)
    with pytest.raises(DataError, match="tokens must be"):
        model(tokens[:, :-1], actions, states)
    with pytest.raises(DataError, match="actions must be"):
        model(tokens, actions[:, :1], states)
    with pytest.raises(DataError, match="states must be"):
        model(tokens, actions, states[..., :2])
    with pytest.raises(DataError, match="at most 4"):
        n = model.cfg.tokens_per_frame
        model(tokens.repeat(1, 3, 1), actions.repeat(1, 3, 1), states.repeat(1, 3, 1))
    with pytest.raises(DataError, match="no extrinsics"):
        model(tokens, actions, states, torch.zeros(2, 2, 6))


def test_config_round_trip_and_unknown_keys():
    cfg = ACPredictorConfig(embed_dim=1408, mlp="swiglu")
    assert ACPredictorConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.num_heads == 16 and cfg.head_dim == 64 and cfg.cond_tokens == 2 and cfg.tokens_per_frame == 256
    with pytest.raises(ConfigError, match="unknown keys"):
        ACPredictorConfig.from_dict({**cfg.to_dict(), "pred_depth": 3})
    with pytest.raises(ConfigError, match="divisible"):
        ACPredictorConfig(embed_dim=8, predictor_embed_dim=100, num_heads=3)


def test_official_size_builds_on_meta():
    # The released V-JEPA 2-AC predictor: ViT-g tokens (1408), 24 layers, 1024 wide, 16 heads, ~300M.
    with torch.device("meta"):
        model = ActionConditionedPredictor(ACPredictorConfig(embed_dim=1408))
    n = count_params(model)
    assert 290e6 < n < 320e6, n
    assert len(model.blocks) == 24 and model.blocks[0].attn.num_heads == 16


# ---------------------------------------------------------------- strict conversion

def _official_pred_sd():
    return dict(_official("vjepa2_ac_tiny.pt")["predictor"])


def test_missing_block_is_refused_naming_keys():
    sd = {k: v for k, v in _official_pred_sd().items() if ".predictor_blocks.0." not in k}
    with pytest.raises(CheckpointError, match=r"missing keys \(12\): .*predictor_blocks\.0\.attn\.proj\.bias"):
        convert_ac_predictor_state(sd, predictor_heads=2, img_size=64)


def test_wrong_depth_is_refused_naming_keys():
    with pytest.raises(CheckpointError, match=r"2 blocks, expected 1; extra keys: .*predictor_blocks\.1\.attn"):
        convert_ac_predictor_state(_official_pred_sd(), depth=1, predictor_heads=2, img_size=64)
    with pytest.raises(CheckpointError, match=r"2 blocks, expected 3; missing blocks \[2\]"):
        convert_ac_predictor_state(_official_pred_sd(), depth=3, predictor_heads=2, img_size=64)


def test_extra_keys_are_refused_naming_keys():
    sd = _official_pred_sd()
    sd["module.backbone.predictor_blocks.1.attn.q_norm.weight"] = torch.ones(32)
    sd["module.backbone.mask_tokens.0"] = torch.zeros(1, 1, 64)
    with pytest.raises(CheckpointError, match=r"unexpected keys \(2\)") as err:
        convert_ac_predictor_state(sd, predictor_heads=2, img_size=64)
    assert "mask_tokens.0" in str(err.value) and "predictor_blocks.1.attn.q_norm.weight" in str(err.value)


def test_shape_mismatch_is_refused_naming_keys():
    sd = _official_pred_sd()
    sd["module.backbone.predictor_blocks.1.mlp.fc2.weight"] = torch.zeros(64, 128)
    named = r"predictor_blocks\.1\.mlp\.fc2\.weight \[64, 128\] \(expected \[64, 256\]\)"
    with pytest.raises(CheckpointError, match=named):
        convert_ac_predictor_state(sd, predictor_heads=2, img_size=64)


def test_heads_that_cannot_be_inferred_need_the_flag():
    sd = {k: v[:48] if k.endswith("predictor_embed.weight") else v for k, v in _official_pred_sd().items()}
    with pytest.raises(ConfigError, match="--predictor-heads"):
        convert_ac_predictor_state(sd, img_size=64)  # 48 wide: not a multiple of 64-wide heads
    with pytest.raises(CheckpointError, match="missing 'predictor_embed.weight'.*keys found: pos_embed"):
        convert_ac_predictor_state({"pos_embed": torch.zeros(3)})


def test_swiglu_variant_converts_from_official_names():
    model = _tiny(mlp="swiglu", predictor_embed_dim=48, num_heads=3)
    inverse = {"embed": "predictor_embed", "action_embed": "action_encoder", "state_embed": "state_encoder",
               "blocks": "predictor_blocks", "norm": "predictor_norm", "proj": "predictor_proj"}
    official = {}
    for k, v in model.state_dict().items():
        head, rest = k.split(".", 1)
        official[f"module.{inverse[head]}.{rest}"] = v
    official["module.extrinsics_encoder.weight"] = torch.zeros(48, 2)  # always built by the official code
    official["module.extrinsics_encoder.bias"] = torch.zeros(48)
    cfg, state = convert_ac_predictor_state(official, predictor_heads=3, img_size=32, max_frames=4)
    assert cfg == model.cfg.to_dict()
    tokens, actions, states = _inputs(model)
    with torch.no_grad():
        torch.testing.assert_close(_build(cfg, state)(tokens, actions, states), model(tokens, actions, states))

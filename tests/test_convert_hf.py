"""Teachers in the Hugging Face layout (issue 24, part 1): `jepa-edge convert DIR OUT` on a
transformers `save_pretrained` dir (V-JEPA 2 encoder + predictor, I-JEPA encoder), and hf://ORG/NAME
from a local Hugging Face cache.

Parity: tiny seeded transformers models are built here from small configs, saved with
save_pretrained to tmp_path (nothing committed, nothing downloaded), converted, and compared with
transformers' own VJEPA2Model / IJepaModel forward (relative error <= 1e-4). Those tests need
transformers (the [dev] extra); the bad-input and cache tests write the layout by hand.
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import jepa_edge
from jepa_edge.checkpoints import convert_checkpoint
from jepa_edge.checkpoints.hf import hf_state_shapes
from jepa_edge.cli import main
from jepa_edge.errors import CheckpointError, MissingExtraError

torch.set_num_threads(1)
TOL = 1e-4

# Two configs per family, tiny (32 px, width 32-48, depth 2). V-JEPA 2 clips of 6 and 10 frames:
# 3 and 5 temporal tubelets (odd, and not the 2x2 spatial grid's side), with and without qkv bias,
# other MLP ratios and LayerNorm eps, RoPE head dims with and without unrotated channels.
VJEPA2_CONFIGS = {
    "vjepa2_a": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, patch_size=8, crop_size=32,
                     frames_per_clip=6, tubelet_size=2, pred_hidden_size=24, pred_num_hidden_layers=1,
                     pred_num_attention_heads=2, pred_num_mask_tokens=10),
    "vjepa2_b": dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=3.0, qkv_bias=False,
                     layer_norm_eps=1e-5, patch_size=16, crop_size=32, frames_per_clip=10, tubelet_size=2,
                     pred_hidden_size=32, pred_num_hidden_layers=2, pred_num_attention_heads=4, pred_mlp_ratio=2.0,
                     pred_num_mask_tokens=3),
}
IJEPA_CONFIGS = {
    "ijepa_a": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                    image_size=32, patch_size=8),
    "ijepa_b": dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=3, intermediate_size=192,
                    image_size=32, patch_size=16, qkv_bias=False, layer_norm_eps=1e-6),
}
SHARDED = {"vjepa2_b", "ijepa_b"}  # saved as model.safetensors.index.json + shards


def rel_err(got, want) -> float:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return float(np.abs(got - want).max() / np.abs(want).max())


def transformers_or_skip():
    return pytest.importorskip("transformers", reason="transformers is in the [dev] extra: pip install -e '.[dev]'")


def perturb_(model, seed: int) -> None:
    """Every weight away from its init (zero mask tokens, unit LayerNorms, zero biases), so each counts."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))


def save_hf(case: str, root: Path):
    """A seeded transformers model of `case`, saved with save_pretrained; -> (model in eval mode, dir)."""
    transformers = transformers_or_skip()
    torch.manual_seed(0)
    if case in VJEPA2_CONFIGS:
        model = transformers.VJEPA2Model(transformers.VJEPA2Config(**VJEPA2_CONFIGS[case]))
    else:
        model = transformers.IJepaModel(transformers.IJepaConfig(**IJEPA_CONFIGS[case]))
    perturb_(model, seed=1)
    path = root / case
    model.save_pretrained(path, **({"max_shard_size": "20KB"} if case in SHARDED else {}))
    assert ((path / "model.safetensors.index.json").is_file()) == (case in SHARDED)
    return model.eval(), path


def video(cfg: dict, frames: int, seed: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    s = cfg["crop_size"]
    return torch.randn(2, frames, 3, s, s, generator=g)  # transformers' layout [B, T, C, H, W]


def masks(n: int, n_ctx: int, n_tgt: int, seed: int = 2):
    g = torch.Generator().manual_seed(seed)
    perms = torch.stack([torch.randperm(n, generator=g) for _ in range(2)])  # [B, N]
    return perms[:, :n_ctx], perms[:, n_ctx:n_ctx + n_tgt]


@pytest.mark.parametrize("case", list(VJEPA2_CONFIGS))
def test_vjepa2_encoder_and_predictor_match_transformers(case, tmp_path, capsys):
    hf, src = save_hf(case, tmp_path)
    assert main(["convert", str(src), str(tmp_path / "model")]) == 0  # format detected from config.json
    bundle = jepa_edge.load_model_dir(tmp_path / "model")
    cfg = VJEPA2_CONFIGS[case]
    assert bundle.config["source"]["format"] == "hf-vjepa2" and bundle.encoder_cfg.num_frames == cfg["frames_per_clip"]
    x = video(cfg, cfg["frames_per_clip"])
    n = bundle.encoder_cfg.num_patches
    ctx, tgt = masks(n, n_ctx=n // 2, n_tgt=n // 3)
    with torch.no_grad():
        want = hf(pixel_values_videos=x, context_mask=[ctx], target_mask=[tgt])
        tokens = bundle.encoder(x.permute(0, 2, 1, 3, 4))  # ours: [B, C, T, H, W]
        ctx_tokens = torch.gather(tokens, 1, ctx[..., None].expand(-1, -1, tokens.shape[-1]))
        pred = bundle.predictor(ctx_tokens, ctx, tgt, mask_index=bundle.config["source"]["predictor_mask_index"])
    e_enc = rel_err(tokens, want.last_hidden_state)
    e_pred = rel_err(pred, want.predictor_output.last_hidden_state)
    print(f"\n{case}: encoder rel err {e_enc:.2e}, predictor rel err {e_pred:.2e}")
    assert tokens.shape == want.last_hidden_state.shape and pred.shape == want.predictor_output.last_hidden_state.shape
    assert e_enc <= TOL and e_pred <= TOL


def test_vjepa2_clip_length_is_a_flag(tmp_path):
    """--frames picks another clip length than frames_per_clip (RoPE has no table to outgrow)."""
    hf, src = save_hf("vjepa2_a", tmp_path)
    convert_checkpoint(src, tmp_path / "m", frames=4, encoder_only=True)
    bundle = jepa_edge.load_model_dir(tmp_path / "m")
    assert bundle.predictor is None and bundle.encoder_cfg.num_frames == 4
    assert bundle.config["source"]["predictor_left_out"] == "--encoder-only"
    x = video(VJEPA2_CONFIGS["vjepa2_a"], 4)
    with torch.no_grad():
        want = hf(pixel_values_videos=x, skip_predictor=True).last_hidden_state
        got = bundle.encoder(x.permute(0, 2, 1, 3, 4))
    assert rel_err(got, want) <= TOL


@pytest.mark.parametrize("case", list(IJEPA_CONFIGS))
def test_ijepa_encoder_matches_transformers(case, tmp_path):
    hf, src = save_hf(case, tmp_path)
    assert main(["convert", str(src), str(tmp_path / "model"), "--format", "hf"]) == 0
    bundle = jepa_edge.load_model_dir(tmp_path / "model")
    assert bundle.predictor is None and bundle.config["source"]["format"] == "hf-ijepa"
    # the learned table is the encoder's fixed position buffer, carried in model.safetensors
    assert torch.equal(bundle.encoder.pos_embed, hf.embeddings.position_embeddings.detach())
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want = hf(pixel_values=x).last_hidden_state
        got = bundle.encoder(x)
    e = rel_err(got, want)
    print(f"\n{case}: encoder rel err {e:.2e}")
    assert got.shape == want.shape and e <= TOL


# ------------------------------------------------------------------------------ layouts written by hand

VJ_CFG = {"model_type": "vjepa2", "architectures": ["VJEPA2Model"], "hidden_size": 32, "num_hidden_layers": 2,
          "num_attention_heads": 2, "patch_size": 8, "crop_size": 32, "frames_per_clip": 4, "tubelet_size": 2,
          "mlp_ratio": 4.0, "layer_norm_eps": 1e-6, "qkv_bias": True, "hidden_act": "gelu", "pred_hidden_size": 24,
          "pred_num_hidden_layers": 1, "pred_num_attention_heads": 2, "pred_num_mask_tokens": 10,
          "pred_mlp_ratio": 4.0}


def hand_made(path: Path, cfg: dict = VJ_CFG, drop=(), add=None) -> Path:
    """A save_pretrained-layout dir written without transformers: config.json + seeded tensors."""
    g = torch.Generator().manual_seed(0)
    sd = {k: torch.randn(s, generator=g) for k, s in hf_state_shapes(cfg).items() if k not in drop}
    sd.update(add or {})
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(cfg))
    save_file(sd, str(path / "model.safetensors"))
    return path


def cli_error(capsys, *argv) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_a_hand_made_dir_converts_and_a_sharded_index_is_followed(tmp_path):
    src = hand_made(tmp_path / "hf")
    bundle = jepa_edge.load_model_dir(convert_checkpoint(src, tmp_path / "m"))
    assert set(bundle.parts()) == {"encoder", "predictor"} and bundle.predictor.cfg.num_mask_tokens == 10
    # the same tensors split over two shards + an index
    from safetensors.torch import load_file

    sd = load_file(str(src / "model.safetensors"))
    keys = sorted(sd)
    shards = {"model-00001-of-00002.safetensors": keys[: len(keys) // 2],
              "model-00002-of-00002.safetensors": keys[len(keys) // 2:]}
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    (sharded / "config.json").write_text(json.dumps(VJ_CFG))
    for name, ks in shards.items():
        save_file({k: sd[k] for k in ks}, str(sharded / name))
    (sharded / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {k: n for n, ks in shards.items() for k in ks}}))
    again = jepa_edge.load_model_dir(convert_checkpoint(sharded, tmp_path / "m2"))
    for name, t in bundle.encoder.state_dict().items():
        assert torch.equal(t, again.encoder.state_dict()[name])


def test_a_classifier_checkpoint_gives_its_encoder_and_names_what_it_left_out(tmp_path):
    """VJEPA2ForVideoClassification keeps the base model under vjepa2.; its head and its (unused)
    predictor are left out, by name; nothing else unexpected is accepted."""
    cfg = dict(VJ_CFG, architectures=["VJEPA2ForVideoClassification"])
    g = torch.Generator().manual_seed(0)
    sd = {f"vjepa2.{k}": torch.randn(s, generator=g) for k, s in hf_state_shapes(cfg).items()}
    sd.update({"classifier.weight": torch.randn(5, 32), "classifier.bias": torch.randn(5),
               "pooler.query_tokens": torch.randn(1, 1, 32)})
    src = tmp_path / "cls"
    src.mkdir()
    (src / "config.json").write_text(json.dumps(cfg))
    save_file(sd, str(src / "model.safetensors"))
    bundle = jepa_edge.load_model_dir(convert_checkpoint(src, tmp_path / "m"))
    assert bundle.predictor is None
    dropped = bundle.config["source"]["dropped_unused"]
    assert "classifier.weight" in dropped and "pooler.query_tokens" in dropped
    assert "predictor.proj.weight" in dropped


def test_model_type_neither_is_one_line(tmp_path, capsys):
    src = hand_made(tmp_path / "hf")
    (src / "config.json").write_text(json.dumps(dict(VJ_CFG, model_type="vit")))
    err = cli_error(capsys, "convert", str(src), str(tmp_path / "m"))
    assert "model_type 'vit'" in err and "vjepa2" in err and "ijepa" in err


def test_missing_weights_file_is_one_line(tmp_path, capsys):
    src = hand_made(tmp_path / "hf")
    (src / "model.safetensors").unlink()
    err = cli_error(capsys, "convert", str(src), str(tmp_path / "m"))
    assert "no model.safetensors" in err


def test_a_shard_index_pointing_at_a_missing_shard_is_one_line(tmp_path, capsys):
    src = hand_made(tmp_path / "hf")
    (src / "model.safetensors").rename(src / "model-00001-of-00002.safetensors")
    (src / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
        "encoder.layernorm.weight": "model-00001-of-00002.safetensors",
        "predictor.proj.weight": "model-00002-of-00002.safetensors"}}))
    err = cli_error(capsys, "convert", str(src), str(tmp_path / "m"))
    assert "model-00002-of-00002.safetensors" in err and "not in" in err


def test_keys_that_do_not_match_are_named(tmp_path, capsys):
    src = hand_made(tmp_path / "hf", drop=("encoder.layer.1.attention.key.weight",),
                    add={"encoder.layer.2.norm1.weight": torch.ones(32),
                         "encoder.layernorm.weight": torch.ones(31)})
    err = cli_error(capsys, "convert", str(src), str(tmp_path / "m"))
    assert "missing keys (1): encoder.layer.1.attention.key.weight" in err
    assert "unexpected keys (1): encoder.layer.2.norm1.weight" in err
    assert "encoder.layernorm.weight [31] (expected [32])" in err


def test_a_missing_predictor_says_encoder_only_converts_the_rest(tmp_path, capsys):
    keys = [k for k in hf_state_shapes(VJ_CFG) if k.startswith("predictor.")]
    src = hand_made(tmp_path / "hf", drop=keys)
    assert "--encoder-only" in cli_error(capsys, "convert", str(src), str(tmp_path / "m"))
    assert main(["convert", str(src), str(tmp_path / "m"), "--encoder-only"]) == 0


def test_wrong_format_flag_and_architecture_flags_are_one_line(tmp_path, capsys):
    src = hand_made(tmp_path / "hf")
    assert "--format hf" in cli_error(capsys, "convert", str(src), str(tmp_path / "m"), "--format", "vjepa2")
    err = cli_error(capsys, "convert", str(src), str(tmp_path / "m"), "--heads", "4")
    assert "--heads" in err and "config.json" in err
    bad = dict(VJ_CFG, hidden_act="gelu_new")
    (src / "config.json").write_text(json.dumps(bad))
    assert "gelu_new" in cli_error(capsys, "convert", str(src), str(tmp_path / "m"))


def test_non_finite_weights_are_refused(tmp_path):
    src = hand_made(tmp_path / "hf", add={"encoder.layernorm.bias": torch.full((32,), float("nan"))})
    with pytest.raises(CheckpointError, match="NaN"):
        convert_checkpoint(src, tmp_path / "m")


# ------------------------------------------------------------------------------ hf:// from the local cache

SHA = "0123456789abcdef0123456789abcdef01234567"


def fake_cache(root: Path, repo: str = "acme/tiny-vjepa2") -> Path:
    """The layout huggingface_hub writes: models--ORG--NAME/{refs/main, snapshots/<sha>/...}."""
    org, name = repo.split("/")
    store = root / f"models--{org}--{name}"
    hand_made(store / "snapshots" / SHA)
    (store / "refs").mkdir()
    (store / "refs" / "main").write_text(SHA)
    return root


def test_hf_url_resolves_from_the_local_cache(tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub", reason="huggingface_hub is in the [hf] extra")
    monkeypatch.setenv("HF_HUB_CACHE", str(fake_cache(tmp_path / "hub")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["convert", "hf://acme/tiny-vjepa2", str(tmp_path / "m")]) == 0
    src = jepa_edge.load_model_dir(tmp_path / "m").config["source"]
    assert src["repo"] == "acme/tiny-vjepa2" and src["revision"] == SHA
    assert main(["convert", f"hf://acme/tiny-vjepa2@{SHA}", str(tmp_path / "m2")]) == 0


def test_hf_url_not_in_the_cache_names_the_repo_and_the_command(tmp_path, monkeypatch, capsys):
    pytest.importorskip("huggingface_hub", reason="huggingface_hub is in the [hf] extra")
    monkeypatch.setenv("HF_HUB_CACHE", str(fake_cache(tmp_path / "hub")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    err = cli_error(capsys, "convert", "hf://acme/absent", str(tmp_path / "m"))
    assert "acme/absent" in err and "hf download acme/absent" in err and "huggingface-cli download" in err
    err = cli_error(capsys, "convert", "hf://acme/tiny-vjepa2@v9", str(tmp_path / "m"))
    assert "hf download acme/tiny-vjepa2 --revision v9" in err
    assert "hf://ORG/NAME" in cli_error(capsys, "convert", "hf://not-a-repo", str(tmp_path / "m"))


def test_hf_url_without_huggingface_hub_names_the_extra(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails as if not installed
    with pytest.raises(MissingExtraError, match=r"jepa-edge\[hf\]"):
        convert_checkpoint("hf://acme/tiny-vjepa2", tmp_path / "m")

"""Strictness and clear errors of checkpoint conversion and the convert / embed / info CLI."""
from pathlib import Path

import numpy as np
import pytest
import torch

from jepa_edge.checkpoints import FORMATS, read_official
from jepa_edge.checkpoints.ijepa import convert_ijepa
from jepa_edge.checkpoints.vjepa2 import convert_vjepa2
from jepa_edge.cli import main
from jepa_edge.errors import CheckpointError
from jepa_edge.models import build_encoder

torch.set_num_threads(1)
DATA = Path(__file__).parent / "data" / "parity"


def official_nano(depth_kept=12) -> dict:
    """An I-JEPA-layout checkpoint of a vit_nano (our encoder names equal the official ones)."""
    torch.manual_seed(0)
    sd = build_encoder("vit_nano", img_size=32, patch_size=8).state_dict()
    sd = {f"module.{k}": v for k, v in sd.items() if not any(k.startswith(f"blocks.{i}.") for i in range(depth_kept, 12))}
    return {"encoder": sd, "target_encoder": sd, "epoch": 1}


def cli_error(capsys, *argv) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_a_registered_arch_converts_without_flags():
    config, state = convert_ijepa(official_nano())
    assert config["encoder"]["arch"] == "vit_nano" and config["encoder"]["num_heads"] == 2
    assert config["encoder"]["img_size"] == 32 and config["encoder"]["patch_size"] == 8
    assert "encoder.blocks.11.mlp.fc2.weight" in state


def test_wrong_depth_is_refused_naming_the_missing_keys():
    with pytest.raises(CheckpointError, match=r"missing keys.*blocks\.11\.attn\.qkv\.weight"):
        convert_ijepa(official_nano(depth_kept=11), arch="vit_nano")
    # without --arch an 11-deep 128-wide encoder matches no registered arch: heads must be given
    with pytest.raises(CheckpointError, match="--heads"):
        convert_ijepa(official_nano(depth_kept=11))
    config, _ = convert_ijepa(official_nano(depth_kept=11), heads=2)
    assert config["encoder"]["depth"] == 11


def test_wrong_width_is_refused_naming_the_mismatched_keys(capsys):
    err = cli_error(capsys, "convert", str(DATA / "ijepa_tiny.pth.tar"), "/tmp/never-written", "--format", "ijepa",
                    "--arch", "vit_nano")
    assert "shape mismatches" in err and "patch_embed.proj.weight [24, 3, 8, 8] (expected [128, 3, 8, 8])" in err
    assert not Path("/tmp/never-written").exists()


def test_extra_keys_are_refused_by_name():
    ckpt = official_nano()
    ckpt["target_encoder"] = {**ckpt["target_encoder"], "module.blocks.0.attn.q_norm.weight": torch.ones(64)}
    with pytest.raises(CheckpointError, match=r"unexpected keys \(1\): blocks\.0\.attn\.q_norm\.weight"):
        convert_ijepa(ckpt)


def test_only_the_known_vjepa2_leftover_is_accepted():
    ckpt = torch.load(DATA / "vjepa2_tiny.pth.tar", weights_only=True)
    flags = dict(heads=2, img_size=32, frames=4, predictor_heads=2)
    convert_vjepa2(ckpt, **flags)  # carries pos_embed / predictor_pos_embed: fine
    ckpt["target_encoder"]["module.backbone.cls_token"] = torch.zeros(1, 1, 32)
    with pytest.raises(CheckpointError, match="unexpected keys.*cls_token"):
        convert_vjepa2(ckpt, **flags)
    # and I-JEPA (sin-cos) needs its table: dropping it is an error, not a silent zero
    ij = torch.load(DATA / "ijepa_tiny.pth.tar", weights_only=True)
    del ij["target_encoder"]["module.pos_embed"]
    with pytest.raises(CheckpointError, match="pos_embed"):
        convert_ijepa(ij, heads=2)


def test_predictor_defaults_follow_the_official_models():
    cfg, _ = convert_ijepa(torch.load(DATA / "ijepa_tiny.pth.tar", weights_only=True), heads=2)
    assert cfg["predictor"]["num_heads"] == 2  # I-JEPA: the encoder's heads
    cfg, _ = convert_vjepa2(torch.load(DATA / "vjepa2_tiny.pth.tar", weights_only=True), heads=2, img_size=32,
                            frames=4)
    assert cfg["predictor"]["num_heads"] == 12  # V-JEPA 2: pred_num_heads 12 in every released config


def test_key_selection(capsys, tmp_path):
    err = cli_error(capsys, "convert", str(DATA / "ijepa_tiny.pth.tar"), str(tmp_path / "m"), "--format", "ijepa",
                    "--heads", "2", "--key", "ema_encoder")
    assert "no 'ema_encoder'" in err and "target_encoder" in err


def test_truncated_and_non_checkpoint_files_give_one_clear_line(capsys, tmp_path):
    blob = (DATA / "ijepa_tiny.pth.tar").read_bytes()
    truncated = tmp_path / "cut.pth.tar"
    truncated.write_bytes(blob[: len(blob) // 2])
    err = cli_error(capsys, "convert", str(truncated), str(tmp_path / "m"), "--format", "ijepa")
    assert "truncated" in err
    text = tmp_path / "notes.pth"
    text.write_text("this is not a checkpoint\n")
    assert "not a PyTorch checkpoint" in cli_error(capsys, "convert", str(text), str(tmp_path / "m"), "--format", "ijepa")
    npy = tmp_path / "x.pt"
    np.save(open(npy, "wb"), np.zeros(3))
    with pytest.raises(CheckpointError):
        read_official(npy)
    with pytest.raises(CheckpointError, match="empty"):
        (tmp_path / "empty.pt").write_bytes(b"")
        read_official(tmp_path / "empty.pt")
    tensor_only = tmp_path / "t.pt"
    torch.save(torch.zeros(2), tensor_only)
    with pytest.raises(CheckpointError, match="not a checkpoint dict"):
        read_official(tensor_only)


def test_pickled_code_is_not_executed(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"encoder": Evil()}, protocol=2))
    with pytest.raises(CheckpointError, match="weights_only"):
        read_official(path)


def test_convert_refuses_to_overwrite_and_embed_checks_inputs(capsys, tmp_path):
    model = tmp_path / "m"
    args = ["convert", str(DATA / "ijepa_tiny.pth.tar"), str(model), "--format", "ijepa", "--heads", "2"]
    assert main(args) == 0
    assert "--force" in cli_error(capsys, *args)
    assert main(args + ["--force"]) == 0
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 3, 64, 64), np.float32))
    assert "[B, 3, 32, 32]" in cli_error(capsys, "embed", str(model), "--input", str(bad), "--output", str(tmp_path / "z.npy"))
    np.save(bad, np.zeros((2, 3, 32, 32), np.uint8))
    assert "float32" in cli_error(capsys, "embed", str(model), "--input", str(bad), "--output", str(tmp_path / "z.npy"))
    assert not (tmp_path / "z.npy").exists()


def test_info_reports_vit_small_gmacs_and_model_dirs(capsys, tmp_path):
    assert main(["info", "--arch", "vit_small/16", "--img-size", "224", "--json", "-"]) == 0
    import json

    info = json.loads(capsys.readouterr().out)
    assert abs(info["gmacs"] / 4.6 - 1) < 0.05 and 21e6 < info["params"]["encoder"] < 23e6
    model = tmp_path / "m"
    assert main(["convert", str(DATA / "vjepa2_tiny.pth.tar"), str(model), "--format", "vjepa2", "--heads", "2",
                 "--img-size", "32", "--frames", "4", "--predictor-heads", "2"]) == 0
    capsys.readouterr()
    assert main(["info", str(model), "--json", "-"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["pos"] == "rope" and info["tokens"] == 32 and set(info["params"]) == {"encoder", "predictor"}
    assert "MODEL_DIR or --arch" in cli_error(capsys, "info")


def test_every_format_has_a_converter_module():
    import importlib

    for fmt, (module, func, _) in FORMATS.items():
        if fmt == "vjepa2-ac" and importlib.util.find_spec(module) is None:
            continue  # built by the AC-predictor part; dispatched the same way
        assert callable(getattr(importlib.import_module(module), func, None)), fmt


def test_vjepa2_1_takes_the_ema_encoder_and_falls_back_to_target_encoder():
    from jepa_edge.checkpoints.vjepa2_1 import convert_vjepa2_1

    ckpt = torch.load(DATA / "vjepa2_tiny.pth.tar", weights_only=True)
    flags = dict(heads=2, img_size=32, frames=4, predictor_heads=2)
    config, _ = convert_vjepa2_1(ckpt, **flags)  # the ViT-G teacher file layout: no ema_encoder
    assert config["source"]["encoder_key"] == "target_encoder"
    ckpt["ema_encoder"] = ckpt["encoder"]
    config, state = convert_vjepa2_1(ckpt, **flags)
    assert config["source"] == {**config["source"], "encoder_key": "ema_encoder", "format": "vjepa2.1"}
    assert torch.equal(state["encoder.norm.weight"], ckpt["encoder"]["module.backbone.norm.weight"])
    with pytest.raises(CheckpointError, match="patch embedding is 8x8"):
        convert_vjepa2_1(ckpt, arch="vit_nano/16", **flags)

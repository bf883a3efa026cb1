"""experiments/ac_transport.py: an AC predictor trained elsewhere comes back only onto the encoder it was trained on."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from jepa_edge.models.model_dir import load_model_dir
from jepa_edge.utils.files import sha256_file

from loop_support import save_tiny_model_dir

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "ac_transport.py"


def transport(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def test_strip_pack_unpack_rebuilds_the_same_weights_and_refuses_another_encoder(tmp_path):
    trained = save_tiny_model_dir(tmp_path / "trained", seed=1, config={"ac": {"action_repeat": 1}})
    assert transport("strip", trained, tmp_path / "enc").returncode == 0
    assert set(load_model_dir(tmp_path / "enc").parts()) == {"encoder"}
    assert transport("pack", trained, tmp_path / "pack").returncode == 0
    assert (tmp_path / "pack" / "ac_predictor.safetensors").stat().st_size < (trained / "model.safetensors").stat().st_size

    r = transport("unpack", tmp_path / "pack", "--encoder", tmp_path / "enc", "--out", tmp_path / "back" / "model")
    assert r.returncode == 0, r.stderr
    assert sha256_file(tmp_path / "back" / "model" / "model.safetensors") == sha256_file(trained / "model.safetensors")
    back, orig = load_model_dir(tmp_path / "back" / "model"), load_model_dir(trained)
    assert back.config["ac"] == {"action_repeat": 1}
    assert all(torch.equal(a, b) for a, b in zip(back.ac_predictor.state_dict().values(), orig.ac_predictor.state_dict().values()))

    other = save_tiny_model_dir(tmp_path / "other", seed=2)  # same architecture, other encoder weights
    r = transport("unpack", tmp_path / "pack", "--encoder", other, "--out", tmp_path / "wrong" / "model")
    assert r.returncode != 0 and "not the encoder that run trained on" in r.stderr
    assert not (tmp_path / "wrong" / "model" / "model.safetensors").exists()


@pytest.mark.parametrize("cmd", ["strip", "pack"])
def test_a_missing_model_dir_is_an_error(tmp_path, cmd):
    assert transport(cmd, tmp_path / "nothing", tmp_path / "out").returncode != 0

"""Issue 26, items 5 and 6a: a bit-rotted or non-finite official checkpoint is refused, naming what
is wrong; a directory given as the checkpoint says so. Uses the tiny official-layout checkpoints of
tests/data/parity/ (copied to tmp_path, the copy corrupted)."""
import shutil
import struct
import zipfile
from pathlib import Path

import pytest
import torch

from jepa_edge.checkpoints import convert_checkpoint, read_official
from jepa_edge.cli import main
from jepa_edge.errors import CheckpointError

DATA = Path(__file__).parent / "data" / "parity"


def cli_error(capsys, *argv) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def flip_data_members(src: Path, dst: Path, only: str | None = None) -> list[str]:
    """Copy `src` and flip one byte in the middle of every data/ member's bytes (or just `only`)."""
    shutil.copy(src, dst)
    blob = bytearray(dst.read_bytes())
    flipped = []
    with zipfile.ZipFile(src) as zf:
        for info in zf.infolist():
            if "/data/" not in info.filename or info.file_size == 0 or (only and info.filename != only):
                continue
            name_len, extra_len = struct.unpack("<HH", blob[info.header_offset + 26: info.header_offset + 30])
            start = info.header_offset + 30 + name_len + extra_len  # the member's stored bytes
            blob[start + info.file_size // 2] ^= 0x10
            flipped.append(info.filename)
    dst.write_bytes(bytes(blob))
    return flipped


def test_a_bit_rotted_checkpoint_is_refused_naming_the_member(tmp_path, capsys):
    bad = tmp_path / "ijepa_tiny.pth.tar"
    flipped = flip_data_members(DATA / "ijepa_tiny.pth.tar", bad)
    assert len(flipped) > 10
    err = cli_error(capsys, "convert", str(bad), str(tmp_path / "m"), "--format", "ijepa", "--heads", "2")
    assert "CRC" in err and flipped[0] in err, err
    assert not (tmp_path / "m").exists()


def test_one_flipped_member_is_named(tmp_path):
    bad = tmp_path / "vjepa2_tiny.pth.tar"
    with zipfile.ZipFile(DATA / "vjepa2_tiny.pth.tar") as zf:
        member = [i.filename for i in zf.infolist() if "/data/" in i.filename][-1]
    flip_data_members(DATA / "vjepa2_tiny.pth.tar", bad, only=member)
    with pytest.raises(CheckpointError, match=member.replace(".", r"\.")):
        read_official(bad)
    read_official(DATA / "vjepa2_tiny.pth.tar")  # the pristine file still reads


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_refused_naming_the_keys(tmp_path, value):
    ckpt = torch.load(DATA / "ijepa_tiny.pth.tar", weights_only=True)
    sd = ckpt["target_encoder"]
    key = next(k for k in sd if k.endswith("blocks.1.attn.qkv.weight"))
    sd[key] = sd[key].clone()
    sd[key][0, 0] = value
    src = tmp_path / "nan.pth.tar"
    torch.save(ckpt, src)
    with pytest.raises(CheckpointError, match=r"NaN or Inf.*blocks\.1\.attn\.qkv\.weight"):
        convert_checkpoint(src, tmp_path / "m", "ijepa", heads=2)
    assert not (tmp_path / "m" / "config.json").exists()


def test_converting_a_directory_says_it_is_a_directory(tmp_path, capsys):
    folder = tmp_path / "downloads"
    folder.mkdir()
    shutil.copy(DATA / "ijepa_tiny.pth.tar", folder)
    err = cli_error(capsys, "convert", str(folder), str(tmp_path / "m"), "--format", "ijepa", "--heads", "2")
    assert "is a directory" in err and "no such file" not in err and "ijepa_tiny.pth.tar" in err, err
    assert "no such file" in cli_error(capsys, "convert", str(tmp_path / "absent.pt"), str(tmp_path / "m"),
                                       "--format", "ijepa")

"""experiments/teacher_scale.py: a model dir packed into parts under the device tool's file limit comes back whole."""
import sys
import tarfile
from pathlib import Path

from jepa_edge.models.model_dir import load_model_dir
from jepa_edge.utils.files import sha256_file

from loop_support import save_tiny_model_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
from teacher_scale import pack  # noqa: E402


def test_packed_parts_stay_under_the_limit_and_rebuild_the_model_dir(tmp_path):
    model = save_tiny_model_dir(tmp_path / "run" / "model", seed=3)
    size = (model / "model.safetensors").stat().st_size
    out = tmp_path / "out"
    out.mkdir()
    parts = pack(model, "vrp8_d6", out, part_bytes=size // 3)
    assert len(parts) >= 3 and parts == sorted(parts)  # `cat part-*` must join them in order
    assert all((out / p).stat().st_size <= size // 3 for p in parts)
    assert not (out / "teacher.tar").exists()

    joined = tmp_path / "joined.tar"
    joined.write_bytes(b"".join((out / p).read_bytes() for p in sorted(parts)))
    with tarfile.open(joined) as tar:
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python >= 3.10.12 / 3.11.4
        tar.extractall(tmp_path / "back", **safe)
    back = tmp_path / "back" / "vrp8_d6" / "model"
    assert sha256_file(back / "model.safetensors") == sha256_file(model / "model.safetensors")
    load_model_dir(back)  # verifies the weights against config.json's hash

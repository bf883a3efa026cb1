"""Issue 26, item 6b: a killed export leaves its hidden `.OUT.*` work dir; the next export to the same
place removes those whose process is gone, and never a live export's."""
import os
import subprocess
import sys
import time

import torch

from jepa_edge.utils.files import owned_tempdir, remove_stale_tempdirs


def leave_tempdir(dest) -> str:
    """A process that makes its work dir beside `dest` and dies without cleaning up (as a kill does)."""
    code = ("import sys; from jepa_edge.utils.files import owned_tempdir; d = owned_tempdir(sys.argv[1], 'export'); "
            "(d / 'fp32.onnx').write_bytes(b'x' * 100); print(d.name)")
    r = subprocess.run([sys.executable, "-c", code, str(dest)], capture_output=True, text=True, check=True)
    return r.stdout.strip()


def test_only_dead_writers_leftovers_are_removed(tmp_path):
    dest = tmp_path / "b"
    dead = leave_tempdir(dest)  # its process has exited
    live = owned_tempdir(dest, "export").name  # this process: alive
    other = leave_tempdir(tmp_path / "b.v2")  # another destination's leftovers: not ours to judge
    (tmp_path / ".b.abcd1234").mkdir()  # a pre-pid work dir (tempfile.mkdtemp), fresh: may be in use
    old = tmp_path / ".b.zyxw9876"
    old.mkdir()
    os.utime(old, (time.time() - 7200, time.time() - 7200))  # ... and one unmodified for 2 hours
    removed = remove_stale_tempdirs(dest, "export", legacy=True)
    assert sorted(p.name for p in removed) == sorted([dead, old.name])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live, other, ".b.abcd1234"])
    assert other.startswith(".b.v2.export-")


def test_the_next_export_cleans_up_after_a_killed_one(tmp_path):
    from jepa_edge.models.model_dir import ModelDir, save_model_dir
    from jepa_edge.models.registry import build_encoder
    from jepa_edge.quant.pipeline import export

    torch.manual_seed(0)
    save_model_dir(tmp_path / "model", ModelDir(encoder=build_encoder("vit_nano", img_size=32, patch_size=8, depth=1)))
    out = tmp_path / "bundle"
    dead = leave_tempdir(out)
    live = owned_tempdir(out, "export").name  # an export of this process still running
    lines = []
    res = export(tmp_path / "model", "onnxruntime", "fp32", out=out, log=lines.append)
    assert res.path == out and (out / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model", "bundle", live])
    assert any(dead in line for line in lines), lines

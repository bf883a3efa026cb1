"""Move AC predictors trained on a GPU machine back here, under the device tool's file limits.

A trained model dir holds the frozen encoder + the AC predictor; only the predictor is new. So:
  strip  MODEL_DIR OUT         encoder-only model dir (what travels to the GPU machine and trains there)
  pack   MODEL_DIR OUT         the AC predictor's tensors + config.json + metrics (what comes back)
  unpack PACK --encoder DIR --out MODEL_DIR
                               rebuild the model dir from the pack and the same encoder-only dir; the
                               rebuilt weights must hash to the sha256 the GPU run wrote, or it is refused
    python experiments/ac_transport.py strip runs/vrp8_dense/student/model runs/gpu/student_enc
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from jepa_edge.models.model_dir import FORMAT, ModelDir, load_model_dir, save_model_dir  # noqa: E402
from jepa_edge.utils.files import atomic_path, atomic_write_json, sha256_file  # noqa: E402

AC = "ac_predictor."


def strip(model_dir: str, out: str) -> None:
    src = load_model_dir(model_dir)
    config = {k: v for k, v in src.config.items() if k in ("normalization", "training")}
    save_model_dir(out, ModelDir(config=config, encoder=src.encoder),
                   source={"kind": "encoder of", "model_dir": str(model_dir)})


def pack(model_dir: str, out: str) -> None:
    model_dir, out = Path(model_dir), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tensors = load_file(str(model_dir / "model.safetensors"))
    save_file({k: v for k, v in tensors.items() if k.startswith(AC)}, str(out / "ac_predictor.safetensors"))
    shutil.copy(model_dir / "config.json", out / "config.json")
    metrics = model_dir.parent / "metrics.jsonl"
    if metrics.exists():
        shutil.copy(metrics, out / "metrics.jsonl")


def unpack(pack_dir: str, encoder: str, out: str) -> None:
    pack_dir, out = Path(pack_dir), Path(out)
    config = json.loads((pack_dir / "config.json").read_text())
    tensors = {k: v for k, v in load_file(str(Path(encoder) / "model.safetensors")).items() if k.startswith("encoder.")}
    tensors.update(load_file(str(pack_dir / "ac_predictor.safetensors")))
    with atomic_path(out / "model.safetensors") as tmp:  # not put in place unless the hash matches
        save_file(tensors, str(tmp), metadata={"format": FORMAT})
        if sha256_file(tmp) != config["weights_sha256"]:
            raise SystemExit(f"{pack_dir}: the rebuilt weights do not hash to the GPU run's sha256: "
                             f"{encoder} is not the encoder that run trained on")
    atomic_write_json(out / "config.json", config)
    if (pack_dir / "metrics.jsonl").exists():
        shutil.copy(pack_dir / "metrics.jsonl", out.parent / "metrics.jsonl")
    load_model_dir(out)  # loads and verifies


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("strip", "pack"):
        s = sub.add_parser(name)
        s.add_argument("model_dir")
        s.add_argument("out")
    s = sub.add_parser("unpack")
    s.add_argument("pack")
    s.add_argument("--encoder", required=True)
    s.add_argument("--out", required=True)
    a = p.parse_args()
    if a.cmd == "unpack":
        unpack(a.pack, a.encoder, a.out)
    else:
        {"strip": strip, "pack": pack}[a.cmd](a.model_dir, a.out)
    print(f"{a.cmd}: done")


if __name__ == "__main__":
    main()

"""Teacher features on disk, in shards, so epochs after the first never rerun the teacher.

`cache_dir/manifest.json` says what the features are (teacher weights hash, data description,
shapes, dtype); `shard_XXXXX.safetensors` hold `features` [rows, N, D] (float16, layer-normed)
for dataset rows [k * shard_size, (k + 1) * shard_size). Each shard is written atomically, so an
interrupted build resumes where it stopped; a manifest that does not match the current teacher
or data makes the cache start over.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from jepa_edge.training import ddp
from jepa_edge.training.common import progress_bar
from jepa_edge.training.data import load_rows
from jepa_edge.utils.files import atomic_path, atomic_write_json


class TeacherFeatureCache:
    def __init__(self, directory: str | Path, key: dict, n: int, shard_size: int = 256):
        self.dir, self.key, self.n, self.shard_size = Path(directory), key, n, shard_size
        self._open: dict[int, object] = {}

    @property
    def num_shards(self) -> int:
        return (self.n + self.shard_size - 1) // self.shard_size

    def _shard_path(self, k: int) -> Path:
        return self.dir / f"shard_{k:05d}.safetensors"

    def _manifest(self) -> dict:
        return {"key": self.key, "n": self.n, "shard_size": self.shard_size, "dtype": "float16"}

    def build(self, data, features: Callable[[torch.Tensor], torch.Tensor], batch_size: int,
              env: ddp.DistEnv = ddp.DistEnv(), progress: bool = True) -> int:
        """Compute the missing shards (each rank its share). Returns how many shards were computed."""
        manifest = self.dir / "manifest.json"
        if env.is_main:
            if manifest.exists() and json.loads(manifest.read_text()) != self._manifest():
                shutil.rmtree(self.dir)  # another teacher or other data: the old features are wrong
            self.dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(manifest, self._manifest())
        ddp.barrier(env)
        todo = [k for k in range(self.num_shards) if k % env.world_size == env.rank and not self._shard_path(k).exists()]
        with progress_bar(len(todo), "teacher features", progress and env.is_main and bool(todo)) as update:
            for k in todo:
                lo, hi = k * self.shard_size, min(self.n, (k + 1) * self.shard_size)
                chunks = []
                for s in range(lo, hi, batch_size):
                    x = load_rows(data, np.arange(s, min(hi, s + batch_size)))
                    with torch.no_grad():
                        chunks.append(features(x).to(torch.float16).cpu())
                with atomic_path(self._shard_path(k)) as tmp:
                    save_file({"features": torch.cat(chunks).contiguous()}, str(tmp))
                update()
        ddp.barrier(env)
        return len(todo)

    def get(self, indices) -> torch.Tensor:
        """Features of dataset rows `indices` -> float32 [B, N, D]."""
        rows = []
        for i in np.asarray(indices).tolist():
            k, r = divmod(int(i), self.shard_size)
            if k not in self._open:
                self._open[k] = safe_open(str(self._shard_path(k)), framework="pt")
            rows.append(self._open[k].get_slice("features")[r : r + 1])
        return torch.cat(rows).float()

"""Our model dir: `config.json` (architecture, input, normalization, parts) + `model.safetensors`.

Weights are stored under one prefix per part (`encoder.`, `predictor.`, `ac_predictor.`). Loading
is strict: every missing key, unexpected key and shape mismatch is listed in one CheckpointError
(silent `strict=False` loads are how the official repos ended up with broken models).
The AC predictor is imported lazily from `jepa_edge.models.ac_predictor` (its own module).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from jepa_edge.errors import CheckpointError, ConfigError
from jepa_edge.latent import IMAGENET_MEAN, IMAGENET_STD
from jepa_edge.models.config import EncoderConfig, PredictorConfig
from jepa_edge.utils.files import atomic_path, atomic_write_json, canonical_json_sha256, read_json, sha256_file

FORMAT = "jepa-edge-model"
FORMAT_VERSION = 2  # 2: config.json carries config_sha256 over its own content
CONFIG_NAME, WEIGHTS_NAME = "config.json", "model.safetensors"
CONFIG_HASH = "config_sha256"  # sha256 of config.json's canonical content, itself left out
PARTS = ("encoder", "predictor", "ac_predictor")


def resolve_model_path(path) -> Path:
    """A model dir's path; `reference:NAME` is the reference model NAME shipped with the package
    (reference/NAME/model in the repository), e.g. the `tabletop-reach` recipe's result."""
    from jepa_edge.utils.resources import REFERENCE_PREFIX, reference_model_dir

    text = str(path)
    return reference_model_dir(text[len(REFERENCE_PREFIX):]) if text.startswith(REFERENCE_PREFIX) else Path(path)


def _part_classes(part: str):
    """(config class, module class) for a part; the AC predictor is imported only when used."""
    if part == "encoder":
        from jepa_edge.models.vit import VisionTransformer

        return EncoderConfig, VisionTransformer
    if part == "predictor":
        from jepa_edge.models.predictor import MaskTokenPredictor

        return PredictorConfig, MaskTokenPredictor
    from jepa_edge.models.ac_predictor import ACPredictorConfig, ActionConditionedPredictor

    return ACPredictorConfig, ActionConditionedPredictor


def input_spec(cfg: EncoderConfig) -> dict:
    s = cfg.img_size
    if cfg.is_video:
        return {"layout": "BCTHW", "shape": [cfg.in_chans, cfg.num_frames, s, s], "dtype": "float32"}
    return {"layout": "BCHW", "shape": [cfg.in_chans, s, s], "dtype": "float32"}


@dataclass
class ModelDir:
    """What a model dir holds. `config` is the config.json dict; `save_model_dir` rebuilds its part
    entries from the modules' `.cfg`, so a bundle made with `config={}` is fine."""

    config: dict = field(default_factory=dict)
    encoder: nn.Module | None = None
    predictor: nn.Module | None = None
    ac_predictor: nn.Module | None = None

    @property
    def encoder_cfg(self) -> EncoderConfig:
        return self.encoder.cfg if self.encoder is not None else EncoderConfig.from_dict(self.config["encoder"])

    @property
    def predictor_cfg(self) -> PredictorConfig | None:
        return self.predictor.cfg if self.predictor is not None else None

    @property
    def ac_predictor_cfg(self):
        return self.ac_predictor.cfg if self.ac_predictor is not None else None

    def parts(self) -> dict[str, nn.Module]:
        return {p: getattr(self, p) for p in PARTS if getattr(self, p) is not None}

    def eval(self) -> "ModelDir":
        for m in self.parts().values():
            m.eval()
        return self


def save_model_dir(path, bundle: ModelDir, source: dict | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write config.json + model.safetensors under `path` (created); each file atomically, weights first,
    so a config.json never points at missing or half-written weights. `dtype` (e.g. torch.float16):
    store the parameters in it (half the bytes of a shipped model); buffers stay as they are, and
    loading casts back to the modules' own dtype."""
    from safetensors.torch import save_file

    path = Path(path)
    parts = bundle.parts()
    if "encoder" not in parts:
        raise ConfigError("a model dir needs an encoder")
    tensors = {}
    for name, module in parts.items():
        params = {k for k, _ in module.named_parameters()}
        for k, v in module.state_dict().items():
            v = v.detach().to("cpu")
            tensors[f"{name}.{k}"] = (v.to(dtype) if dtype is not None and k in params else v).contiguous()
    path.mkdir(parents=True, exist_ok=True)
    with atomic_path(path / WEIGHTS_NAME) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT})
    enc_cfg = parts["encoder"].cfg
    extra = {k: v for k, v in bundle.config.items() if k not in (*PARTS, "format", "format_version", "parts", "weights_dtype")}
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "parts": list(parts),
        **{name: m.cfg.to_dict() for name, m in parts.items()},
        "input": input_spec(enc_cfg),
        "normalization": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
    }
    config.update({k: v for k, v in extra.items() if k not in ("input",)})
    if source is not None:
        config["source"] = source
    if dtype is not None:
        config["weights_dtype"] = str(dtype).removeprefix("torch.")
    config["weights_sha256"] = sha256_file(path / WEIGHTS_NAME)
    config = sign_config(config)
    atomic_write_json(path / CONFIG_NAME, config)
    bundle.config = config
    return path


def sign_config(config: dict) -> dict:
    """`config` (as JSON will read it back) with `config_sha256`: a sha256 over its canonical JSON
    (sorted keys, that field left out), so an edit of any field (num_heads, norm_eps, the
    normalization mean) is caught on load, as `weights_sha256` catches an edit of the weights."""
    config = json.loads(json.dumps({k: v for k, v in config.items() if k != CONFIG_HASH}))
    config[CONFIG_HASH] = canonical_json_sha256(config, CONFIG_HASH)
    return config


def verify_config(path: Path, config: dict, weights: Path) -> None:
    """Refuse a model dir whose config.json or weights are not the ones written together, or that
    carries no hashes to tell (hand-written, or from an older jepa-edge)."""
    missing = [k for k in ("weights_sha256", CONFIG_HASH) if not isinstance(config.get(k), str)]
    if missing:
        raise CheckpointError(f"{path / CONFIG_NAME} carries no {' or '.join(missing)}, so nothing proves the model "
                              f"dir is as written (hand-made, or from an older jepa-edge); re-save it with jepa-edge, "
                              f"or pass --trust-unverified (trust_unverified=True) to load it unchecked")
    if canonical_json_sha256(config, CONFIG_HASH) != config[CONFIG_HASH]:
        raise CheckpointError(f"{path / CONFIG_NAME} was modified after it was written (its content no longer "
                              f"matches {CONFIG_HASH}); re-create the model dir, or pass --trust-unverified to load "
                              f"it as it is")
    if sha256_file(weights) != config["weights_sha256"]:
        raise CheckpointError(f"{weights}: sha256 differs from config.json (corrupt or modified); re-convert it")


def strict_load(module: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """load_state_dict that refuses any mismatch, listing every offending key."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if tuple(state[k].shape) != tuple(own[k].shape)
    )
    if missing or unexpected or shapes:
        lines = [f"{what}: weights do not match the architecture"]
        if missing:
            lines.append(f"missing keys ({len(missing)}): {', '.join(missing)}")
        if unexpected:
            lines.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected)}")
        if shapes:
            lines.append(f"shape mismatches ({len(shapes)}): {'; '.join(shapes)}")
        raise CheckpointError("; ".join(lines))
    # assign: the module's tensors become the loaded ones (no second copy of a multi-GB model)
    module.load_state_dict(state, strict=True, assign=True)


def build_for_loading(mod_cls, cfg) -> nn.Module:
    """A module whose weights are about to be overwritten: built on the meta device (no random init:
    ~15 s for a ViT-L on 2 cores) when it can recompute its constant buffers (`init_buffers()`)."""
    if not hasattr(mod_cls, "init_buffers"):
        return mod_cls(cfg)
    with torch.device("meta"):
        module = mod_cls(cfg)
    module = module.to_empty(device="cpu")
    module.init_buffers()
    return module


def read_config(path) -> dict:
    path = resolve_model_path(path)
    cfg_file = path / CONFIG_NAME
    if not cfg_file.is_file():
        raise CheckpointError(f"{path} is not a jepa-edge model dir (no {CONFIG_NAME}); "
                              "convert an official checkpoint with `jepa-edge convert`")
    config = read_json(cfg_file, CheckpointError, "re-create the model dir")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{cfg_file}: not a {FORMAT} config (format={config.get('format')!r})")
    if int(config.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(f"{cfg_file}: format_version {config['format_version']} is newer than this "
                              f"jepa-edge understands ({FORMAT_VERSION}); upgrade jepa-edge")
    return config


def load_model_dir(path, device: str | torch.device = "cpu", verify: bool = True,
                   trust_unverified: bool = False) -> ModelDir:
    """Rebuild every part a model dir holds and load its weights strictly; modules come back in eval mode.
    `verify`: check config.json's own hash and the weights' against it, refusing a dir without them
    unless `trust_unverified` (which loads it unchecked)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = resolve_model_path(path)
    config = read_config(path)
    weights = path / WEIGHTS_NAME
    if not weights.is_file():
        raise CheckpointError(f"{path}: {WEIGHTS_NAME} is missing")
    if verify and not trust_unverified:
        verify_config(path, config, weights)
    try:
        tensors = load_file(str(weights), device=str(device))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{weights} cannot be read ({e}); the file is corrupt or truncated") from None
    if config.get("weights_dtype"):  # stored in fp16 to ship small: the modules compute in fp32
        tensors = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    bundle = bundle_from_state(config, tensors, what=str(path))
    for module in bundle.parts().values():
        module.to(device)
    return bundle


def bundle_from_state(config: dict, state: dict[str, torch.Tensor], what: str = "model") -> ModelDir:
    """Build every part named in `config` (keys encoder / predictor / ac_predictor) and load the
    `<part>.`-prefixed tensors of `state` into it strictly. Modules come back in eval mode."""
    parts = config.get("parts") or [p for p in PARTS if p in config]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise CheckpointError(f"{what}: unknown parts {unknown}; known: {list(PARTS)}")
    stray = sorted({k.split(".", 1)[0] for k in state} - set(parts))
    if stray:
        raise CheckpointError(f"{what}: tensors for parts not in the config: {stray}")
    if "encoder" not in parts:
        raise CheckpointError(f"{what}: no encoder part")
    bundle = ModelDir(config=config)
    for part in parts:
        cfg_cls, mod_cls = _part_classes(part)
        module = build_for_loading(mod_cls, cfg_cls.from_dict(config[part]))
        prefix = part + "."
        strict_load(module, {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}, f"{what} [{part}]")
        setattr(bundle, part, module.eval())
    return bundle


def amend_config(path: str | Path, **entries) -> None:
    """Add top-level entries to a model dir's config.json, re-signed (what happened to the weights
    after they were written: the recipe they came from, measured planner settings)."""
    config = read_config(path)
    config.update(entries)
    atomic_write_json(resolve_model_path(path) / CONFIG_NAME, sign_config(config))

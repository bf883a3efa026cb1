"""Teachers in the Hugging Face layout: a directory written by transformers' `save_pretrained`
(config.json with `model_type` "vjepa2" or "ijepa", plus model.safetensors or a sharded
model.safetensors.index.json), or `hf://ORG/NAME[@REV]` from the local Hugging Face cache.

Architecture comes from config.json, never guessed from the weights: width, depth, heads, MLP width,
patch, tubelet, input size, clip length, LayerNorm eps, qkv bias. Loading is as strict as for the
official files: the expected transformers keys are derived from our modules, and every missing,
unexpected or mis-shaped key is named (transformers' own names). The only keys left out on purpose
are task heads that are not part of a JEPA (a classifier, its attentive pooler, I-JEPA's unused
pooler and masked-image-modeling token); they are listed in config.json's `source.dropped_unused`.

Key names and math follow transformers' modeling_vjepa2.py and modeling_ijepa.py (v4.52 .. v5):
- V-JEPA 2 (`VJEPA2Model`): `encoder.embeddings.patch_embeddings.proj` (Conv3d), `encoder.layer.N.
  {norm1, attention.{query,key,value,proj}, norm2, mlp.{fc1,fc2}}`, `encoder.layernorm`; 3D RoPE in
  attention with the official V-JEPA 2 frequency layout (no position table). Predictor:
  `predictor.embeddings.{predictor_embeddings, mask_tokens [n, 1, 1, P]}`, `predictor.layer.N.*`,
  `predictor.layernorm`, `predictor.proj`; our MaskTokenPredictor holds it exactly. transformers'
  VJEPA2Predictor always uses mask token 1 (`mask_index=1`): call ours with `mask_index=1` to match.
- I-JEPA (`IJepaModel`): the ViT layout save_pretrained writes (transformers 5 converts it back on
  save): `embeddings.patch_embeddings.projection`, `embeddings.position_embeddings` [1, N, D] (a
  learned table, stored as a weight), `encoder.layer.N.{layernorm_before, attention.attention.
  {query,key,value}, attention.output.dense, layernorm_after, intermediate.dense, output.dense}`,
  `layernorm`. The table becomes our encoder's `pos_embed` buffer, added once, fixed, carried in
  model.safetensors (as converted official I-JEPA tables are); so the input size is the table's.
  transformers has no I-JEPA predictor: the encoder only.

Pure where it can be: `convert_hf(hf_config, state_dict) -> (config, state)` does no I/O.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch

from jepa_edge.checkpoints.jepa_vit import _mlp_ratio
from jepa_edge.checkpoints.official import abbrev, check_finite, check_keys
from jepa_edge.errors import CheckpointError, ConfigError, MissingExtraError
from jepa_edge.models.config import EncoderConfig, PredictorConfig
from jepa_edge.models.registry import ARCHS
from jepa_edge.utils.files import read_json

HF_MODEL_TYPES = ("vjepa2", "ijepa")
CONFIG, WEIGHTS, INDEX = "config.json", "model.safetensors", "model.safetensors.index.json"
URL_PREFIX = "hf://"
# Task heads a JEPA teacher does not need, per model_type (key prefixes after the base-model prefix).
_HEADS = {"vjepa2": ("pooler.", "classifier."), "ijepa": ("pooler.", "classifier.", "embeddings.mask_token")}
# What *ForVideoClassification / *ForImageClassification wrap the base model in.
_BASE_PREFIX = {"vjepa2": "vjepa2.", "ijepa": "ijepa."}
_CLASSIFIERS = ("VJEPA2ForVideoClassification", "IJepaForImageClassification")


# ------------------------------------------------------------------------------ hf:// URLs

def is_hf_url(src) -> bool:
    return isinstance(src, str) and src.startswith(URL_PREFIX)


def parse_hf_url(src: str) -> tuple[str, str | None]:
    """"hf://ORG/NAME[@REV]" -> ("ORG/NAME", REV or None)."""
    body = src[len(URL_PREFIX):]
    repo, _, rev = body.partition("@")
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", repo) or (_ and not rev):
        raise ConfigError(f"{src!r} is not a Hugging Face reference: expected hf://ORG/NAME or hf://ORG/NAME@REVISION")
    return repo, rev or None


def _hub_cache() -> str:
    """The cache huggingface_hub reads, from the environment now (its constants are fixed at import)."""
    import huggingface_hub.constants as c

    env = os.environ
    if env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE"):
        return env.get("HF_HUB_CACHE") or env["HUGGINGFACE_HUB_CACHE"]
    if env.get("HF_HOME"):
        return os.path.join(env["HF_HOME"], "hub")
    return c.HF_HUB_CACHE


def resolve_hf(src: str) -> Path:
    """hf://ORG/NAME[@REV] -> the snapshot folder in the local Hugging Face cache. Never downloads:
    a repo that is not cached is one error naming the command that fetches it."""
    repo, rev = parse_hf_url(src)
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise MissingExtraError("huggingface_hub", "hf", f"needed to read {src} from the Hugging Face cache; "
                                "or pass the model's local directory instead") from None
    cache = _hub_cache()
    fetch = f"hf download {repo}" + (f" --revision {rev}" if rev else "")
    try:
        path = snapshot_download(repo, revision=rev, cache_dir=cache, local_files_only=True)
    except Exception as e:  # LocalEntryNotFoundError and kin: every failure is the same advice
        raise CheckpointError(f"{src}: {repo}" + (f" at revision {rev}" if rev else "")
                              + f" is not in the local Hugging Face cache ({cache}); fetch it first with "
                              f"`{fetch}` (older huggingface_hub: `huggingface-cli download {repo}`), "
                              f"or point HF_HUB_CACHE at the cache that holds it [{type(e).__name__}]") from None
    return Path(path)


# ------------------------------------------------------------------------------ the directory

def read_hf_config(path) -> dict:
    """config.json of a save_pretrained directory, checked to be a model type we convert."""
    path = Path(path)
    cfg_file = path / CONFIG
    if not path.is_dir():
        raise CheckpointError(f"{path}: not a directory; a Hugging Face model is a folder with {CONFIG} and {WEIGHTS}")
    if not cfg_file.is_file():
        raise CheckpointError(f"{path}: no {CONFIG}, so not a Hugging Face (transformers save_pretrained) model dir")
    cfg = read_json(cfg_file, CheckpointError, "save the model again (save_pretrained) or download it again")
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{cfg_file} holds a {type(cfg).__name__}, not a config object")
    if cfg.get("format") == "jepa-edge-model":
        raise CheckpointError(f"{path} is already a jepa-edge model dir; use it as it is")
    mt = cfg.get("model_type")
    if mt not in HF_MODEL_TYPES:
        raise CheckpointError(f"{cfg_file}: model_type {mt!r} is not a JEPA teacher jepa-edge converts "
                              f"(known: {', '.join(HF_MODEL_TYPES)})")
    return cfg


def looks_like_hf_dir(path) -> bool:
    """A folder whose config.json names a transformers model_type (format detection for `convert`)."""
    try:
        cfg = json.loads((Path(path) / CONFIG).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(cfg, dict) and "model_type" in cfg and cfg.get("format") != "jepa-edge-model"


def _load_safetensors(file: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{file} cannot be read as safetensors ({e}); the file is corrupt or truncated, "
                              "download it again") from None


def read_hf_weights(path) -> dict[str, torch.Tensor]:
    """model.safetensors, or every shard a model.safetensors.index.json names (each key checked to
    be in the shard the index says). Pickled pytorch_model.bin files are not read."""
    path = Path(path)
    if (path / WEIGHTS).is_file():
        return _load_safetensors(path / WEIGHTS)
    if (path / INDEX).is_file():
        try:
            weight_map = json.loads((path / INDEX).read_text())["weight_map"]
            assert isinstance(weight_map, dict) and all(isinstance(v, str) for v in weight_map.values())
        except (ValueError, KeyError, TypeError, AssertionError):
            raise CheckpointError(f"{path / INDEX}: not a safetensors shard index "
                                  "(no weight_map of key -> file)") from None
        shards = sorted(set(weight_map.values()))
        missing = [s for s in shards if Path(s).name != s or not (path / s).is_file()]
        if missing:
            raise CheckpointError(f"{path / INDEX} names {len(missing)} shard(s) not in {path}: {abbrev(missing)}; "
                                  "the download is incomplete, fetch the model again")
        state: dict[str, torch.Tensor] = {}
        for shard in shards:
            part = _load_safetensors(path / shard)
            wrong = sorted(k for k in part if weight_map.get(k) != shard)
            if wrong:
                raise CheckpointError(f"{path / shard} holds keys its index does not place there: {abbrev(wrong)}")
            state.update(part)
        absent = sorted(set(weight_map) - set(state))
        if absent:
            raise CheckpointError(f"{path / INDEX} lists keys no shard holds: {abbrev(absent)}")
        return state
    legacy = [n for n in ("pytorch_model.bin", "pytorch_model.bin.index.json") if (path / n).exists()]
    raise CheckpointError(f"{path}: no {WEIGHTS} or {INDEX}"
                          + (f" (only {legacy[0]}, a pickle jepa-edge does not load: re-save it with "
                             "save_pretrained(..., safe_serialization=True))" if legacy else
                             "; the weights were not downloaded (fetch the model again)"))


# ------------------------------------------------------------------------------ key mapping

# our block sub-module -> transformers', per model type; "qkv" is our fused Linear, three of theirs
_BLOCK = {
    "vjepa2": {"norm1": "norm1", "attn.proj": "attention.proj", "norm2": "norm2", "mlp.fc1": "mlp.fc1",
               "mlp.fc2": "mlp.fc2", "qkv": "attention"},
    "ijepa": {"norm1": "layernorm_before", "attn.proj": "attention.output.dense", "norm2": "layernorm_after",
              "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense", "qkv": "attention.attention"},
}
# our top-level names -> transformers', per part; mask tokens are [n, P] here and [n, 1, 1, P] there
_TOP = {
    ("vjepa2", "encoder"): ("encoder.layer.", {"patch_embed.proj": "encoder.embeddings.patch_embeddings.proj",
                                                "norm": "encoder.layernorm"}),
    ("vjepa2", "predictor"): ("predictor.layer.", {"embed": "predictor.embeddings.predictor_embeddings",
                                                    "mask_tokens": "predictor.embeddings.mask_tokens",
                                                    "norm": "predictor.layernorm", "proj": "predictor.proj"}),
    ("ijepa", "encoder"): ("encoder.layer.", {"patch_embed.proj": "embeddings.patch_embeddings.projection",
                                              "pos_embed": "embeddings.position_embeddings", "norm": "layernorm"}),
}


def _hf_names(model_type: str, part: str, key: str, shape: tuple) -> list[tuple[str, tuple]]:
    """Our key (+ its shape) -> the transformers keys (+ shapes) that make it."""
    layer_prefix, tops = _TOP[(model_type, part)]
    block = _BLOCK[model_type]
    m = re.fullmatch(r"blocks\.(\d+)\.(.+)\.(weight|bias)", key)
    if m:
        i, mod, leaf = m.groups()
        if mod == "attn.qkv":
            return [(f"{layer_prefix}{i}.{block['qkv']}.{n}.{leaf}", (shape[0] // 3, *shape[1:]))
                    for n in ("query", "key", "value")]
        return [(f"{layer_prefix}{i}.{block[mod]}.{leaf}", shape)]
    if key == "mask_tokens":
        return [(tops[key], (shape[0], 1, 1, shape[1]))]
    head, _, leaf = key.rpartition(".") if key not in tops else (key, "", "")
    return [(tops[head] + (f".{leaf}" if leaf else ""), shape)]


def _plan(model_type: str, part: str, module_cls, cfg) -> dict[str, list[tuple[str, tuple]]]:
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in module_cls(cfg).state_dict().items()}
    return {k: _hf_names(model_type, part, k, s) for k, s in expected.items()}


def _build(plan: dict, sd: dict, prefix: str) -> dict[str, torch.Tensor]:
    """Our `prefix`-ed state dict from checked transformers tensors (q, k, v concatenated in that
    order: our fused qkv rows are (3, heads, head_dim), theirs are (heads, head_dim) each)."""
    out = {}
    for ours, sources in plan.items():
        parts = [sd[hf].detach().float() for hf, _ in sources]
        t = torch.cat(parts, dim=0) if len(parts) == 3 else parts[0]
        if ours == "mask_tokens":
            t = t.reshape(t.shape[0], t.shape[-1])  # [n, 1, 1, P] -> [n, P]
        out[prefix + ours] = t.clone().contiguous()
    return out


# ------------------------------------------------------------------------------ config.json -> our configs

def _square(cfg: dict, key: str) -> int:
    v = cfg.get(key)
    if isinstance(v, (list, tuple)):
        if len(v) != 2 or v[0] != v[1]:
            raise CheckpointError(f"config.json {key} {v}: only square {key}s are supported")
        v = v[0]
    if not isinstance(v, int) or v <= 0:
        raise CheckpointError(f"config.json: {key} must be a positive integer, got {v!r}")
    return v


def _int(cfg: dict, key: str, default=None) -> int:
    v = cfg.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise CheckpointError(f"config.json: {key} must be a positive integer, got {v!r}")
    return v


def _arch(width: int, depth: int, heads: int) -> str:
    named = [n for n, spec in ARCHS.items() if spec == (width, depth, heads)]
    return named[0] if named else f"vit_custom_{width}x{depth}"


def _check_act(cfg: dict) -> None:
    act = cfg.get("hidden_act", "gelu")
    if act != "gelu":
        raise CheckpointError(f"config.json: hidden_act {act!r}; jepa-edge's blocks use the exact (erf) GELU, "
                              "which transformers calls 'gelu'")


def _configs(hf: dict, *, img_size=None, frames=None) -> tuple[EncoderConfig, PredictorConfig | None]:
    mt = hf["model_type"]
    _check_act(hf)
    width, depth, heads = _int(hf, "hidden_size"), _int(hf, "num_hidden_layers"), _int(hf, "num_attention_heads")
    patch = _square(hf, "patch_size")
    eps = float(hf.get("layer_norm_eps", 1e-6 if mt == "vjepa2" else 1e-12))
    qkv_bias = bool(hf.get("qkv_bias", True))
    try:
        if mt == "ijepa":
            size = _square(hf, "image_size")
            if img_size is not None and img_size != size:
                raise CheckpointError(f"I-JEPA's learned position table is for {size} px (config.json image_size); "
                                      f"--img-size {img_size} does not match it")
            if frames is not None:
                raise CheckpointError("I-JEPA is an image model: --frames does not apply")
            hidden = _int(hf, "intermediate_size")
            enc = EncoderConfig(arch=_arch(width, depth, heads), embed_dim=width, depth=depth, num_heads=heads,
                                mlp_ratio=_mlp_ratio(width, hidden), patch_size=patch, img_size=size,
                                in_chans=_int(hf, "num_channels", 3), pos="sincos", qkv_bias=qkv_bias, norm_eps=eps)
            return enc, None
        tub = _int(hf, "tubelet_size", 2)
        n_frames = frames or _int(hf, "frames_per_clip", 64)
        size = img_size or _square(hf, "crop_size")
        enc = EncoderConfig(arch=_arch(width, depth, heads), embed_dim=width, depth=depth, num_heads=heads,
                            mlp_ratio=float(hf.get("mlp_ratio", 4.0)), patch_size=patch, img_size=size,
                            in_chans=_int(hf, "in_chans", 3), num_frames=n_frames, tubelet_size=tub, pos="rope",
                            qkv_bias=qkv_bias, norm_eps=eps)
        if not enc.is_video:
            raise CheckpointError(f"a V-JEPA 2 clip needs at least 2 frames; got {n_frames} (--frames)")
        pred = PredictorConfig(
            embed_dim=width, predictor_embed_dim=_int(hf, "pred_hidden_size", 384),
            depth=_int(hf, "pred_num_hidden_layers", 12), num_heads=_int(hf, "pred_num_attention_heads", 12),
            mlp_ratio=float(hf.get("pred_mlp_ratio", 4.0)), patch_size=patch, img_size=size, num_frames=n_frames,
            tubelet_size=tub, pos="rope", num_mask_tokens=_int(hf, "pred_num_mask_tokens", 10), out_dim=None,
            qkv_bias=qkv_bias, norm_eps=eps)
        return enc, pred
    except ConfigError as e:
        raise CheckpointError(f"config.json describes a model jepa-edge cannot build: {e}") from None


def hf_state_shapes(hf_config: dict) -> dict[str, tuple]:
    """The transformers keys (and shapes) a base model with this config.json has, in model order:
    what `convert_hf` requires (task heads aside)."""
    from jepa_edge.models.predictor import MaskTokenPredictor
    from jepa_edge.models.vit import VisionTransformer

    mt = hf_config.get("model_type")
    enc_cfg, pred_cfg = _configs(hf_config)
    plans = [_plan(mt, "encoder", VisionTransformer, enc_cfg)]
    if pred_cfg is not None:
        plans.append(_plan(mt, "predictor", MaskTokenPredictor, pred_cfg))
    return {hf: shape for plan in plans for sources in plan.values() for hf, shape in sources}


# ------------------------------------------------------------------------------ the conversion

def _strip_base(sd: dict, mt: str) -> dict:
    """Classification wrappers keep the base model under `vjepa2.` / `ijepa.`: drop that prefix."""
    base = _BASE_PREFIX[mt]
    if any(k.startswith(base) for k in sd):
        return {k[len(base):] if k.startswith(base) else k: v for k, v in sd.items()}
    return sd


def convert_hf(hf_config: dict, sd: dict, *, img_size: int | None = None, frames: int | None = None,
               encoder_only: bool = False, what: str = "Hugging Face model") -> tuple[dict, dict]:
    """transformers config.json dict + its state dict -> (our config dict with `encoder` [+ `predictor`]
    and `source`, our state dict with `encoder.` / `predictor.` prefixes). Pure; strict."""
    from jepa_edge.models.predictor import MaskTokenPredictor
    from jepa_edge.models.vit import VisionTransformer

    mt = hf_config.get("model_type")
    if mt not in HF_MODEL_TYPES:
        raise CheckpointError(f"{what}: model_type {mt!r} is not one jepa-edge converts "
                              f"(known: {', '.join(HF_MODEL_TYPES)})")
    enc_cfg, pred_cfg = _configs(hf_config, img_size=img_size, frames=frames)
    sd = _strip_base(dict(sd), mt)
    archs = hf_config.get("architectures") or []
    classifier = any(a in _CLASSIFIERS for a in archs)

    dropped = sorted(k for k in sd if k.startswith(_HEADS[mt]))
    why_no_predictor = None
    if pred_cfg is not None and (encoder_only or classifier):
        # a classifier fine-tune (VJEPA2ForVideoClassification) does not use the predictor it carries
        why_no_predictor = "--encoder-only" if encoder_only else "a classifier fine-tune does not use its predictor"
        dropped += sorted(k for k in sd if k.startswith("predictor."))
        pred_cfg = None
    sd = {k: v for k, v in sd.items() if k not in set(dropped)}

    plans = {"encoder": _plan(mt, "encoder", VisionTransformer, enc_cfg)}
    if pred_cfg is not None:
        plans["predictor"] = _plan(mt, "predictor", MaskTokenPredictor, pred_cfg)
    expected = {hf: shape for plan in plans.values() for sources in plan.values() for hf, shape in sources}
    desc = f"{what} ({mt}: {enc_cfg.depth} blocks, {enc_cfg.embed_dim} wide" + (
        f"; predictor {pred_cfg.depth} blocks, {pred_cfg.predictor_embed_dim} wide)" if pred_cfg else ")")
    try:
        check_keys(expected, sd, desc)
    except CheckpointError as e:
        hint = ("; the predictor is optional: --encoder-only converts the encoder alone"
                if pred_cfg is not None and any(k.startswith("predictor.") for k in expected if k not in sd) else "")
        raise CheckpointError(f"{e}{hint}") from None

    config = {"encoder": enc_cfg.to_dict()}
    state = _build(plans["encoder"], sd, "encoder.")
    if pred_cfg is not None:
        config["predictor"] = pred_cfg.to_dict()
        state.update(_build(plans["predictor"], sd, "predictor."))
    source = {"format": f"hf-{mt}", "encoder_key": "encoder" if mt == "vjepa2" else "<base model>",
              "model_type": mt}
    for k in ("architectures", "transformers_version"):
        if hf_config.get(k):
            source[k] = hf_config[k]
    if mt == "ijepa":
        source["position"] = "learned table embeddings.position_embeddings, a fixed buffer here"
    if mt == "vjepa2":
        source["predictor_mask_index"] = 1  # what transformers' VJEPA2Predictor uses
    if why_no_predictor:
        source["predictor_left_out"] = why_no_predictor
    if dropped:
        source["dropped_unused"] = dropped
    config["source"] = source
    return config, state


def convert_hf_dir(src, dst, *, img_size: int | None = None, frames: int | None = None,
                   encoder_only: bool = False, **unused) -> Path:
    """A save_pretrained directory or hf://ORG/NAME[@REV] -> our model dir at `dst`."""
    from jepa_edge.models.model_dir import bundle_from_state, save_model_dir

    given = sorted(k for k, v in unused.items() if v is not None)
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ConfigError(f"{flags}: not used for a Hugging Face model, whose architecture comes from its config.json "
                          "(only --img-size, --frames and --encoder-only apply)")
    origin = {}
    if is_hf_url(src):
        repo, rev = parse_hf_url(str(src))
        path = resolve_hf(str(src))
        origin = {"repo": repo, "revision": path.name}  # the snapshot folder is the commit hash
        if rev:
            origin["requested_revision"] = rev
    else:
        path = Path(src)
    hf_config = read_hf_config(path)
    sd = read_hf_weights(path)
    config, state = convert_hf(hf_config, sd, img_size=img_size, frames=frames, encoder_only=encoder_only,
                               what=str(src))
    check_finite(state, str(src))
    bundle = bundle_from_state(config, state, what=str(src))
    source = dict(config["source"], file=str(src) if origin else path.name, **origin)
    return save_model_dir(dst, bundle, source=source)

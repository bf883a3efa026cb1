"""`jepa-edge convert SRC DST --format F`: an official JEPA checkpoint -> our model dir.

Reads an official I-JEPA / V-JEPA / V-JEPA 2 (2.1, AC) checkpoint with torch.load(weights_only=True),
or a Hugging Face teacher (a transformers save_pretrained dir with model_type vjepa2 / ijepa, detected
from its config.json, or hf://ORG/NAME[@REV] from the local Hugging Face cache), maps its tensors to
our modules with shape checks (nothing loaded loosely), writes config.json + model.safetensors, loads
the result back strictly and prints the parameter count per part.
"""
from __future__ import annotations

from pathlib import Path

from jepa_edge.cli import _output
from jepa_edge.errors import ConfigError


def add_arguments(p):
    from jepa_edge.checkpoints import FORMATS, HF_FORMAT

    p.add_argument("src", help="official checkpoint file (.pth.tar / .pt), a Hugging Face model dir, or "
                               "hf://ORG/NAME[@REV] (from the local cache; needs the [hf] extra)")
    p.add_argument("dst", help="model dir to write (config.json + model.safetensors)")
    p.add_argument("--format", choices=[*FORMATS, HF_FORMAT],
                   help="which layout SRC has: an official one (required for official files), or hf "
                        "(transformers save_pretrained; detected from config.json when left out)")
    p.add_argument("--arch", help="registered arch (e.g. vit_large, vit_giant_xformers); default: inferred "
                                  "from the weights")
    p.add_argument("--img-size", type=int, help="input size in px (RoPE models: default 256; 384 for vjepa2.1; "
                                                "hf: crop_size)")
    p.add_argument("--patch", type=int, help="patch size (read from the weights; given, it is checked)")
    p.add_argument("--frames", type=int, help="clip length of video models (RoPE default 16; hf: frames_per_clip)")
    p.add_argument("--tubelet", type=int, help="frames per tubelet (read from the weights; given, it is checked)")
    p.add_argument("--heads", type=int, help="encoder heads (needed when the arch name does not fix them)")
    p.add_argument("--predictor-heads", type=int, help="predictor heads (default: official: the encoder's for "
                                                       "ijepa/vjepa, 12 for vjepa2, 64-wide heads for AC)")
    p.add_argument("--key", help="which sub-dict holds the encoder: encoder | target_encoder | ema_encoder "
                                 "(default: target_encoder; ema_encoder for vjepa2.1)")
    p.add_argument("--encoder-only", action="store_true", help="convert the encoder, skip the predictor")
    p.add_argument("--force", action="store_true", help="overwrite an existing model dir")


def run(args) -> int:
    from rich.table import Table

    from jepa_edge.checkpoints import convert_checkpoint
    from jepa_edge.models.flops import count_params, encoder_macs
    from jepa_edge.models.model_dir import load_model_dir

    dst = Path(args.dst)
    if (dst / "config.json").exists() and not args.force:
        raise ConfigError(f"{dst} already holds a model; pass --force to overwrite it")
    flags = dict(arch=args.arch, img_size=args.img_size, patch=args.patch, frames=args.frames,
                 tubelet=args.tubelet, heads=args.heads, predictor_heads=args.predictor_heads, key=args.key)
    if args.encoder_only:
        flags["encoder_only"] = True
    console = _output.console()
    with _output.status(f"converting {args.src} ({args.format or 'detected'})"):
        path = convert_checkpoint(args.src, dst, args.format, **flags)
        bundle = load_model_dir(path, verify=False)  # proves the written dir loads back strictly
    enc = bundle.encoder_cfg
    table = Table(title=f"{path}: {enc.arch}/{enc.patch_size} at {enc.img_size} px"
                        + (f", {enc.num_frames} frames" if enc.is_video else ""))
    table.add_column("part")
    table.add_column("params", justify="right")
    for name, module in bundle.parts().items():
        table.add_row(name, f"{count_params(module) / 1e6:.2f} M")
    console.print(table)
    src = bundle.config.get("source", {})
    console.print(f"encoder from {src.get('encoder_key', '?')!r}; {encoder_macs(enc) / 1e9:.2f} GMACs per input"
                  + (f"; dropped unused {src['dropped_unused']}" if src.get("dropped_unused") else ""))
    return 0

"""`jepa-edge info MODEL_DIR | --arch NAME --img-size N`: architecture, parameters, GMACs.

Reads a model dir's config.json only (no weights), or describes a registered arch at an input size:
tokens, width/depth/heads, parameters per part and encoder GMACs per input. `--json -` prints it as JSON.
"""
from __future__ import annotations

from jepa_edge.cli import _output
from jepa_edge.errors import ConfigError


def add_arguments(p):
    p.add_argument("model_dir", nargs="?", help="a jepa-edge model dir (reads config.json only)")
    p.add_argument("--arch", help="a registered arch instead of a model dir, e.g. vit_small/16")
    p.add_argument("--img-size", type=int, default=224, help="input size in px with --arch (default %(default)s)")
    p.add_argument("--frames", type=int, default=1, help="clip length (video models)")
    p.add_argument("--pos", choices=["sincos", "rope"], default="sincos",
                   help="position encoding with --arch (default %(default)s)")
    _output.add_json_flag(p, "the description")


def describe(config: dict) -> dict:
    """Params per part and encoder GMACs, from config dicts alone (modules built on the meta device)."""
    import torch

    from jepa_edge.models.config import EncoderConfig
    from jepa_edge.models.flops import count_params, encoder_macs
    from jepa_edge.models.model_dir import PARTS, _part_classes

    enc = EncoderConfig.from_dict(config["encoder"])
    out = {"arch": f"{enc.arch}/{enc.patch_size}", "img_size": enc.img_size, "frames": enc.num_frames,
           "pos": enc.pos, "input_blur": enc.input_blur, "tokens": enc.num_patches, "width": enc.embed_dim,
           "depth": enc.depth, "heads": enc.num_heads, "gmacs": encoder_macs(enc) / 1e9,
           "gflops": 2 * encoder_macs(enc) / 1e9,
           "params": {}}
    for part in PARTS:
        if part in config:
            cfg_cls, mod_cls = _part_classes(part)
            with torch.device("meta"):
                out["params"][part] = count_params(mod_cls(cfg_cls.from_dict(config[part])))
    return out


def run(args) -> int:
    from jepa_edge.models.model_dir import read_config
    from jepa_edge.models.registry import encoder_config

    if (args.model_dir is None) == (args.arch is None):
        raise ConfigError("give either MODEL_DIR or --arch NAME")
    if args.model_dir:
        config = read_config(args.model_dir)
    else:
        config = {"encoder": encoder_config(args.arch, img_size=args.img_size, num_frames=args.frames,
                                            pos=args.pos).to_dict()}
    info = describe(config)
    _output.write_json(args, info)
    if _output.json_to_stdout(args):
        return 0
    from rich.table import Table

    table = Table(title=f"{info['arch']} at {info['img_size']} px" + (f", {info['frames']} frames" if info["frames"] > 1 else ""))
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("tokens", str(info["tokens"]))
    table.add_row("width / depth / heads", f"{info['width']} / {info['depth']} / {info['heads']}")
    table.add_row("positions", info["pos"])
    if info["input_blur"]:
        table.add_row("input low-pass (sigma, px)", f"{info['input_blur']:g}")
    for part, n in info["params"].items():
        table.add_row(f"{part} params", f"{n / 1e6:.2f} M")
    table.add_row("encoder GMACs", f"{info['gmacs']:.2f}")
    table.add_row("encoder GFLOPs (2 per MAC)", f"{2 * info['gmacs']:.2f}")
    _output.results_console(args).print(table)
    return 0

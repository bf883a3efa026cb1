"""`jepa-edge calibrate`: record an INT8 calibration set (+ held-out split for the accuracy gate).

Samples are preprocessed exactly as the model's input (size, normalization from its config.json)
and written as .npz shards with a manifest (source, count, hash); `jepa-edge export --calib` uses
the calibration split to quantize and the held-out split for the accuracy gate.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from jepa_edge.cli import _output
from jepa_edge.errors import ConfigError


def add_arguments(p):
    p.add_argument("model", help="model dir: fixes input size, normalization (and the encoder for --part ac_predictor)")
    p.add_argument("--trust-unverified", action="store_true",
                   help="load a model dir whose config.json carries no hashes (hand-made, older jepa-edge) unchecked")
    p.add_argument("--source", default="world",
                   help="world (built-in), an image folder, a video file, a .npy file, or camera:<index|/dev/videoN>")
    p.add_argument("--part", choices=("encoder", "ac_predictor"), default="encoder",
                   help="which model part the set is for (ac_predictor: token/action/state tuples from world trajectories)")
    p.add_argument("--out", required=True, help="where to write the set, e.g. calibration/world-224")
    p.add_argument("--count", type=int, default=300, help="calibration samples (fewer than 300 gives a warning)")
    p.add_argument("--held-out", type=int, default=100, help="samples kept apart for the accuracy gate")
    p.add_argument("--frames", type=int, default=1, help="frames per AC-predictor sample (--part ac_predictor)")
    p.add_argument("--stride", type=int, default=1, help="frame stride for video sources")
    p.add_argument("--seed", type=int, default=0, help="seed of the world's scenes / the sample order (default 0)")
    p.add_argument("--shard-size", type=int, default=64, help="samples per .npz shard (default %(default)s)")


def run(args) -> int:
    from jepa_edge.models.model_dir import load_model_dir
    from jepa_edge.quant import calib_sources as cs
    from jepa_edge.quant.calibration import write_calibration_set

    if args.count < 1 or args.held_out < 0 or args.frames < 1:
        raise ConfigError("need --count >= 1, --held-out >= 0, --frames >= 1")
    if (Path(args.out) / "manifest.json").exists():
        raise ConfigError(f"{args.out} already holds a calibration set; choose another --out or delete it")
    cs.check_source(args.source)
    bundle = load_model_dir(args.model, trust_unverified=args.trust_unverified)
    config = bundle.config
    total = args.count + args.held_out
    if args.part == "encoder":
        samples = cs.encoder_samples(args.source, bundle.encoder_cfg, config, n=total, seed=args.seed, stride=args.stride)
        norm = config.get("normalization")
    else:
        from jepa_edge.data.lerobot import is_robot_dataset

        if args.source != "world" and not is_robot_dataset(args.source):
            raise ConfigError("AC-predictor calibration records world trajectories (--source world) or a robot "
                              "dataset's (--source DATASET, the LeRobot v3.0 folder train-ac --data trained on)")
        samples = cs.ac_samples(bundle, config, n=total, frames=args.frames, seed=args.seed, source=args.source)
        norm = None
    source = {"kind": args.source.split(":")[0] if ":" in args.source else
              ("world" if args.source == "world" else "path"), "spec": args.source, "seed": args.seed,
              "part": args.part, "model": str(args.model), "model_weights_sha256": config.get("weights_sha256")}
    with _output.progress(transient=True) as bar, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task = bar.add_task(f"recording {total} samples", total=total)
        s = write_calibration_set(args.out, samples, count=args.count, held_out=args.held_out, source=source,
                                  normalization=norm, shard_size=args.shard_size,
                                  progress=lambda k: bar.advance(task, k))
    for w in caught:
        _output.warn(str(w.message))
    shapes = ", ".join(f"{x.name} {list(x.shape)}" for x in s.specs)
    print(f"wrote {s.path}: {s.count('calib')} calibration + {s.count('heldout')} held-out samples ({shapes}), "
          f"hash {s.hash[:16]}")
    return 0

"""The `jepa-edge` command line: a thin shell over the library.

Each subcommand lives in its own module `jepa_edge/cli/<name>.py` exposing
`add_arguments(parser)` and `run(args) -> int`. The table below is the whole CLI.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from jepa_edge.errors import JepaEdgeError

# (subcommand, module, one-line help). Order is the order shown in --help.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("doctor", "doctor", "list usable backends and devices, with versions"),
    ("bridge", "bridge", "serial link to the firmware: run the simulator, ping, watch, jog"),
    ("convert", "convert", "convert an official I-JEPA / V-JEPA / V-JEPA 2 checkpoint to a model dir"),
    ("embed", "embed", "run a model dir's encoder on a .npy of inputs, write tokens .npy"),
    ("pretrain", "pretrain", "I-JEPA / V-JEPA self-supervised pretraining (DDP under torchrun)"),
    ("distill", "distill", "distill a student from a teacher model dir (V-JEPA 2.1 recipe; --dense)"),
    ("train-ac", "train_ac", "train the action-conditioned predictor on a frozen encoder"),
    ("eval", "eval", "probes, intuitive physics, teacher agreement and AC rollout of a model dir"),
    ("calibrate", "calibrate", "record an INT8 calibration set (+ held-out split) from the world, files or a camera"),
    ("export", "export", "export a model part to onnx/onnxruntime/openvino/tensorrt/Jetson kit, INT8 with accuracy gate"),
    ("info", "info", "architecture, parameter count and GMACs of a model dir or a registered arch"),
    ("bench", "bench", "latency p50/p90/p99 per backend x precision, interleaved, vs the measured peak"),
    ("profile", "profile", "per-op time table of a bundle, OpenVINO IR, ONNX or a trtexec profile JSON"),
    ("run", "run", "the on-robot loop: camera -> encoder -> latent planner -> firmware (or --episodes N: goal reaching)"),
    ("demo", "demo", "the whole pipeline on the built-in world in <= 10 min on 2 CPU cores (--quick: <= 3 min)"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jepa-edge", description=__doc__.splitlines()[0])
    from jepa_edge import __version__

    parser.add_argument("--version", action="version", version=f"jepa-edge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module, help_text in COMMANDS:
        mod = importlib.import_module(f"jepa_edge.cli.{module}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Before torch loads OpenMP: threads that spin while they wait steal the cores from each other
    # and from every other process; on a 2-core machine with any other load that made training
    # steps 5-10x slower (measured). Sleeping waiters cost little when the machine is idle.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except JepaEdgeError as e:
        # Our own errors are user errors: one clear message, no traceback.
        print(f"jepa-edge {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jepa-edge {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

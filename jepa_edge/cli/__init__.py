"""The `jepa-edge` command line: a thin shell over the library.

Each subcommand lives in its own module `jepa_edge/cli/<name>.py` exposing
`add_arguments(parser)` and `run(args) -> int`; its docstring is its `--help` text. The table below is
the whole CLI. A command's module is imported only when that command is chosen: `jepa-edge --help`,
`bridge` and `profile` never import torch.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time

from jepa_edge.errors import JepaEdgeError

# (subcommand, module, one-line help). Order is the order shown in --help.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("doctor", "doctor", "list usable backends and devices, with versions"),
    ("bridge", "bridge", "serial link to the firmware: run the simulator, ping, watch, jog"),
    ("convert", "convert", "convert an official or Hugging Face I-JEPA / V-JEPA / V-JEPA 2 checkpoint to a model dir"),
    ("embed", "embed", "run a model dir's encoder on a .npy of inputs, write tokens .npy"),
    ("pretrain", "pretrain", "I-JEPA / V-JEPA self-supervised pretraining (DDP under torchrun)"),
    ("distill", "distill", "distill a student from a teacher model dir (V-JEPA 2.1 recipe; --dense)"),
    ("train-ac", "train_ac", "train the action-conditioned predictor on a frozen encoder"),
    ("train", "train", "a recipe's whole chain: teacher -> student -> AC predictor -> INT8 -> goal reaching, cached and resumable"),
    ("record", "record", "record a robot dataset (LeRobot v3.0) from the world, a Gymnasium env or a robot"),
    ("eval", "eval", "probes, intuitive physics, teacher agreement and AC rollout of a model dir"),
    ("diagnose", "diagnose", "does the planning energy point the way? energy vs distance to go, true frames and AC predictor"),
    ("calibrate", "calibrate", "record an INT8 calibration set (+ held-out split) from the world, files or a camera"),
    ("export", "export", "export a model part to onnx/onnxruntime/openvino/tensorrt/Jetson kit, INT8 with accuracy gate"),
    ("info", "info", "architecture, parameter count and GMACs of a model dir or a registered arch"),
    ("bench", "bench", "latency p50/p90/p99 per backend x precision, interleaved, vs the measured peak"),
    ("profile", "profile", "per-op time table of a bundle, OpenVINO IR, ONNX or a trtexec profile JSON"),
    ("run", "run", "the on-robot loop: camera -> encoder -> latent planner -> firmware (or --episodes N: goal reaching)"),
    ("demo", "demo", "the whole pipeline on the built-in world in <= 10 min on 2 CPU cores (--quick: <= 3 min)"),
)


class _LazyCommands(argparse._SubParsersAction):
    """Subcommands whose arguments are added when the command is chosen: `parse_args` sees the
    command name first, imports only that module, then lets its subparser parse the rest."""

    def __call__(self, parser, namespace, values, option_string=None):
        name = values[0]
        if name in self._name_parser_map:
            load_command(self._name_parser_map[name], name)
        super().__call__(parser, namespace, values, option_string)


_MODULES = {name: module for name, module, _ in COMMANDS}
_log = logging.getLogger("jepa_edge.cli")


def load_command(p: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """Import `name`'s module and give its subparser the module's arguments and docstring (once)."""
    if getattr(p, "_jepa_loaded", False):
        return p
    t0 = time.perf_counter()
    mod = importlib.import_module(f"jepa_edge.cli.{_MODULES[name]}")
    if mod.__doc__:
        p.description = mod.__doc__.strip()
    mod.add_arguments(p)
    p.set_defaults(_run=mod.run)
    p._jepa_loaded = True
    _log.debug("command %s: jepa_edge.cli.%s loaded in %.0f ms", name, _MODULES[name], 1e3 * (time.perf_counter() - t0))
    return p


def build_parser() -> argparse.ArgumentParser:
    """The whole CLI's parser. Cheap: subcommand modules load only when `parse_args` meets their name."""
    from jepa_edge import __version__

    parser = argparse.ArgumentParser(
        prog="jepa-edge", description=__doc__.splitlines()[0],
        epilog="Global options go before the command: jepa-edge -q COMMAND ... ; "
               "`jepa-edge COMMAND --help` describes each command. "
               "--json PATH writes a command's result as JSON to PATH, --json - prints it to stdout.")
    parser.add_argument("--version", action="version", version=f"jepa-edge {__version__}")
    loud = parser.add_mutually_exclusive_group()
    loud.add_argument("-v", "--verbose", dest="_verbose", action="count", default=0,
                      help="debug logging from jepa-edge (-vv: from every library too)")
    loud.add_argument("-q", "--quiet", dest="_quiet", action="store_true",
                      help="only results and errors: no progress bars, spinners or info lines")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, action=_LazyCommands)
    for name, _module, help_text in COMMANDS:
        sub.add_parser(name, help=help_text, description=help_text,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    return parser


def command_parser(name: str) -> argparse.ArgumentParser:
    """The fully built subparser of one command (for tests and docs)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, _LazyCommands))
    return load_command(sub.choices[name], name)


def main(argv: list[str] | None = None) -> int:
    # Before torch loads OpenMP: threads that spin while they wait steal the cores from each other
    # and from every other process; on a 2-core machine with any other load that made training
    # steps 5-10x slower (measured). Sleeping waiters cost little when the machine is idle.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from jepa_edge.cli import _output

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error argparse already printed
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    # A command run inside another (the demo's steps) keeps the outer verbosity unless given its own.
    level = _output.QUIET if args._quiet else args._verbose if args._verbose else _output.level()
    with _output.verbosity(level):
        _log.debug("jepa-edge %s: %s", args.command, " ".join(sys.argv[1:] if argv is None else argv))
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

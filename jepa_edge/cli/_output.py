"""How commands talk: verbosity (-q / -v), the console, progress bars and `--json PATH|-`.

One rule for output, in every command:
- results (tables, the answer asked for) go to stdout, or to stderr when `--json -` puts the JSON on
  stdout, so that `jepa-edge CMD ... --json - | jq` always reads clean JSON;
- progress bars, spinners and info lines ("wrote X") go to stderr and are silenced by `-q`;
- `-v` turns on debug logging (`jepa_edge.*` loggers), `-vv` everything's;
- errors always print.
"""
from __future__ import annotations

import contextlib
import json
import logging
import sys

QUIET, NORMAL, VERBOSE = -1, 0, 1
_level = NORMAL
_LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def level() -> int:
    return _level


def quiet() -> bool:
    return _level <= QUIET


@contextlib.contextmanager
def verbosity(new: int):
    """Set the verbosity (and logging levels) for the duration of one command; a command run inside
    another (the demo's steps) inherits it unless it asks for its own."""
    global _level
    saved, saved_logging = _level, _logging_state()
    _level = new
    _configure_logging(new)
    try:
        yield
    finally:
        _level = saved
        _restore_logging(saved_logging)


def _logging_state():
    return logging.getLogger().level, logging.getLogger("jepa_edge").level


def _restore_logging(state) -> None:
    logging.getLogger().setLevel(state[0])
    logging.getLogger("jepa_edge").setLevel(state[1])


def _configure_logging(v: int) -> None:
    root = logging.getLogger()
    if not root.handlers:  # an application embedding us (or pytest) keeps its own handlers
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if v >= 2 else logging.WARNING if v > QUIET else logging.ERROR)
    # Link events (ESTOP acknowledged, reconnects) are warnings: one line each unless -q.
    logging.getLogger("jepa_edge").setLevel(logging.DEBUG if v >= VERBOSE else logging.WARNING if v > QUIET
                                            else logging.ERROR)


# --- consoles --------------------------------------------------------------------------------------

def console(*, stderr: bool = False, width: int | None = None):
    """A rich Console for results (stdout unless `stderr`)."""
    from rich.console import Console

    return Console(stderr=stderr, width=width)


def results_console(args=None, *, wide: bool = False):
    """The console results go to: stdout, or stderr when `--json -` owns stdout. `wide`: do not squeeze
    tables when stdout is not a terminal (logs, CI)."""
    to_stderr = json_to_stdout(args)
    stream = sys.stderr if to_stderr else sys.stdout
    return console(stderr=to_stderr, width=None if (not wide or stream.isatty()) else 160)


def info(message: str) -> None:
    """An info line ("wrote X", "connected to ..."): stderr, silenced by -q."""
    if not quiet():
        print(message, file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """A warning: stderr, printed even under -q (it says something about the result)."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def say(args, message: str) -> None:
    """A line of the command's result: stdout, or stderr when `--json -` owns stdout."""
    print(message, file=sys.stderr if json_to_stdout(args) else sys.stdout, flush=True)


def progress(**kwargs):
    """A rich Progress on stderr that -q silences (same arguments as rich.progress.Progress)."""
    from rich.console import Console
    from rich.progress import Progress

    return Progress(*kwargs.pop("columns", ()), console=Console(stderr=True), disable=quiet(), **kwargs)


def status(message: str):
    """A spinner on stderr while something runs; nothing under -q."""
    if quiet():
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message)


# --- --json PATH | - ---------------------------------------------------------------------------------

def add_json_flag(parser, what: str) -> None:
    """`--json PATH` writes `what` as JSON to PATH; `--json -` prints it to stdout (and the human
    output goes to stderr). Same meaning in every command."""
    parser.add_argument("--json", metavar="PATH",
                        help=f"write {what} as JSON to PATH; '-' prints it to stdout (the tables then go to stderr)")


def json_to_stdout(args) -> bool:
    return getattr(args, "json", None) == "-"


def write_json(args, obj) -> None:
    """Honour `--json`: nothing when absent, stdout for '-', else an atomic file write."""
    path = getattr(args, "json", None)
    if not path:
        return
    if path == "-":
        sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
        sys.stdout.flush()
        return
    from jepa_edge.utils.files import atomic_write_json

    atomic_write_json(path, obj)
    info(f"wrote {path}")

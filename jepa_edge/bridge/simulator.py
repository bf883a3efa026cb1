"""Build and start the C firmware simulator (firmware_bridge/, `make -C firmware_bridge sim`).

The sources ship with jepa-edge (package data, see jepa_edge.utils.resources); `build()` runs their
Makefile with its output in the user cache ($XDG_CACHE_HOME/jepa-edge/firmware-<hash of the sources>,
or $JEPA_EDGE_CACHE/firmware-<hash>), never in site-packages or the source tree.

    with start_simulator() as sim:              # a fresh pty; sim.path is what a Link opens
        with Link(sim.path) as link: ...
    sim = start_simulator(link_path="/tmp/robot")  # also a stable symlink: /tmp/robot -> /dev/pts/N
    sim.reset()   # simulated MCU reset (new boot id);  sim.kill()  # the port vanishes

The simulator runs the same C core as the board (src/), with a simulated actuator whose
velocity follows the command; STATE reports it, so a simulated world can apply what the
firmware really outputs, including its watchdog stops.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import select
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from jepa_edge.bridge.transport import LinkError
from jepa_edge.utils.resources import MissingPackageData, shipped, user_cache_dir

BINARIES = {"sim": "bridge_sim", "sim-v2": "bridge_sim_v2", "vectors-runner": "vectors_runner",
            "fuzz-runner": "fuzz_runner"}


@dataclass(frozen=True)
class SimulatorConfig:
    actuators: int = 2
    period_us: int = 10_000  # control period: the watchdog is checked once per period
    max_valid_ms: int = 1000
    heartbeat_ms: int = 200
    state_ms: int = 20
    accel: float = 0.0  # slew limit in normalized units/s^2; 0 = output follows the command at once
    firmware_id: str = "jepa-sim-1"
    boot_id: int = 0  # 0 = random per start and per reset, like a real board

    def args(self) -> list[str]:
        a = ["--actuators", self.actuators, "--period-us", self.period_us, "--max-valid-ms", self.max_valid_ms,
             "--heartbeat-ms", self.heartbeat_ms, "--state-ms", self.state_ms, "--accel", self.accel,
             "--firmware-id", self.firmware_id]
        if self.boot_id:
            a += ["--boot-id", self.boot_id]
        return [str(x) for x in a]


def firmware_dir() -> Path:
    """The firmware sources shipped with jepa-edge (firmware_bridge/ in a source checkout)."""
    try:
        return shipped("firmware_bridge")
    except MissingPackageData as e:
        raise LinkError(str(e)) from None


def sources_hash(src: Path) -> str:
    """sha256 over the names and bytes of what the Makefile compiles (not build/ outputs)."""
    h = hashlib.sha256()
    files = [src / "Makefile",
             *(p for d in ("src", "sim", "test", "arduino") for p in (src / d).rglob("*") if p.is_file())]
    for p in sorted(files):
        h.update(p.relative_to(src).as_posix().encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()


def build_dir(src: Path | None = None) -> Path:
    """Where `build()` puts the binaries: one folder per version of the sources, in the user cache."""
    src = src or firmware_dir()
    return user_cache_dir() / f"firmware-{sources_hash(src)[:16]}"


def build(target: str = "sim") -> Path:
    """`make -C <sources> BUILD=<build_dir()> TARGET` (serialized by a lock file); returns the binary's path."""
    src = firmware_dir()
    if shutil.which("make") is None or (shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None):
        raise LinkError("building the firmware simulator needs make and a C compiler "
                        "(Debian/Ubuntu: sudo apt install build-essential)")
    out = build_dir(src)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LinkError(f"cannot create the firmware build folder {out} ({e}): set JEPA_EDGE_CACHE to a "
                        f"writable folder") from None
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test workers / loops must not race make
        r = subprocess.run(["make", "-s", "-C", str(src), f"BUILD={out}", target], capture_output=True, text=True)
    if r.returncode != 0:
        raise LinkError(f"make -C {src} BUILD={out} {target} failed:\n{r.stdout}{r.stderr}")
    return out / BINARIES[target]


class SimulatorProcess:
    """A running simulator. `path` is the URL to give a Link (the symlink if one was asked for)."""

    def __init__(self, proc: subprocess.Popen, path: str, device: str):
        self.proc = proc
        self.path = path
        self.device = device  # the pty itself (/dev/pts/N), or the socket URL

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def reset(self) -> None:
        """Simulate an MCU reset: outputs off, session forgotten, a new boot id."""
        self._signal(signal.SIGUSR1)

    def toggle_mute(self) -> None:
        """Make the firmware's transmitter go silent (or talk again): a hung UART."""
        self._signal(signal.SIGUSR2)

    def kill(self) -> None:
        """The port vanishes abruptly (like a yanked USB cable): SIGKILL, no cleanup."""
        if self.alive:
            self.proc.kill()
        self.proc.wait()
        self._close_pipes()

    def stop(self, timeout_s: float = 2.0) -> None:
        if self.alive:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_pipes()

    def _signal(self, sig) -> None:
        if self.alive:
            self.proc.send_signal(sig)

    def _close_pipes(self) -> None:
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> "SimulatorProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SimulatorProcess(pid={self.pid}, path={self.path!r}, alive={self.alive})"


def start_simulator(link_path: str | os.PathLike | None = None, *, config: SimulatorConfig | None = None,
                    tcp_port: int | None = None, protocol_v2: bool = False, verbose: bool = False,
                    exit_with_parent: bool = True, startup_timeout_s: float = 5.0) -> SimulatorProcess:
    """Build (if needed) and start the simulator on a new pty, or on 127.0.0.1:`tcp_port`.
    With `link_path`, a symlink there points at the pty (replaced atomically on restart), so a
    Link opened on that path finds the new pty after the old process died.

    `exit_with_parent` (Linux): the simulator gets SIGTERM when the *thread* that started it
    ends, even if this process is killed, so tests and loops never leave one behind. Start it
    from a long-lived thread (the main thread), or pass False and call stop() yourself.
    `protocol_v2` starts a build that claims protocol 2.0 (to see a version mismatch refused)."""
    binary = build("sim-v2" if protocol_v2 else "sim")
    cmd = [str(binary), *(config or SimulatorConfig()).args()]
    if exit_with_parent:
        cmd.append("--exit-with-parent")
    if tcp_port is not None:
        cmd += ["--tcp", str(tcp_port)]
    elif link_path is not None:
        cmd += ["--link", str(link_path)]
    if verbose:
        cmd.append("-v")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            stderr=None if verbose else subprocess.DEVNULL)
    line = b""
    deadline = time.monotonic() + startup_timeout_s
    while not line.endswith(b"\n") and time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stdout], [], [], 0.05)[0]:
            chunk = os.read(proc.stdout.fileno(), 256)
            if not chunk:
                break
            line += chunk
    kind, _, where = line.decode(errors="replace").strip().partition(" ")
    if kind not in ("PTY", "TCP"):
        proc.kill()
        proc.wait()
        raise LinkError(f"the firmware simulator did not start ({' '.join(cmd)}; exit {proc.returncode}, "
                        f"said {line!r}); run it by hand with -v to see why")
    if kind == "TCP":
        return SimulatorProcess(proc, f"socket://127.0.0.1:{where}", f"socket://127.0.0.1:{where}")
    return SimulatorProcess(proc, str(link_path) if link_path is not None else where, where)

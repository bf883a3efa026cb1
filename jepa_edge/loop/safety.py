"""Safety: every stage's failure becomes a fault; each fault kind has a policy: stop or recover.

- "stop": send a zero command and ESTOP, then shut the loop down cleanly with a report.
- "recover": send zero commands while the fault lasts; resume after `recover_after_ticks`
  consecutive healthy ticks; a fault that lasts longer than `max_fault_s` stops the run anyway.

Interrupts (Ctrl-C, SIGTERM), a stalled loop and unexpected internal errors always stop.
A separate watchdog thread ESTOPs the robot if a perception tick itself hangs (a backend that
never returns), because then the loop cannot act; the firmware's own command validity window
is the last line of defence behind that.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Literal

from jepa_edge.loop.config import FaultPolicy, SafetyConfig
from jepa_edge.robot.faults import FaultKind, StopReason

__all__ = ["FaultAction", "FaultEvent", "FaultKind", "LoopWatchdog", "SafetyMonitor", "StopReason"]

# What a fault event did: a policy ("stop", "recover"), "resumed" after recovery, or what the
# surprise policy did ("log", "slow", and "stop" for a surprise stop that resumes by itself).
FaultAction = Literal["stop", "recover", "resumed", "log", "slow"]


@dataclass(frozen=True)
class FaultEvent:
    t: float  # seconds since the loop started
    tick: int
    kind: FaultKind
    detail: str
    action: FaultAction

    def to_dict(self) -> dict:
        return {"t": round(self.t, 4), "tick": self.tick, "kind": self.kind.value, "detail": self.detail,
                "action": self.action}


class SafetyMonitor:
    """Decides, tick by tick, whether commands may flow, and records every fault event."""

    def __init__(self, cfg: SafetyConfig, t0: float | None = None):
        self.cfg = cfg
        self.t0 = time.monotonic() if t0 is None else t0
        self.events: list[FaultEvent] = []
        self.active: dict[FaultKind, float] = {}  # fault kind -> when it began (monotonic)
        self.healthy_streak = 0
        self.stop_reason: StopReason | None = None  # the first fault that stopped the run
        self._lock = threading.Lock()

    def policy(self, kind: FaultKind) -> FaultPolicy:
        """The `[safety]` policy of `kind`; kinds without one (interrupt, loop stall, internal) stop."""
        return self.cfg.policy(kind)

    def report(self, kind: FaultKind, detail: str, tick: int) -> FaultPolicy:
        """A stage failed this tick. Returns the policy applied ("stop" or "recover")."""
        now = time.monotonic()
        with self._lock:
            action = self.policy(kind)
            first = kind not in self.active
            self.active.setdefault(kind, now)
            self.healthy_streak = 0
            if action == "recover" and now - self.active[kind] > self.cfg.max_fault_s:
                action, detail = "stop", f"{detail} (still failing after {self.cfg.max_fault_s:.1f}s)"
            if first or action == "stop":
                self.events.append(FaultEvent(now - self.t0, tick, kind, detail, action))
            if action == "stop" and self.stop_reason is None:
                self.stop_reason = StopReason(kind, detail)
            return action

    def healthy(self, tick: int) -> bool:
        """This tick had no fault. True when commands may flow (no fault, or recovered)."""
        with self._lock:
            if not self.active:
                return True
            self.healthy_streak += 1
            if self.healthy_streak < self.cfg.recover_after_ticks:
                return False
            now = time.monotonic()
            for kind in sorted(self.active, key=lambda k: k.value):
                self.events.append(FaultEvent(now - self.t0, tick, kind, "healthy again", "resumed"))
            self.active.clear()
            return True

    def log(self, kind: FaultKind, detail: str, tick: int, action: FaultAction = "log") -> None:
        with self._lock:
            self.events.append(FaultEvent(time.monotonic() - self.t0, tick, kind, detail, action))

    @property
    def faulted(self) -> bool:
        return bool(self.active)

    @property
    def must_stop(self) -> bool:
        return self.stop_reason is not None


class LoopWatchdog:
    """A thread that calls `on_stall()` once if `kick()` is not called within `timeout_s`."""

    def __init__(self, timeout_s: float, on_stall: Callable[[float], None]):
        self.timeout_s = timeout_s
        self.on_stall = on_stall
        self._last = time.monotonic()
        self._stop = threading.Event()
        self.fired = False
        self._thread = threading.Thread(target=self._run, name="loop-watchdog", daemon=True)

    def start(self) -> "LoopWatchdog":
        self._last = time.monotonic()
        self._thread.start()
        return self

    def kick(self) -> None:
        self._last = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(self.timeout_s / 4):
            silent = time.monotonic() - self._last
            if silent > self.timeout_s and not self.fired:
                self.fired = True
                try:
                    self.on_stall(silent)
                except Exception:  # the watchdog must never die of the thing it guards against
                    pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1.0)

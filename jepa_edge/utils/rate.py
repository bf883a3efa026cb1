"""A drift-free rate timer: the loop, the planner thread and the simulated worlds all tick on it."""
from __future__ import annotations

import threading
import time

class RateTimer:
    """Ticks at `hz` on an absolute schedule (no drift); late ticks are skipped, not bunched."""

    def __init__(self, hz: float, stop: threading.Event | None = None):
        self.period = 1.0 / hz
        self.stop = stop or threading.Event()
        self.next = time.monotonic()

    def wait(self) -> tuple[float, int]:
        """Sleep until the next tick. Returns (its scheduled time, ticks skipped because we were late)."""
        now = time.monotonic()
        skipped = 0
        if now > self.next + self.period:  # more than a whole period late: drop the missed ticks
            skipped = int((now - self.next) / self.period)
            self.next += skipped * self.period
        delay = self.next - now
        if delay > 0:
            self.stop.wait(delay)
        scheduled = self.next
        self.next += self.period
        return scheduled, skipped

"""Scheduling: a drift-free rate timer, the latest-plan slot, and the asynchronous planner thread.

Perception runs at a fixed rate on the newest frame; planning runs on its own thread at its own
rate, always on the newest latent, warm-started from the previous plan shifted by the time that
passed. A plan is a sequence of actions, one per `1 / action_hz` seconds from when it was
published; perception picks the action for "now" from the newest plan each tick.

Overruns (a replan that finished after its deadline, 1 / planning_hz after it started) follow
`overrun_policy` and are counted:
  skip   - the late plan is discarded, and while the current replan is late no command is sent:
           the firmware's validity window stops the robot;
  hold   - keep executing the shifted previous plan (its last action once it runs out);
  shrink - hold, and scale the planner's samples and budget down (x0.7) until replans fit,
           growing back (x1.1) after each in-time replan.
A plan older than `plan_timeout_ms` is no plan at all: the loop sends a safe command.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from jepa_edge.utils.rate import RateTimer




@dataclass(frozen=True)
class Plan:
    actions: np.ndarray  # [H, A]
    t0: float  # monotonic time its first action starts
    t_obs: float  # capture time of the frame it was planned from
    seq: int
    iterations: int = 0
    samples: int = 0
    plan_ms: float = 0.0
    energy: float = float("nan")

    def step_index(self, now: float, action_dt: float) -> int:
        """Which action step `now` falls in (a boundary counts as the next step despite rounding)."""
        return int((now - self.t0) / action_dt + 1e-6)

    def action_at(self, now: float, action_dt: float) -> tuple[np.ndarray, bool]:
        """The action for `now` and whether it is beyond the plan (held last action)."""
        k = max(self.step_index(now, action_dt), 0)
        beyond = k >= len(self.actions)
        return self.actions[min(k, len(self.actions) - 1)], beyond

    def shifted(self, now: float, action_dt: float) -> np.ndarray:
        """Warm start: the actions not yet executed, padded with the last one."""
        k = min(max(self.step_index(now, action_dt), 0), len(self.actions))
        rest = self.actions[k:]
        pad = np.repeat(self.actions[-1:], len(self.actions) - len(rest), axis=0)
        return np.concatenate([rest, pad]) if len(rest) else pad


@dataclass
class Observation:
    z: np.ndarray  # [N, D]
    state: np.ndarray | None
    t_frame: float
    tick: int


@dataclass
class PlanSlot:
    """What perception and planning share: the newest observation and the newest plan."""

    lock: threading.Condition = field(default_factory=threading.Condition)
    obs: Observation | None = None
    plan: Plan | None = None
    due: float = float("inf")  # deadline of the replan now running
    overruns: int = 0

    def put_obs(self, obs: Observation) -> None:
        with self.lock:
            self.obs = obs
            self.lock.notify_all()

    def get_obs(self, newer_than: int, timeout: float) -> Observation | None:
        with self.lock:
            if self.obs is None or self.obs.tick <= newer_than:
                self.lock.wait(timeout)
            return self.obs if self.obs is not None and self.obs.tick > newer_than else None

    def replan_late(self, now: float) -> bool:
        with self.lock:
            return now > self.due


class PlannerThread:
    """Replans at `hz` on the newest observation; publishes to `slot`; never raises."""

    def __init__(self, planner, z_goal: np.ndarray, slot: PlanSlot, hz: float, action_dt: float,
                 overrun_policy: str, on_plan: Callable[[dict], None], on_error: Callable[[str], None],
                 nice: int = 0):
        self.planner, self.z_goal, self.slot = planner, z_goal, slot
        self.period, self.action_dt = 1.0 / hz, action_dt
        self.policy = overrun_policy
        self.on_plan, self.on_error = on_plan, on_error
        self.nice = nice
        self.stop = threading.Event()
        self.seq = 0
        self.t_start = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="planner", daemon=True)

    def start(self) -> "PlannerThread":
        self._thread.start()
        return self

    def _run(self) -> None:
        if self.nice:
            try:  # per-thread on Linux (a thread is a task with its own id); elsewhere a no-op
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
            except (AttributeError, OSError):
                pass
        timer = RateTimer(1.0 / self.period, self.stop)
        last_tick = -1
        while not self.stop.is_set():
            timer.wait()
            obs = self.slot.get_obs(last_tick, timeout=self.period)
            if obs is None or self.stop.is_set():
                continue
            last_tick = obs.tick
            t_s = time.monotonic()
            with self.slot.lock:
                self.slot.due = t_s + self.period
                prev = self.slot.plan
            warm = prev.shifted(t_s, self.action_dt) if prev is not None else None
            rec = {"t": round(t_s - self.t_start, 4), "obs_tick": obs.tick}
            try:
                actions = self.planner.plan(obs.z, self.z_goal, warm, state=obs.state)
            except Exception as e:  # a backend error in planning is a fault for the loop to handle
                rec.update(error=f"{type(e).__name__}: {e}")
                self.on_plan(rec)
                self.on_error(rec["error"])
                with self.slot.lock:
                    self.slot.due = float("inf")
                continue
            t_e = time.monotonic()
            info = self.planner.last_info
            overrun = t_e > t_s + self.period
            discard = overrun and self.policy == "skip"
            if overrun:
                if self.policy == "shrink":
                    self.planner.scale = max(0.1, self.planner.scale * 0.7)
            elif self.policy == "shrink":
                self.planner.scale = min(1.0, self.planner.scale * 1.1)
            self.seq += 1
            plan = Plan(np.asarray(actions, np.float32), t0=t_e, t_obs=obs.t_frame, seq=self.seq,
                        iterations=info.iterations if info else 0, samples=info.samples if info else 0,
                        plan_ms=(t_e - t_s) * 1e3, energy=info.energy if info else float("nan"))
            with self.slot.lock:
                if overrun:
                    self.slot.overruns += 1
                if not discard:
                    self.slot.plan = plan
                self.slot.due = float("inf")
            rec.update(plan_ms=round(plan.plan_ms, 3), iterations=plan.iterations, samples=plan.samples,
                       energy=None if not np.isfinite(plan.energy) else round(float(plan.energy), 6),
                       overrun=overrun, discarded=discard, scale=round(self.planner.scale, 3),
                       obs_age_ms=round((t_s - obs.t_frame) * 1e3, 3), action=[round(float(v), 4) for v in plan.actions[0]])
            self.on_plan(rec)

    def close(self, timeout: float = 5.0) -> None:
        self.stop.set()
        with self.slot.lock:
            self.slot.lock.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

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

`PlanStep` is one replan (warm start, plan, publish, overrun accounting): the planner thread runs
it on the wall clock, lockstep mode inline on the simulated clock. The budget (and its shrink
factor) is the step's own and goes to the planner with every call. Perception and planning share
only the `PlanSlot`, through its methods.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Literal

import numpy as np

from jepa_edge.planning.planner import Observation, PlanBudget, Planner
from jepa_edge.utils.rate import RateTimer

__all__ = ["Observation", "Plan", "PlanSlot", "PlanStep", "PlannerThread"]

OverrunPolicy = Literal["skip", "hold", "shrink"]  # schedule.overrun_policy
SHRINK, GROW, MIN_SCALE = 0.7, 1.1, 0.1  # overrun policy "shrink": budget scale after a late / in-time replan


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


class PlanSlot:
    """What perception and planning share: the newest observation and the newest plan."""

    def __init__(self):
        self._cond = threading.Condition()
        self._obs: Observation | None = None
        self._plan: Plan | None = None
        self._due = float("inf")  # deadline of the replan now running
        self._overruns = 0

    # ---- perception -> planning ------------------------------------------------------------------
    def put_obs(self, obs: Observation) -> None:
        with self._cond:
            self._obs = obs
            self._cond.notify_all()

    def get_obs(self, newer_than: int, timeout: float) -> Observation | None:
        """The newest observation if newer than tick `newer_than`, waiting up to `timeout` for one."""
        with self._cond:
            if self._obs is None or self._obs.tick <= newer_than:
                self._cond.wait(timeout)
            return self._obs if self._obs is not None and self._obs.tick > newer_than else None

    def wake(self) -> None:
        """Wake a planner waiting in `get_obs` (shutdown)."""
        with self._cond:
            self._cond.notify_all()

    # ---- planning -> perception ------------------------------------------------------------------
    def latest(self) -> Plan | None:
        with self._cond:
            return self._plan

    def begin_replan(self, due: float) -> Plan | None:
        """A replan starts and must finish by `due`; returns the plan it replaces (the warm start)."""
        with self._cond:
            self._due = due
            return self._plan

    def publish(self, plan: Plan, overrun: bool, discard: bool) -> None:
        """A replan finished: count it if late, make it the newest plan unless discarded."""
        with self._cond:
            self._overruns += overrun
            if not discard:
                self._plan = plan
            self._due = float("inf")

    def end_replan(self) -> None:
        """A replan ended without a plan (it failed)."""
        with self._cond:
            self._due = float("inf")

    def replan_late(self, now: float) -> bool:
        with self._cond:
            return now > self._due

    @property
    def overruns(self) -> int:
        with self._cond:
            return self._overruns


class PlanStep:
    """One replan, the same in the planner thread and in lockstep mode.

    Warm-starts from the previous plan shifted to now, calls the planner with the step's budget,
    publishes the plan to the slot (unless the overrun policy discards it), shrinks or grows the
    budget, and reports a telemetry record to `on_plan`. Never raises: any exception is recorded
    and passed to `on_error`. `clock` is the loop's clock (monotonic in realtime, simulated in
    lockstep, where it stands still while the planner runs: no replan is ever late there).
    """

    def __init__(self, planner: Planner, goal: np.ndarray, slot: PlanSlot, period: float, action_dt: float,
                 overrun_policy: OverrunPolicy, budget: PlanBudget, on_plan: Callable[[dict], None],
                 on_error: Callable[[str], None], clock: Callable[[], float] = time.monotonic, t_origin: float = 0.0):
        self.planner, self.goal, self.slot = planner, goal, slot
        self.period, self.action_dt = period, action_dt
        self.policy = overrun_policy
        self.budget = budget
        self.on_plan, self.on_error = on_plan, on_error
        self.clock, self.t_origin = clock, t_origin
        self.seq = 0

    def __call__(self, obs: Observation) -> Plan | None:
        """Replan on `obs`; returns the plan (also when discarded), None when planning failed."""
        rec: dict = {"obs_tick": obs.tick}
        replanning = False
        try:
            t_s = self.clock()
            rec["t"] = round(t_s - self.t_origin, 4)
            prev = self.slot.begin_replan(t_s + self.period)
            replanning = True
            warm = prev.shifted(t_s, self.action_dt) if prev is not None else None
            p0 = time.perf_counter()
            result = self.planner.plan(obs, self.goal, warm, self.budget)
            plan_ms = (time.perf_counter() - p0) * 1e3
            t_e = self.clock()
            overrun = t_e > t_s + self.period
            discard = overrun and self.policy == "skip"
            if self.policy == "shrink":
                scale = max(MIN_SCALE, self.budget.scale * SHRINK) if overrun else min(1.0, self.budget.scale * GROW)
                self.budget = replace(self.budget, scale=scale)
            self.seq += 1
            info = result.info
            plan = Plan(np.asarray(result.actions, np.float32), t0=t_e, t_obs=obs.t_frame, seq=self.seq,
                        iterations=info.iterations, samples=info.samples, plan_ms=plan_ms, energy=info.energy)
            self.slot.publish(plan, overrun, discard)
            replanning = False
            rec.update(plan_ms=round(plan_ms, 3), iterations=plan.iterations, samples=plan.samples,
                       energy=round(float(plan.energy), 6) if np.isfinite(plan.energy) else None,
                       overrun=overrun, discarded=discard, scale=round(self.budget.scale, 3),
                       obs_age_ms=round((t_s - obs.t_frame) * 1e3, 3), action=[round(float(v), 4) for v in plan.actions[0]])
        except Exception as e:  # a backend error in planning is a fault for the loop to handle
            if replanning:
                self.slot.end_replan()
            rec["error"] = f"{type(e).__name__}: {e}"
            self._report(rec)
            self.report_error(rec["error"])
            return None
        self._report(rec)
        return plan

    def _report(self, rec: dict) -> None:
        try:
            self.on_plan(rec)
        except Exception as e:
            self.report_error(f"telemetry: {type(e).__name__}: {e}")

    def report_error(self, message: str) -> None:
        try:
            self.on_error(message)
        except Exception:  # nowhere left to report to; the loop's plan timeout still catches a dead planner
            pass


class PlannerThread:
    """Runs a `PlanStep` at `hz` on the newest observation, on its own thread; never raises, never dies."""

    def __init__(self, planner: Planner, goal: np.ndarray, slot: PlanSlot, hz: float, action_dt: float,
                 overrun_policy: OverrunPolicy, on_plan: Callable[[dict], None], on_error: Callable[[str], None],
                 nice: int = 0, budget: PlanBudget | None = None, t_origin: float | None = None):
        self.slot = slot
        self.period = 1.0 / hz
        self.nice = nice
        self.step = PlanStep(planner, goal, slot, self.period, action_dt, overrun_policy,
                             budget or PlanBudget(), on_plan, on_error, time.monotonic,
                             time.monotonic() if t_origin is None else t_origin)
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="planner", daemon=True)

    def start(self) -> "PlannerThread":
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        if self.nice:
            try:  # per-thread on Linux (a thread is a task with its own id); elsewhere a no-op
                tid = threading.get_native_id()  # relative to the process: under `nice` it stays below perception
                os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + self.nice))
            except (AttributeError, OSError):
                pass
        timer = RateTimer(1.0 / self.period, self.stop)
        last_tick = -1
        while not self.stop.is_set():
            try:
                timer.wait()
                obs = self.slot.get_obs(last_tick, timeout=self.period)
                if obs is None or self.stop.is_set():
                    continue
                last_tick = obs.tick
                self.step(obs)
            except Exception as e:  # PlanStep reports its own errors; this is anything else
                self.step.report_error(f"planner thread: {type(e).__name__}: {e}")
                self.stop.wait(self.period)

    def close(self, timeout: float = 5.0) -> None:
        self.stop.set()
        self.slot.wake()
        if self._thread.is_alive():
            self._thread.join(timeout)

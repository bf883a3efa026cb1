"""The on-robot loop: camera -> encoder -> surprise check -> command from the newest plan -> robot.

    perception (this thread, fixed rate)        planning (PlannerThread, its own rate)
    read_latest(max_age) -> encode -> z  ---->  newest z -> CEM/MPPI over the AC predictor
    surprise: f(z_prev, a_prev) vs z              warm start = previous plan, shifted
    action for "now" from the newest plan <----  publish plan
    COMMAND(action, valid_ms) -> firmware

Two modes: "realtime" (the above, wall clock, threads) and "lockstep" (one world step per tick,
planning inline every `perception_hz / planning_hz` ticks: deterministic, for evaluation and
tests). Every stage's failure is a fault handled by `SafetyMonitor`; whatever happens, including
exceptions nobody foresaw and Ctrl-C, the robot gets a zero command and an ESTOP before the loop
returns its report. No exception escapes `run()` while the robot may still be moving.
"""
from __future__ import annotations

import queue
import signal
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable

import numpy as np

from jepa_edge.robot.camera import Camera, CameraFault
from jepa_edge.loop.perception import LatentEncoder, NonFiniteLatent
from jepa_edge.planning.planner import LatentDynamics, Observation, PlanBudget, Planner
from jepa_edge.robot.faults import END_OF_RUN, FaultKind, StopReason
from jepa_edge.robot.robot import Robot
from jepa_edge.loop.config import RobotConfig
from jepa_edge.loop.safety import LoopWatchdog, SafetyMonitor
from jepa_edge.loop.scheduler import PlannerThread, PlanSlot, PlanStep
from jepa_edge.utils.rate import RateTimer
from jepa_edge.loop.surprise import SurpriseMonitor
from jepa_edge.loop.telemetry import Telemetry

# EXIT_STOP_UNCONFIRMED: the run ended, but the robot never confirmed its stop (whatever ended it)
EXIT_OK, EXIT_FAULT, EXIT_STOP_UNCONFIRMED, EXIT_INTERRUPT = 0, 3, 4, 130


@dataclass
class LoopParts:
    camera: Camera
    encoder: LatentEncoder
    planner: Planner  # CEM/MPPI (planning/planner.py SamplingPlanner), RandomPlanner, the evaluation's oracle
    robot: Robot
    z_goal: np.ndarray  # [N, D]
    surprise_dynamics: LatentDynamics | None = None  # its own session: never shared across threads


class Ending(Enum):
    """How a run ended."""

    COMPLETED = "completed"  # schedule.max_ticks or duration_s reached
    DONE = "done"  # on_tick ended it (an episode reached its goal)
    INTERRUPTED = "interrupted"  # Ctrl-C / SIGTERM
    FAULT = "fault"  # a fault whose policy is "stop" (or that outlasted safety.max_fault_s)
    INTERNAL = "internal"  # an exception nobody foresaw (its traceback is in LoopReport.error)


@dataclass(frozen=True)
class RunEnd:
    """How a run ended and, unless it completed, what stopped the robot."""

    how: Ending
    stop: StopReason | None = None

    @property
    def by_fault(self) -> bool:
        """The safety layer ended the run (a fault, an internal error), not the goal, the clock or the user."""
        return self.how in (Ending.FAULT, Ending.INTERNAL)

    def __str__(self) -> str:
        """"completed", "done", "interrupted: SIGINT", "fault camera: ...", "internal: ValueError: ..."."""
        if self.stop is None:
            return self.how.value
        if self.how is Ending.FAULT:
            return f"fault {self.stop}"
        return f"{self.how.value}: {self.stop.detail}"

    def to_dict(self) -> dict:
        return {"how": self.how.value, "fault": self.stop.kind.value if self.stop and self.stop.kind else None,
                "detail": self.stop.detail if self.stop else None}


@dataclass
class LoopReport:
    reason: RunEnd
    exit_code: int
    ticks: int
    safe_stopped: bool
    faults: list = field(default_factory=list)
    surprise_events: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    error: str | None = None  # traceback of an unexpected error (after the robot was stopped)
    stop_warning: str | None = None  # said when the robot did not confirm its stop (safe_stopped False)

    def to_dict(self) -> dict:
        return {"reason": str(self.reason), "ended": self.reason.to_dict(), "exit_code": self.exit_code, "ticks": self.ticks,
                "safe_stopped": self.safe_stopped, "stop_warning": self.stop_warning, "faults": self.faults,
                "surprise_events": self.surprise_events, "summary": self.summary, "error": self.error}


class _StartupFailed(Exception):
    def __init__(self, stop: StopReason):
        super().__init__(str(stop))
        self.stop = stop


class RobotLoop:
    def __init__(self, cfg: RobotConfig, parts: LoopParts, telemetry: Telemetry | None = None,
                 on_tick: Callable[[int, dict], bool] | None = None):
        self.cfg, self.parts = cfg, parts
        self.telemetry = telemetry or Telemetry()
        self.on_tick = on_tick  # returns True to end the run (an episode reached its goal)
        sch = cfg.schedule
        self.period = 1.0 / sch.perception_hz
        self.action_dt = 1.0 / (sch.action_hz or sch.planning_hz)
        self.valid_ms = sch.command_valid_ms
        self.action_dim = len(cfg.planner.action_low)
        self.zero = np.zeros(self.action_dim, np.float32)
        self.safety = SafetyMonitor(cfg.safety)
        self.surprise = SurpriseMonitor(cfg.surprise)
        self.slot = PlanSlot()
        self.planner_errors: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.plan_every = 1  # lockstep: replan every this many ticks (set by run())
        self.plan_step: PlanStep | None = None  # lockstep: the inline replan (run() makes it)
        self.history: deque = deque(maxlen=int(2.0 / self.period) + 2)  # (t, z, action, state)
        self.last_sent = self.zero
        self.last_frame_index = -1
        self._interrupt: str | None = None
        self._stalled: float | None = None
        self.t0 = time.monotonic()
        self.sim_now = 0.0
        self._t_capture = self.t0
        self.current: dict = {}

    # ---- external stop requests ------------------------------------------------------------------
    def interrupt(self, why: str = "SIGINT") -> None:
        """Ask the loop to stop at the next tick (signal handlers call this; it only sets a flag)."""
        self._interrupt = why

    def _on_stall(self, silent_s: float) -> None:
        # Runs on the watchdog thread while the perception thread is stuck in some call.
        self._stalled = silent_s
        self.parts.robot.safe_stop(StopReason(FaultKind.LOOP_STALL, f"loop stalled for {silent_s * 1e3:.0f} ms"))

    # ---- one tick ----------------------------------------------------------------------------------
    def _sense(self, tick: int, rec: dict) -> tuple[StopReason | None, Observation | None]:
        """Camera + encoder + surprise check. Returns (fault or None, observation or None)."""
        p = self.parts
        t = time.perf_counter()
        try:
            frame = p.camera.read_latest(self.cfg.camera.max_age_ms / 1e3)
        except CameraFault as e:
            return StopReason(FaultKind.CAMERA, str(e)), None
        except Exception as e:
            return StopReason(FaultKind.CAMERA, f"{type(e).__name__}: {e}"), None
        rec["camera_ms"] = (time.perf_counter() - t) * 1e3
        rec["frame_index"] = frame.index
        rec["frame_age_ms"] = frame.age() * 1e3
        if frame.index == self.last_frame_index:
            rec["repeated_frame"] = True
        self.last_frame_index = frame.index
        self._t_capture = frame.t
        # Time on the loop's clock: capture time in realtime, simulated time in lockstep.
        t_frame = self.sim_now if self.cfg.schedule.mode == "lockstep" else frame.t
        t = time.perf_counter()
        try:
            z = p.encoder.encode(frame.image)
        except NonFiniteLatent as e:
            return StopReason(FaultKind.LATENT, str(e)), None
        except Exception as e:
            return StopReason(FaultKind.BACKEND, f"encoder: {type(e).__name__}: {e}"), None
        rec["encode_ms"] = (time.perf_counter() - t) * 1e3
        state = p.robot.state()
        if state is not None:
            state = np.asarray(state, np.float32)
        past = self._past(t_frame)
        if past is not None and past[4] is not None:  # what the predictor expected this frame to be
            n_events = len(self.surprise.events)
            rec["surprise"] = self.surprise.update(past[4], z, tick)
            if len(self.surprise.events) > n_events:
                ev = self.surprise.events[-1]
                self.safety.log(FaultKind.SURPRISE, f"score {ev.score:.4g} > {ev.threshold:.4g}", tick,
                                action=self.cfg.surprise.policy)
        return None, Observation(z, state, t_frame, tick)

    def _predict(self, obs: Observation, action: np.ndarray, rec: dict) -> StopReason | None:
        """After the command is out: predict the latent one action step ahead, for the surprise
        check of the frame that will show it (off the frame-to-command path)."""
        dyn = self.parts.surprise_dynamics
        z_hat = None
        t = time.perf_counter()
        if dyn is not None and self.cfg.surprise.enabled:
            try:
                z_hat = dyn.step(obs.z[None], action[None], None if obs.state is None else obs.state[None])[0]
            except Exception as e:
                return StopReason(FaultKind.BACKEND, f"predictor: {type(e).__name__}: {e}")
            if not np.isfinite(z_hat).all():
                z_hat = None
        rec["surprise_ms"] = round((time.perf_counter() - t) * 1e3, 3)
        self.history.append((obs.t_frame, obs.z, action, obs.state, z_hat))
        return None

    def _past(self, t_frame: float):
        """The history entry about one action step before `t_frame` (its prediction is for this frame)."""
        target = t_frame - self.action_dt
        best = None
        for entry in self.history:
            if entry[0] <= target + 0.5 * self.period:
                best = entry
        return best

    def _choose(self, now: float, rec: dict) -> tuple[str, np.ndarray | None]:
        """Command for this tick from the newest plan: (kind, action or None for 'send nothing')."""
        plan = self.slot.latest()
        if plan is None:
            return "wait", self.zero
        action, beyond = plan.action_at(now, self.action_dt)
        rec["plan_seq"] = plan.seq
        rec["plan_age_ms"] = (now - plan.t0) * 1e3
        rec["plan_iters"] = plan.iterations
        late = self.cfg.schedule.mode == "realtime" and self.slot.replan_late(now)
        if late and self.cfg.schedule.overrun_policy == "skip":
            return "skip", None
        return ("hold" if beyond or late else "plan"), action

    def _plan_stale(self, now: float) -> str | None:
        plan = self.slot.latest()
        ref = plan.t0 if plan is not None else self.t0
        age = now - ref
        if age * 1e3 > self.cfg.schedule.plan_timeout_ms:
            what = f"newest plan is {age * 1e3:.0f} ms old" if plan else f"no plan after {age * 1e3:.0f} ms"
            return f"{what} (limit {self.cfg.schedule.plan_timeout_ms:.0f} ms)"
        return None

    def _tick(self, tick: int, now_fn: Callable[[], float], lockstep_plan: bool) -> bool:
        """One perception tick; returns False when the loop must end."""
        rec: dict = {"tick": tick}
        t_start = time.perf_counter()
        fault, obs = self._sense(tick, rec)
        if fault is None:
            if lockstep_plan:
                if obs.tick % self.plan_every == 0:  # plan now, inline, on this observation
                    self.plan_step(obs)
            else:
                self.slot.put_obs(obs)
        if fault is None:
            try:
                err = self.planner_errors.get_nowait()
                fault = StopReason(FaultKind.BACKEND, f"planner: {err}")
            except queue.Empty:
                pass
        if fault is None and not self.parts.robot.link_ok():
            fault = StopReason(FaultKind.LINK, "serial link to the firmware is down")
        now = now_fn()
        if fault is None and self.cfg.schedule.mode == "realtime":
            stale = self._plan_stale(now)
            if stale:
                fault = StopReason(FaultKind.PLANNER, stale)

        t_cmd = time.perf_counter()
        if fault is not None:
            rec["fault"] = str(fault)
            if self.safety.report(fault.kind, fault.detail, tick) == "stop":
                self._record(rec, t_start, t_cmd, None, "safe")
                return False
            kind, action = "safe", self.zero
        elif not self.safety.healthy(tick):
            kind, action = "safe", self.zero
        else:
            kind, action = self._choose(now, rec)
            scale = self.surprise.command_scale()
            if action is not None and scale < 1.0:
                kind, action = ("slow" if scale > 0 else "surprise_stop"), action * scale
        if action is not None:
            self.parts.robot.send(action, self.valid_ms)
            self.last_sent = np.asarray(action, np.float32)
        self._record(rec, t_start, t_cmd, obs, kind, action)
        if obs is not None:
            fault = self._predict(obs, self.last_sent, rec)
            if fault is not None:
                rec["fault"] = str(fault)
                if self.safety.report(fault.kind, fault.detail, tick) == "stop":
                    return False
        return True

    def _record(self, rec, t_start, t_cmd, obs, kind, action=None):
        t_end = time.perf_counter()
        rec["command_ms"] = (t_end - t_cmd) * 1e3
        rec["work_ms"] = (t_end - t_start) * 1e3
        rec["cmd"] = kind
        if action is not None:
            rec["action"] = [round(float(v), 4) for v in action]
        if obs is not None:
            rec["f2c_ms"] = (time.monotonic() - self._t_capture) * 1e3
        for k, v in list(rec.items()):
            if isinstance(v, float):
                rec[k] = round(v, 3)
        self.current = rec

    # ---- the run -----------------------------------------------------------------------------------
    def run(self) -> LoopReport:
        """Run until done, a stop fault, Ctrl-C or the configured duration; always ends safe."""
        restore = self._install_signal_handlers()
        # The perception thread must get the GIL back quickly from the planner/link/sim threads:
        # Python's default 5 ms switch interval would show up directly in the tick latency.
        switch = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        planner_thread = None
        watchdog = None
        tick = 0
        ending, code, error = RunEnd(Ending.COMPLETED), EXIT_OK, None
        sch = self.cfg.schedule
        lockstep = sch.mode == "lockstep"
        self.plan_every = max(1, int(round(sch.perception_hz / sch.planning_hz)))
        budget = PlanBudget(self.cfg.planner.budget_ms)
        stall_s = self.cfg.safety.loop_stall_ms / 1e3 + (self.cfg.planner.budget_ms / 1e3 * 2 if lockstep else 0)
        try:
            self.parts.camera.open()
            try:  # the first frame may take a while (device start-up); later ones may not
                self.parts.camera.read(timeout=max(2.0, self.cfg.camera.max_age_ms / 1e3))
            except CameraFault as e:
                stop = StopReason(FaultKind.CAMERA, f"no first frame: {e}")
                self.safety.report(stop.kind, stop.detail, 0)
                raise _StartupFailed(stop)
            self.t0 = time.monotonic()
            self.telemetry.t0 = self.t0
            self.safety.t0 = self.t0
            if lockstep:  # simulated time stands still while the planner runs: no replan is late
                self.plan_step = PlanStep(self.parts.planner, self.parts.z_goal, self.slot, 1.0 / sch.planning_hz,
                                          self.action_dt, sch.overrun_policy, budget, self.telemetry.plan,
                                          self.planner_errors.put, clock=lambda: self.sim_now)
            else:
                planner_thread = PlannerThread(self.parts.planner, self.parts.z_goal, self.slot, sch.planning_hz,
                                               self.action_dt, sch.overrun_policy, self.telemetry.plan,
                                               self.planner_errors.put, nice=sch.planner_nice, budget=budget,
                                               t_origin=self.t0)
                planner_thread.start()
            watchdog = LoopWatchdog(stall_s, self._on_stall).start()
            timer = RateTimer(sch.perception_hz)
            while True:
                if self._interrupt:
                    stop = StopReason(FaultKind.INTERRUPT, self._interrupt)
                    self.safety.report(stop.kind, stop.detail, tick)
                    ending, code = RunEnd(Ending.INTERRUPTED, stop), EXIT_INTERRUPT
                    break
                if self._stalled is not None:
                    stop = StopReason(FaultKind.LOOP_STALL, f"a tick hung for {self._stalled * 1e3:.0f} ms")
                    self.safety.report(stop.kind, stop.detail, tick)
                    ending, code = RunEnd(Ending.FAULT, stop), EXIT_FAULT
                    break
                if sch.max_ticks and tick >= sch.max_ticks:
                    break
                if sch.duration_s and time.monotonic() - self.t0 >= sch.duration_s:
                    break
                if lockstep:
                    scheduled, skipped = time.monotonic(), 0
                    self.sim_now = tick * self.period
                    now_fn = lambda: self.sim_now  # noqa: E731
                else:
                    scheduled, skipped = timer.wait()
                    now_fn = time.monotonic
                    if self._interrupt:
                        continue
                watchdog.kick()
                self.current = {}
                ok = self._tick(tick, now_fn, lockstep)
                watchdog.kick()
                rec = self.current
                rec["t"] = round(scheduled - self.t0 if not lockstep else self.sim_now, 4)
                t_end = time.monotonic()
                rec["tick_ms"] = round((t_end - scheduled) * 1e3, 3)  # from when the tick was due to its end
                rec["deadline_miss"] = (not lockstep) and t_end > scheduled + self.period
                if skipped:
                    rec["skipped_before"] = skipped
                self.telemetry.tick(rec)
                tick += 1
                if not ok:
                    ending, code = RunEnd(Ending.FAULT, self.safety.stop_reason), EXIT_FAULT
                    break
                if lockstep:
                    self.parts.robot.advance()
                if self.on_tick is not None and self.on_tick(tick, rec):
                    ending = RunEnd(Ending.DONE)
                    break
        except BaseException as e:  # noqa: BLE001 - the robot must stop whatever went wrong
            if isinstance(e, _StartupFailed):
                ending, code = RunEnd(Ending.FAULT, e.stop), EXIT_FAULT
            elif isinstance(e, KeyboardInterrupt):
                stop = StopReason(FaultKind.INTERRUPT, "KeyboardInterrupt")
                ending, code = RunEnd(Ending.INTERRUPTED, stop), EXIT_INTERRUPT
                self.safety.report(stop.kind, stop.detail, tick)
            else:
                stop = StopReason(FaultKind.INTERNAL, f"{type(e).__name__}: {e}")
                ending, code = RunEnd(Ending.INTERNAL, stop), EXIT_FAULT
                error = traceback.format_exc()
                self.safety.report(stop.kind, stop.detail, tick)
        finally:
            stopped = False
            try:  # first, before anything else can fail
                stopped = bool(self.parts.robot.safe_stop(ending.stop or END_OF_RUN))  # completed, done: END_OF_RUN
            except Exception as e:  # a Robot that breaks its contract: the firmware window still stops it
                error = (error or "") + f"safe_stop raised {type(e).__name__}: {e}\n"
            for closer in (lambda: planner_thread and planner_thread.close(),
                           lambda: watchdog and watchdog.stop(),
                           self.parts.camera.close):
                try:
                    closer()
                except Exception:
                    pass
            restore()
            sys.setswitchinterval(switch)
        return self._report(ending, code, tick, error, stopped)

    def _report(self, ending: RunEnd, code: int, ticks: int, error: str | None, stopped: bool) -> LoopReport:
        events = [e.to_dict() for e in self.safety.events]
        for ev in events:
            self.telemetry.event(ev)
        summary = self.telemetry.summary()
        summary["planner"]["overruns_counted"] = self.slot.overruns
        warning = None
        if not stopped:
            window = self.parts.robot.command_window_ms() or self.cfg.schedule.command_valid_ms
            warning = (f"stop NOT confirmed by the firmware: the robot relies on its own watchdog "
                       f"(window {window:.0f} ms)")
            code = EXIT_STOP_UNCONFIRMED
        return LoopReport(reason=ending, exit_code=code, ticks=ticks, safe_stopped=stopped, faults=events,
                          surprise_events=[e.to_dict() for e in self.surprise.events], summary=summary, error=error,
                          stop_warning=warning)

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.getsignal(sig)
            signal.signal(sig, lambda signum, frame: self.interrupt(signal.Signals(signum).name))

        def restore():
            for sig, handler in old.items():
                signal.signal(sig, handler)
        return restore

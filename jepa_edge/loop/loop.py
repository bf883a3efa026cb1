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
from typing import Callable

import numpy as np

from jepa_edge.loop import safety as S
from jepa_edge.robot.camera import Camera, CameraFault
from jepa_edge.loop.perception import LatentEncoder, NonFiniteLatent
from jepa_edge.planning.planner import LatentDynamics
from jepa_edge.robot.robot import Robot
from jepa_edge.loop.config import RobotConfig
from jepa_edge.loop.safety import LoopWatchdog, SafetyMonitor
from jepa_edge.loop.scheduler import Observation, Plan, PlannerThread, PlanSlot
from jepa_edge.utils.rate import RateTimer
from jepa_edge.loop.surprise import SurpriseMonitor
from jepa_edge.loop.telemetry import Telemetry

EXIT_OK, EXIT_FAULT, EXIT_INTERRUPT = 0, 3, 130


@dataclass
class LoopParts:
    camera: Camera
    encoder: LatentEncoder
    planner: object  # Planner, RandomPlanner or anything with plan(z_now, z_goal, warm_start, state=)
    robot: Robot
    z_goal: np.ndarray  # [N, D]
    surprise_dynamics: LatentDynamics | None = None  # its own session: never shared across threads


@dataclass
class LoopReport:
    reason: str  # "completed", "done", "interrupted: SIGINT", "fault camera: ...", "internal: ..."
    exit_code: int
    ticks: int
    safe_stopped: bool
    faults: list = field(default_factory=list)
    surprise_events: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    error: str | None = None  # traceback of an unexpected error (after the robot was stopped)

    def to_dict(self) -> dict:
        return {"reason": self.reason, "exit_code": self.exit_code, "ticks": self.ticks,
                "safe_stopped": self.safe_stopped, "faults": self.faults,
                "surprise_events": self.surprise_events, "summary": self.summary, "error": self.error}


class _StartupFailed(Exception):
    pass


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
        self.parts.robot.safe_stop(f"loop stalled for {silent_s * 1e3:.0f} ms")

    # ---- one tick ----------------------------------------------------------------------------------
    def _sense(self, tick: int, rec: dict) -> tuple[tuple[str, str] | None, object]:
        """Camera + encoder + surprise check. Returns (fault or None, observation or None)."""
        p = self.parts
        t = time.perf_counter()
        try:
            frame = p.camera.read_latest(self.cfg.camera.max_age_ms / 1e3)
        except CameraFault as e:
            return (S.CAMERA, str(e)), None
        except Exception as e:
            return (S.CAMERA, f"{type(e).__name__}: {e}"), None
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
            return (S.LATENT, str(e)), None
        except Exception as e:
            return (S.BACKEND, f"encoder: {type(e).__name__}: {e}"), None
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
                self.safety.log(S.SURPRISE, f"score {ev.score:.4g} > {ev.threshold:.4g}", tick,
                                action=self.cfg.surprise.policy)
        return None, Observation(z, state, t_frame, tick)

    def _predict(self, obs: Observation, action: np.ndarray, rec: dict) -> tuple[str, str] | None:
        """After the command is out: predict the latent one action step ahead, for the surprise
        check of the frame that will show it (off the frame-to-command path)."""
        dyn = self.parts.surprise_dynamics
        z_hat = None
        t = time.perf_counter()
        if dyn is not None and self.cfg.surprise.enabled:
            try:
                z_hat = dyn.step(obs.z[None], action[None], None if obs.state is None else obs.state[None])[0]
            except Exception as e:
                return S.BACKEND, f"predictor: {type(e).__name__}: {e}"
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
        with self.slot.lock:
            plan = self.slot.plan
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
        with self.slot.lock:
            plan = self.slot.plan
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
                self._plan_inline(obs)
            else:
                self.slot.put_obs(obs)
        if fault is None:
            try:
                err = self.planner_errors.get_nowait()
                fault = (S.BACKEND, f"planner: {err}")
            except queue.Empty:
                pass
        if fault is None and not self.parts.robot.link_ok():
            fault = (S.LINK, "serial link to the firmware is down")
        now = now_fn()
        if fault is None and self.cfg.schedule.mode == "realtime":
            stale = self._plan_stale(now)
            if stale:
                fault = (S.PLANNER, stale)

        t_cmd = time.perf_counter()
        if fault is not None:
            rec["fault"] = f"{fault[0]}: {fault[1]}"
            if self.safety.report(*fault, tick) == "stop":
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
                rec["fault"] = f"{fault[0]}: {fault[1]}"
                if self.safety.report(*fault, tick) == "stop":
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

    def _plan_inline(self, obs: Observation) -> None:
        """Lockstep: plan now, on this observation, every `plan_every` ticks."""
        if obs.tick % self.plan_every:
            return
        with self.slot.lock:
            prev = self.slot.plan
        now = self.sim_now
        warm = prev.shifted(now, self.action_dt) if prev is not None else None
        t = time.perf_counter()
        try:
            actions = self.parts.planner.plan(obs.z, self.parts.z_goal, warm, state=obs.state)
        except Exception as e:
            self.planner_errors.put(f"{type(e).__name__}: {e}")
            return
        info = getattr(self.parts.planner, "last_info", None)
        plan_ms = (time.perf_counter() - t) * 1e3
        seq = (prev.seq + 1) if prev else 1
        with self.slot.lock:
            self.slot.plan = Plan(np.asarray(actions, np.float32), t0=now, t_obs=now, seq=seq,
                                  iterations=info.iterations if info else 0, samples=info.samples if info else 0,
                                  plan_ms=plan_ms)
        self.telemetry.plan({"t": round(now, 4), "obs_tick": obs.tick, "plan_ms": round(plan_ms, 3),
                             "iterations": info.iterations if info else 0, "samples": info.samples if info else 0,
                             "energy": None if not info or not np.isfinite(info.energy) else round(info.energy, 6),
                             "overrun": False})

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
        reason, code, error = "completed", EXIT_OK, None
        sch = self.cfg.schedule
        lockstep = sch.mode == "lockstep"
        self.plan_every = max(1, int(round(sch.perception_hz / sch.planning_hz)))
        stall_s = self.cfg.safety.loop_stall_ms / 1e3 + (self.cfg.planner.budget_ms / 1e3 * 2 if lockstep else 0)
        try:
            self.parts.camera.open()
            try:  # the first frame may take a while (device start-up); later ones may not
                self.parts.camera.read(timeout=max(2.0, self.cfg.camera.max_age_ms / 1e3))
            except CameraFault as e:
                self.safety.report(S.CAMERA, f"no first frame: {e}", 0)
                self.safety.stop_reason = self.safety.stop_reason or f"camera: {e}"
                raise _StartupFailed(f"fault camera: no first frame: {e}")
            self.t0 = time.monotonic()
            self.telemetry.t0 = self.t0
            self.safety.t0 = self.t0
            if not lockstep:
                planner_thread = PlannerThread(self.parts.planner, self.parts.z_goal, self.slot, sch.planning_hz,
                                               self.action_dt, sch.overrun_policy, self.telemetry.plan,
                                               self.planner_errors.put, nice=sch.planner_nice)
                planner_thread.t_start = self.t0
                planner_thread.start()
            watchdog = LoopWatchdog(stall_s, self._on_stall).start()
            timer = RateTimer(sch.perception_hz)
            while True:
                if self._interrupt:
                    self.safety.report(S.INTERRUPT, self._interrupt, tick)
                    reason, code = f"interrupted: {self._interrupt}", EXIT_INTERRUPT
                    break
                if self._stalled is not None:
                    self.safety.report(S.LOOP_STALL, f"a tick hung for {self._stalled * 1e3:.0f} ms", tick)
                    reason, code = "fault loop_stall", EXIT_FAULT
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
                end = time.monotonic()
                rec["tick_ms"] = round((end - scheduled) * 1e3, 3)  # from when the tick was due to its end
                rec["deadline_miss"] = (not lockstep) and end > scheduled + self.period
                if skipped:
                    rec["skipped_before"] = skipped
                self.telemetry.tick(rec)
                tick += 1
                if not ok:
                    reason, code = f"fault {self.safety.stop_reason}", EXIT_FAULT
                    break
                if lockstep:
                    self.parts.robot.advance()
                if self.on_tick is not None and self.on_tick(tick, rec):
                    reason = "done"
                    break
        except BaseException as e:  # noqa: BLE001 - the robot must stop whatever went wrong
            if isinstance(e, _StartupFailed):
                reason, code = str(e), EXIT_FAULT
            elif isinstance(e, KeyboardInterrupt):
                reason, code = "interrupted: KeyboardInterrupt", EXIT_INTERRUPT
                self.safety.report(S.INTERRUPT, "KeyboardInterrupt", tick)
            else:
                reason, code = f"internal: {type(e).__name__}: {e}", EXIT_FAULT
                error = traceback.format_exc()
                self.safety.report(S.INTERNAL, f"{type(e).__name__}: {e}", tick)
        finally:
            stop_reason = "end of run" if code == EXIT_OK else reason
            try:
                self.parts.robot.safe_stop(stop_reason)  # first, before anything else can fail
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
        return self._report(reason, code, tick, error)

    def _report(self, reason, code, ticks, error) -> LoopReport:
        events = [e.to_dict() for e in self.safety.events]
        for ev in events:
            self.telemetry.event(ev)
        summary = self.telemetry.summary()
        summary["planner"]["overruns_counted"] = self.slot.overruns
        return LoopReport(reason=reason, exit_code=code, ticks=ticks, safe_stopped=True, faults=events,
                          surprise_events=[e.to_dict() for e in self.surprise.events], summary=summary, error=error)

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

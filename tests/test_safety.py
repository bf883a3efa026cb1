"""Fault drills against the real firmware simulator: each one ends in a safe command and a report.

camera unplugged mid-run (stop; and recover after replug), NaN from the encoder, a backend that
raises, a hung tick (watchdog thread), the cable cut (the firmware stops by itself), the planner
overrunning (shrink/recover and skip), a surprise event (teleport in front of the agent), Ctrl-C.
"""
import json
import re
import os
import signal
import subprocess
import sys
import time
import typing
from pathlib import Path

import numpy as np
import pytest

from jepa_edge.robot.faults import StopReason

from jepa_edge.loop.assemble import assemble
from jepa_edge.loop.loop import EXIT_FAULT, EXIT_INTERRUPT, EXIT_STOP_UNCONFIRMED, Ending, RobotLoop
from jepa_edge.planning.planner import LatentDynamics
from jepa_edge.loop.config import RobotConfig
from jepa_edge.loop.safety import FaultKind, SafetyMonitor
from jepa_edge.loop.telemetry import Telemetry

from loop_support import (AgentPositionEncoder, CopyLastDynamics, FailingSession, LinearDynamics, PixelEncoder,
                          save_tiny_model_dir)

REPO = Path(__file__).resolve().parents[1]
WATCHDOG, ESTOP = 1, 2  # FaultCode values on the wire


def realtime_cfg(**over) -> RobotConfig:
    base = {"schedule.perception_hz": 20.0, "schedule.planning_hz": 5.0, "schedule.command_valid_ms": 150.0,
            "schedule.plan_timeout_ms": 2000.0, "schedule.max_ticks": 200, "planner.samples": 32,
            "planner.elites": 4, "planner.iterations": 2, "planner.budget_ms": 100.0, "surprise.enabled": False,
            "camera.max_age_ms": 300.0, "safety.loop_stall_ms": 2000.0}
    return RobotConfig().override({**base, **over})


def run_drill(cfg, encoder=None, predictor=None, surprise=None, inject=None, seed=3):
    """Run the loop in simulation; `inject(tick, asm)` is called after every tick."""
    asm = assemble(cfg, episode_seed=seed, encoder_session=encoder or AgentPositionEncoder(64),
                   predictor_sessions=(predictor or LinearDynamics(0.1), surprise))
    tel = Telemetry()

    def on_tick(tick, rec):
        if inject:
            inject(tick, asm)
        return False

    try:
        report = RobotLoop(cfg, asm.parts, tel, on_tick=on_tick).run()
        time.sleep(0.2)  # let the firmware's last frames reach the cable end
    finally:
        asm.close()
    return report, tel, asm


def assert_stopped_safely(report, tel, asm, kind):
    assert report.exit_code == EXIT_FAULT, report.reason
    assert report.reason.how is Ending.FAULT and report.reason.stop.kind is FaultKind(kind), report.reason
    assert str(report.reason).startswith(f"fault {kind}: ")
    assert report.safe_stopped and report.faults[-1]["action"] == "stop" and report.faults[-1]["kind"] == kind
    assert tel.ticks[-1]["cmd"] == "safe" and tel.ticks[-1].get("fault", "").startswith(kind)
    assert asm.robot.estops == 1 and asm.robot.stop_confirmed  # the firmware confirmed ESTOP latched
    assert np.all(asm.robot.actuator == 0)  # what the firmware reports driving: nothing


def test_camera_unplugged_mid_run_stops_with_estop():
    report, tel, asm = run_drill(realtime_cfg(), inject=lambda t, a: t == 10 and a.robot.unplug_camera())
    assert_stopped_safely(report, tel, asm, "camera")
    assert ESTOP in [code for _, code in asm.robot.fault_log]  # the firmware heard the ESTOP


def test_camera_replugged_recovers_when_policy_says_so():
    def inject(tick, asm):
        if tick == 8:
            asm.robot.unplug_camera()
        if tick == 16:
            asm.robot.camera_unplugged = False

    cfg = realtime_cfg(**{"safety.camera": "recover", "safety.recover_after_ticks": 3, "schedule.max_ticks": 60})
    report, tel, asm = run_drill(cfg, inject=inject)
    assert report.exit_code == 0, report.reason
    kinds = [(f["kind"], f["action"]) for f in report.faults]
    assert ("camera", "recover") in kinds and ("camera", "resumed") in kinds
    cmds = [t["cmd"] for t in tel.ticks]
    first_safe = cmds.index("safe")
    assert "plan" in cmds[first_safe:] or "hold" in cmds[first_safe:]  # commands flowed again
    assert all(np.allclose(t["action"], 0) for t in tel.ticks if t["cmd"] == "safe")


def test_nan_latent_never_reaches_the_robot():
    report, tel, asm = run_drill(realtime_cfg(), encoder=AgentPositionEncoder(64, nan_after=15))
    assert_stopped_safely(report, tel, asm, "latent")
    assert "NaN/Inf" in report.faults[-1]["detail"]
    assert all(np.isfinite(t["action"]).all() for t in tel.ticks if "action" in t)


@pytest.mark.parametrize("where", ["encoder", "planner"])
def test_backend_error_stops(where):
    enc, pred = AgentPositionEncoder(64), LinearDynamics(0.1)
    if where == "encoder":
        enc = FailingSession(enc, after=12)
    else:
        pred = FailingSession(pred, after=6)
    report, tel, asm = run_drill(realtime_cfg(), encoder=enc, predictor=pred)
    assert_stopped_safely(report, tel, asm, "backend")
    assert where in report.faults[-1]["detail"] and "device lost" in report.faults[-1]["detail"]


def test_hung_tick_is_stopped_by_the_watchdog_thread_before_it_returns():
    enc = FailingSession(AgentPositionEncoder(64), after=10, hang_s=1.2)
    report, tel, asm = run_drill(realtime_cfg(**{"safety.loop_stall_ms": 300.0}), encoder=enc)
    assert report.exit_code == EXIT_FAULT and report.reason.stop.kind is FaultKind.LOOP_STALL, report.reason
    assert str(report.reason).startswith("fault loop_stall: a tick hung for")
    estop_at = [t for t, code in asm.robot.fault_log if code == ESTOP]
    assert estop_at and estop_at[0] < enc.hang_ended_at  # the robot stopped while the tick still hung


def test_link_cut_firmware_stops_on_its_own_and_loop_reports():
    cut = {}

    def inject(tick, asm):
        if tick == 10:
            cut["t"] = time.monotonic()
            asm.robot.cut_cable()

    report, tel, asm = run_drill(realtime_cfg(), inject=inject)
    assert report.reason.stop.kind is FaultKind.LINK, report.reason
    # the host's ESTOP could not reach the board: the report must not claim a stop it never saw
    assert report.exit_code == EXIT_STOP_UNCONFIRMED and not report.safe_stopped
    assert report.stop_warning.startswith("stop NOT confirmed by the firmware") and "window 150 ms" in report.stop_warning
    watchdog_at = [t for t, code in asm.robot.fault_log if code == WATCHDOG and t > cut["t"]]
    assert watchdog_at, "the firmware did not stop by itself after the cable was cut"
    link_fault_t = asm.parts.robot and report.faults[-1]["t"]
    assert watchdog_at[0] - cut["t"] < link_fault_t  # the firmware stopped before the host even noticed
    assert np.all(asm.robot.actuator == 0)
    assert ESTOP not in [c for _, c in asm.robot.fault_log]  # the host's ESTOP went nowhere: no cable


def test_a_killed_firmware_gives_an_unconfirmed_stop_not_a_safe_one():
    """The firmware process dies mid-run: the loop faults on the link and says the stop was never
    confirmed (it was: "safe_stopped": true beside "stop_confirmed": false)."""
    def inject(tick, asm):
        if tick == 10:
            asm.robot.sim.stop()

    report, tel, asm = run_drill(realtime_cfg(), inject=inject)
    assert report.reason.stop.kind is FaultKind.LINK, report.reason
    assert report.exit_code == EXIT_STOP_UNCONFIRMED and not asm.robot.stop_confirmed
    d = report.to_dict()
    assert d["safe_stopped"] is False and "relies on its own watchdog" in d["stop_warning"]


def test_a_failed_write_takes_the_link_down_at_once():
    from jepa_edge.bridge.link import Link

    link = Link("loop://")
    link._phase = "connected"
    assert link.connected
    link._broken = "write failed: [Errno 5] Input/output error"  # what Link._send records on EIO
    assert not link.connected  # not only after the reader thread or the heartbeat timeout notices


def test_planner_overrun_shrinks_budget_goes_safe_then_recovers():
    pred = LinearDynamics(0.1)

    def inject(tick, asm):
        pred.delay_s = 0.5 if 10 <= tick < 40 else 0.0

    cfg = realtime_cfg(**{"schedule.overrun_policy": "shrink", "schedule.plan_timeout_ms": 450.0,
                          "safety.planner": "recover", "safety.max_fault_s": 20.0, "safety.recover_after_ticks": 2,
                          "schedule.max_ticks": 75})
    report, tel, asm = run_drill(cfg, predictor=pred, inject=inject)
    assert report.exit_code == 0, report.reason
    assert report.summary["planner"]["overruns"] >= 1
    assert min(p["scale"] for p in tel.plans if "scale" in p) < 1.0  # shrink cut the budget
    kinds = [(f["kind"], f["action"]) for f in report.faults]
    assert ("planner", "recover") in kinds and ("planner", "resumed") in kinds
    cmds = [t["cmd"] for t in tel.ticks]
    assert "safe" in cmds and cmds[-1] in ("plan", "hold")


def test_skip_policy_sends_nothing_and_the_firmware_stops_the_robot():
    pred = LinearDynamics(0.1)

    def inject(tick, asm):
        pred.delay_s = 0.6 if tick >= 8 else 0.0

    cfg = realtime_cfg(**{"schedule.overrun_policy": "skip", "schedule.max_ticks": 40})
    report, tel, asm = run_drill(cfg, predictor=pred, inject=inject)
    assert "skip" in [t["cmd"] for t in tel.ticks]
    assert report.summary["planner"]["discarded"] >= 1
    assert WATCHDOG in [c for _, c in asm.robot.fault_log]  # no command within the window: firmware stopped


@pytest.mark.parametrize("policy", ["slow", "stop"])
def test_surprise_teleport_in_front_of_the_agent(policy):
    cfg = RobotConfig().override({
        "schedule.mode": "lockstep", "schedule.perception_hz": 10.0, "schedule.planning_hz": 10.0,
        "schedule.max_ticks": 40, "planner.action_low": (-0.3, -0.3), "planner.action_high": (0.3, 0.3),
        "surprise.policy": policy, "surprise.ratio": 4.0, "surprise.warmup_ticks": 10, "surprise.hold_ticks": 5})
    asm = assemble(cfg, episode_seed=5, encoder_session=PixelEncoder(64), random_actions=True)
    asm.parts.surprise_dynamics = LatentDynamics(CopyLastDynamics(0.0, state_dim=4))
    tel = Telemetry()
    try:
        report = RobotLoop(cfg, asm.parts, tel, on_tick=lambda t, r: t == 25 and asm.robot.teleport_in_front() and False).run()
    finally:
        asm.close()
    events = report.surprise_events
    assert events and all(e["tick"] >= 25 for e in events) and events[0]["tick"] <= 26
    assert any(f["kind"] == "surprise" and f["action"] == policy for f in report.faults)  # logged
    after = [t for t in tel.ticks if events[0]["tick"] <= t["tick"] < events[0]["tick"] + 5]
    if policy == "slow":
        assert all(t["cmd"] == "slow" and np.abs(t["action"]).max() <= 0.3 * 0.3 + 1e-6 for t in after)
    else:
        assert all(t["cmd"] == "surprise_stop" and np.allclose(t["action"], 0) for t in after)
    assert tel.ticks[-1]["cmd"] not in ("slow", "surprise_stop")  # back to normal after hold_ticks


def test_safety_monitor_policies():
    from jepa_edge.loop.config import SafetyConfig

    m = SafetyMonitor(SafetyConfig(camera="recover", recover_after_ticks=2, max_fault_s=0.05))
    assert m.report(FaultKind.CAMERA, "stalled", 1) == "recover" and m.faulted
    assert m.healthy(2) is False and m.healthy(3) is True and not m.faulted
    assert m.report(FaultKind.CAMERA, "stalled", 4) == "recover"
    time.sleep(0.06)
    assert m.report(FaultKind.CAMERA, "stalled", 5) == "stop" and m.must_stop  # recovering too long
    assert m.stop_reason == StopReason(FaultKind.CAMERA, "stalled (still failing after 0.1s)")
    assert m.report(FaultKind.INTERRUPT, "SIGINT", 6) == "stop"  # never configurable
    assert m.events[0].to_dict()["kind"] == "camera"  # JSON: the kind's name


def test_every_fault_kind_has_one_estop_reason_and_a_policy():
    from jepa_edge.bridge.messages import EstopReason
    from jepa_edge.loop.config import FaultPolicy, SafetyConfig
    from jepa_edge.robot.faults import END_OF_RUN, ESTOP_REASONS

    assert set(ESTOP_REASONS) == {*FaultKind, None}
    assert StopReason(FaultKind.LATENT, "NaN").estop is EstopReason.NONFINITE
    assert StopReason(FaultKind.LOOP_STALL, "loop stalled for 600 ms").estop is EstopReason.BACKEND  # was UNSPECIFIED
    assert StopReason(FaultKind.INTERRUPT, "SIGINT").estop is EstopReason.USER
    assert END_OF_RUN.estop is EstopReason.SHUTDOWN
    cfg = SafetyConfig(link="recover")
    assert {k.value for k in cfg.policies()} == {"camera", "latent", "backend", "link", "planner"}  # the TOML keys
    policy_fields = {name for name, hint in typing.get_type_hints(SafetyConfig).items() if hint == FaultPolicy}
    assert policy_fields == {k.value for k in cfg.policies()}  # a new policy key needs its fault kind
    assert cfg.policy(FaultKind.LINK) == "recover" and cfg.policy(FaultKind.INTERNAL) == "stop"


def test_ctrl_c_on_jepa_edge_run_stops_the_robot_and_writes_the_report(tmp_path):
    model = save_tiny_model_dir(tmp_path / "model")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "jepa_edge", "run", "--config", str(REPO / "examples" / "sim_world.toml"),
           "--models.encoder", str(model), "--models.predictor", "", "--telemetry.out_dir", str(out),
           "--telemetry.live", "false", "--schedule.duration_s", "60", "--planner.samples", "32",
           "--planner.budget_ms", "80", "--schedule.perception_hz", "20", "--safety.loop_stall_ms", "3000",
           "--json", str(tmp_path / "report.json")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    jsonl = out / "telemetry.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if jsonl.exists() and jsonl.stat().st_size > 3000:  # the loop is running and commanding
            break
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == EXIT_INTERRUPT, stderr
    assert "Traceback" not in stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["reason"] == "interrupted: SIGINT" and report["safe_stopped"]
    assert report["faults"][-1]["kind"] == "interrupt"
    assert report["robot"]["estops_sent"] == 1 and report["robot"]["stop_confirmed"] is True
    assert json.loads((out / "summary.json").read_text())["reason"] == "interrupted: SIGINT"
    assert (out / "timeline.png").exists()


def test_run_end_reads_as_before_and_goal_eval_counts_faults_by_kind():
    from jepa_edge.eval.goal_reaching import ended_by_fault
    from jepa_edge.loop.loop import RunEnd

    camera = RunEnd(Ending.FAULT, StopReason(FaultKind.CAMERA, "no frame for 300 ms"))
    assert str(camera) == "fault camera: no frame for 300 ms" and camera.by_fault
    assert str(RunEnd(Ending.INTERRUPTED, StopReason(FaultKind.INTERRUPT, "SIGINT"))) == "interrupted: SIGINT"
    assert str(RunEnd(Ending.INTERNAL, StopReason(FaultKind.INTERNAL, "ValueError: x"))) == "internal: ValueError: x"
    assert str(RunEnd(Ending.DONE)) == "done" and not RunEnd(Ending.DONE).by_fault
    # the episode's JSON keeps the prose for people; the count reads the typed value, not the prose
    assert ended_by_fault({"ended": "internal", "reason": "anything"})
    assert not ended_by_fault({"ended": "interrupted", "reason": "fault-looking text"})


def test_random_actions_in_realtime_with_the_shrink_policy_keep_replanning():
    """What `jepa-edge run` does with random actions: the planner thread used to die after its
    first plan (the random planner has no budget to shrink), leaving the robot on a stale plan."""
    cfg = realtime_cfg(**{"schedule.overrun_policy": "shrink", "schedule.max_ticks": 30})
    asm = assemble(cfg, episode_seed=3, encoder_session=AgentPositionEncoder(64), random_actions=True)
    tel = Telemetry()
    try:
        report = RobotLoop(cfg, asm.parts, tel).run()
    finally:
        asm.close()
    assert report.exit_code == 0 and report.reason.how is Ending.COMPLETED, report.reason
    assert len(tel.plans) > 2 and not any("error" in p for p in tel.plans)


@pytest.mark.parametrize("over, words", [
    ({"schedule.command_valid_ms": 5000.0}, "accepts command windows up to 1000 ms"),
    ({"planner.action_low": (-2.0, -1.0), "planner.action_high": (2.0, 1.0)}, "takes actions in [-1, 1]"),
])
def test_limits_beyond_the_firmware_are_refused_naming_its_limit(over, words):
    """Were clamped in silence to the firmware's max_valid_ms and to [-1, 1]."""
    from jepa_edge.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(words)):
        assemble(realtime_cfg(**over), episode_seed=3, encoder_session=AgentPositionEncoder(64),
                 predictor_sessions=(LinearDynamics(0.1), None))


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 100000.0])
def test_a_command_window_the_wire_cannot_carry_is_refused_at_config_time(value):
    from jepa_edge.errors import ConfigError

    with pytest.raises(ConfigError, match="schedule.command_valid_ms"):
        realtime_cfg(**{"schedule.command_valid_ms": value})

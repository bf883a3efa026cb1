"""Scheduling pieces: the plan's action for 'now', warm starts shifted by elapsed time, late ticks skipped."""
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jepa_edge.loop.scheduler import Plan, PlanSlot
from jepa_edge.utils.rate import RateTimer
from jepa_edge.loop.surprise import SurpriseMonitor
from jepa_edge.loop.config import SurpriseConfig


def plan(actions, t0=10.0):
    return Plan(np.asarray(actions, np.float32), t0=t0, t_obs=t0, seq=1)


def test_action_at_walks_the_plan_then_holds_its_last_action():
    p = plan([[0.1, 0.0], [0.2, 0.0], [0.3, 0.0]])
    assert p.action_at(10.0, 0.1)[0][0] == np.float32(0.1) and not p.action_at(10.0, 0.1)[1]
    assert p.action_at(10.15, 0.1)[0][0] == np.float32(0.2)
    a, beyond = p.action_at(10.5, 0.1)
    assert a[0] == np.float32(0.3) and beyond
    assert p.action_at(9.0, 0.1)[0][0] == np.float32(0.1)  # clock before t0 (lockstep rounding): first action


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 6), st.floats(0.0, 1.0))
def test_shifted_warm_start_keeps_the_shape_and_drops_executed_steps(horizon, elapsed):
    actions = np.arange(horizon * 2, dtype=np.float32).reshape(horizon, 2)
    warm = plan(actions).shifted(10.0 + elapsed, 0.1)
    k = min(int(elapsed / 0.1 + 1e-6), horizon)
    assert warm.shape == (horizon, 2)
    np.testing.assert_array_equal(warm[: horizon - k], actions[k:])
    assert (warm[horizon - k:] == actions[-1]).all()  # padded with the last action


def test_rate_timer_skips_missed_ticks_instead_of_bunching_them():
    timer = RateTimer(100.0)
    timer.wait()
    time.sleep(0.055)  # five and a half periods late
    scheduled, skipped = timer.wait()
    assert skipped >= 4
    t2, skipped2 = timer.wait()
    assert skipped2 == 0 and abs((t2 - scheduled) - 0.01) < 1e-9  # back on the absolute grid


def test_plan_slot_hands_the_planner_only_newer_observations():
    from jepa_edge.loop.scheduler import Observation

    slot = PlanSlot()
    assert slot.get_obs(-1, timeout=0.01) is None
    threading.Timer(0.02, lambda: slot.put_obs(Observation(np.zeros((1, 1)), None, 0.0, 5))).start()
    assert slot.get_obs(-1, timeout=1.0).tick == 5
    assert slot.get_obs(5, timeout=0.01) is None  # the same observation is never planned on twice


def test_surprise_threshold_is_relative_to_recent_unsurprising_scores():
    m = SurpriseMonitor(SurpriseConfig(ratio=4.0, warmup_ticks=5, hold_ticks=3, policy="stop"))
    z = np.zeros((2, 2), np.float32)
    for k in range(10):
        m.update(z + 0.01 * (k % 2), z, k)  # scores 0 / 0.01
    assert not m.events and m.command_scale() == 1.0
    m.update(z + 1.0, z, 10)
    assert len(m.events) == 1 and abs(m.events[0].threshold - 4 * 0.005) < 1e-6  # 4 x mean(0, 0.01, ...)
    assert m.command_scale() == 0.0
    for k in range(11, 14):
        m.update(z, z, k)
    assert m.command_scale() == 1.0  # hold_ticks later, back to normal


def test_planner_thread_runs_niced_and_publishes_warm_started_plans():
    import os

    from jepa_edge.loop.scheduler import Observation, PlannerThread
    from jepa_edge.planning.planner import PlanInfo, PlanResult

    class Echo:
        def __init__(self):
            self.warm = []

        def plan(self, obs, goal, warm=None, budget=None):
            self.warm.append(warm)
            return PlanResult(np.full((2, 2), 0.5, np.float32), PlanInfo(1, 8, 0.1, 0.0, 0.0))

    slot, planner, records = PlanSlot(), Echo(), []
    th = PlannerThread(planner, np.zeros((1, 1)), slot, hz=50.0, action_dt=0.02, overrun_policy="hold",
                       on_plan=records.append, on_error=records.append, nice=3).start()
    try:
        for k in range(6):
            slot.put_obs(Observation(np.zeros((1, 1)), None, time.monotonic(), k))
            time.sleep(0.03)
        base = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, th._thread.native_id) == min(19, base + 3)
    finally:
        th.close()
    assert slot.latest() is not None and len(records) >= 2
    assert planner.warm[0] is None and all(w is not None and w.shape == (2, 2) for w in planner.warm[1:])


def feed(slot, n, dt=0.03):
    from jepa_edge.loop.scheduler import Observation

    for k in range(n):
        slot.put_obs(Observation(np.zeros((1, 1)), None, time.monotonic(), k))
        time.sleep(dt)


def test_planner_thread_with_the_random_planner_and_shrink_keeps_planning():
    """The random planner (what `assemble(random_actions=True)` supplies) has no budget to shrink; the
    thread used to write `planner.scale` after the first replan and die of the AttributeError."""
    from jepa_edge.loop.scheduler import PlannerThread
    from jepa_edge.planning.config import PlannerConfig
    from jepa_edge.planning.planner import RandomPlanner

    slot, plans, errors = PlanSlot(), [], []
    th = PlannerThread(RandomPlanner(PlannerConfig(horizon=2)), np.zeros((1, 1)), slot, hz=50.0, action_dt=0.02,
                       overrun_policy="shrink", on_plan=plans.append, on_error=errors.append).start()
    try:
        feed(slot, 8)
        assert th.alive
    finally:
        th.close()
    assert errors == [] and len(plans) > 1 and slot.latest().seq == len(plans)
    assert all(p["scale"] == 1.0 and not p["overrun"] for p in plans)  # in time: nothing to shrink


def test_planner_thread_survives_any_exception_and_reports_it():
    from jepa_edge.loop.scheduler import PlannerThread
    from jepa_edge.planning.planner import PlanInfo, PlanResult

    class Flaky:
        calls = 0

        def plan(self, obs, goal, warm=None, budget=None):
            self.calls += 1
            if self.calls % 2:
                raise RuntimeError("device lost")
            return PlanResult(np.zeros((1, 2), np.float32), PlanInfo(1, 8, 0.1, 0.0, 0.0))

    def bad_telemetry(rec):
        if "error" not in rec:
            raise OSError("disk full")

    slot, errors = PlanSlot(), []
    th = PlannerThread(Flaky(), np.zeros((1, 1)), slot, hz=50.0, action_dt=0.02, overrun_policy="shrink",
                       on_plan=bad_telemetry, on_error=errors.append).start()
    try:
        feed(slot, 6)
        assert th.alive
    finally:
        th.close()
    assert "RuntimeError: device lost" in errors and "telemetry: OSError: disk full" in errors
    assert slot.latest() is not None and not slot.replan_late(time.monotonic() + 1e6)  # no replan left pending


def test_plan_step_shrinks_the_budget_it_passes_on_overrun_and_grows_it_back():
    from jepa_edge.loop.scheduler import Observation, PlanStep
    from jepa_edge.planning.planner import PlanBudget, PlanInfo, PlanResult

    clock = {"t": 0.0}
    budgets = []

    class Slow:
        late = True

        def plan(self, obs, goal, warm=None, budget=None):
            budgets.append(budget)
            clock["t"] += 0.5 if self.late else 0.01  # a replan takes 0.5 s of a 0.2 s period, or 10 ms
            return PlanResult(np.zeros((1, 2), np.float32), PlanInfo(1, 8, 0.1, 0.0, 0.0))

    slot, recs, planner = PlanSlot(), [], Slow()
    step = PlanStep(planner, np.zeros((1, 1)), slot, period=0.2, action_dt=0.2, overrun_policy="shrink",
                    budget=PlanBudget(150.0), on_plan=recs.append, on_error=recs.append, clock=lambda: clock["t"])
    for k in range(3):
        step(Observation(np.zeros((1, 1)), tick=k))
    planner.late = False
    step(Observation(np.zeros((1, 1)), tick=3))
    assert [b.scale for b in budgets] == pytest.approx([1.0, 0.7, 0.49, 0.343])
    assert all(b.ms == 150.0 for b in budgets)
    assert slot.overruns == 3 and [r["overrun"] for r in recs] == [True, True, True, False]
    assert recs[-1]["scale"] == pytest.approx(0.343 * 1.1, abs=1e-3)
    assert slot.latest().seq == 4  # hold: late plans are still published

    skip = PlanStep(Slow(), np.zeros((1, 1)), PlanSlot(), period=0.2, action_dt=0.2, overrun_policy="skip",
                    budget=PlanBudget(150.0), on_plan=recs.append, on_error=recs.append, clock=lambda: clock["t"])
    assert skip(Observation(np.zeros((1, 1)))) is not None and skip.slot.latest() is None  # discarded

"""Robot state over a planned rollout: integrated action by action (V-JEPA 2-AC), or held."""
import json

import numpy as np
import pytest

from jepa_edge.data.world import TabletopWorld, WorldConfig
from jepa_edge.errors import ConfigError
from jepa_edge.loop.assemble import make_state_update
from jepa_edge.planning.planner import LatentDynamics, Observation, make_planner
from jepa_edge.planning.kinematics import StateUpdate
from jepa_edge.loop.config import PlannerConfig, RobotConfig, load_robot_config

from loop_support import N_TOKENS, LinearDynamics, embedding, save_tiny_model_dir

WORLD = WorldConfig()


class StateReadingDynamics(LinearDynamics):
    """A predictor that, like a trained one, trusts the state it is given: the next frame shows the
    agent at state position + action * step, whatever the tokens say."""

    def run(self, inputs):
        pos = inputs["states"][:, -1, :2] + inputs["actions"][:, -1] * self.speed_dt  # [B, 2]
        self.batches.append(len(pos))
        return {"next_tokens": (pos @ self.W.T).reshape(len(pos), N_TOKENS, -1).astype(np.float32)}


def at(pos):
    return (embedding(0) @ np.asarray(pos, np.float32)).reshape(N_TOKENS, -1)


def test_the_world_update_matches_the_world_step():
    update = StateUpdate.for_world(WORLD)
    world = TabletopWorld(WorldConfig(n_objects=1), seed=3)
    state, compared = world.state.proprio(), 0
    for a in ([1.0, -0.5], [-0.3, 0.8], [0.0, 0.0]):
        state = update(state[None], np.asarray([a], np.float32))[0]
        world.step(a)
        if np.allclose(world.state.agent_vel, np.asarray(a) * WORLD.max_speed):  # no contact this step
            np.testing.assert_allclose(state, world.state.proprio(), atol=1e-5)
            compared += 1
    assert compared >= 2


def test_positions_stay_in_the_workspace_and_velocities_follow_the_command():
    update = StateUpdate.for_world(WORLD)
    s = np.array([[0.9, 0.1, 0.0, 0.0]], np.float32)
    out = update(s, np.array([[1.0, -1.0]], np.float32))
    assert out[0, 0] == pytest.approx(1 - WORLD.wall - WORLD.agent_radius)
    assert out[0, 1] == pytest.approx(WORLD.wall + WORLD.agent_radius)
    np.testing.assert_allclose(out[0, 2:], [WORLD.max_speed, -WORLD.max_speed])
    assert s[0, 0] == pytest.approx(0.9)  # the caller's array is left alone


def test_record_round_trip_and_bad_records():
    update = StateUpdate.for_world(WORLD)
    assert StateUpdate.from_dict(json.loads(json.dumps(update.to_dict()))) == update
    delta = StateUpdate(position=(0, 1, 2), step=1.0)  # a delta-pose arm: unbounded, no velocity
    assert StateUpdate.from_dict(json.loads(json.dumps(delta.to_dict()))) == delta
    with pytest.raises(ConfigError, match="position and step"):
        StateUpdate.from_dict({"step": 0.1})
    with pytest.raises(ConfigError, match="velocity has 1 slots"):
        StateUpdate(position=(0, 1), step=0.1, velocity=(2,))
    with pytest.raises(ConfigError, match="planner.state_update = 'hold'"):
        LatentDynamics(LinearDynamics(0.05, state_dim=3), state_update=update)  # slot 3 does not exist


def test_rollout_integrates_each_planned_action_into_the_state():
    session = StateReadingDynamics(0.05)
    start = np.array([0.3, 0.4, 0.0, 0.0], np.float32)
    actions = np.array([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]], np.float32)  # [B=1, H=3, 2]
    integrated = LatentDynamics(session, state_update=StateUpdate.for_world(WORLD)).rollout(at(start[:2]), actions, start)
    held = LatentDynamics(session).rollout(at(start[:2]), actions, start)
    np.testing.assert_allclose(integrated[0], at([0.4, 0.45]), atol=1e-5)  # all three steps
    np.testing.assert_allclose(held[0], at([0.3, 0.45]), atol=1e-5)  # only the last step: the robot "never moved"


def test_a_planner_with_integrated_state_reaches_a_goal_several_steps_away():
    session = StateReadingDynamics(0.05)
    start = np.array([0.3, 0.3, 0.0, 0.0], np.float32)
    goal = at([0.42, 0.3])  # 0.12 away: three full steps of 0.05 overshoot, 2.4 steps reach it
    cfg = PlannerConfig(horizon=3, samples=128, iterations=6, elites=16, budget_ms=10_000, seed=0)
    kin = StateUpdate.for_world(WORLD)
    plan = make_planner(LatentDynamics(session, state_update=kin), cfg).plan(Observation(at(start[:2]), start), goal).actions
    np.testing.assert_allclose(plan.sum(0) * 0.05, [0.12, 0.0], atol=0.02)
    held = make_planner(LatentDynamics(session), cfg).plan(Observation(at(start[:2]), start), goal).actions
    # Held, only the last action shows in the rollout: the first two are left to chance.
    assert abs(held[-1, 0] - 1.0) < 0.05


def test_which_kinematics_the_loop_uses(tmp_path):
    update = StateUpdate.for_world(WORLD)
    recorded = StateUpdate(position=(0, 1), step=0.02, velocity=(2, 3), velocity_scale=0.2)
    model = save_tiny_model_dir(tmp_path / "model", config={"ac": {"state_update": recorded.to_dict()}})
    bare = save_tiny_model_dir(tmp_path / "bare", config={"ac": {}})
    auto, hold, integrate = (RobotConfig().override({"planner.state_update": m}) for m in ("auto", "hold", "integrate"))
    assert make_state_update(auto, model, WORLD) == recorded  # what the predictor learned comes first
    assert make_state_update(auto, bare, WORLD) == update  # then the simulated world's own
    assert make_state_update(auto, bare) is None  # unknown: held
    assert make_state_update(hold, model, WORLD) is None
    with pytest.raises(ConfigError, match="records no robot kinematics"):
        make_state_update(integrate, bare)


def test_state_update_is_a_checked_config_key(tmp_path):
    toml = tmp_path / "robot.toml"
    toml.write_text('[planner]\nstate_update = "freeze"\n')
    with pytest.raises(ConfigError, match="planner.state_update"):
        load_robot_config(toml)


def test_the_update_for_a_frame_skip_predictor_matches_k_world_steps():
    k = 3
    update = StateUpdate.for_world(WORLD, action_repeat=k)
    world = TabletopWorld(WorldConfig(n_objects=1, object_speed=0.0), seed=5)
    world.agent_pos, world.obj_pos = np.array([0.5, 0.5]), np.array([[0.15, 0.85]])  # no wall or object in reach
    state = update(world.state.proprio()[None], np.array([[0.6, -0.4]], np.float32))[0]
    for _ in range(k):
        world.step([0.6, -0.4])
    np.testing.assert_allclose(state, world.state.proprio(), atol=1e-5)

"""Goal-reaching tasks: goals are consistent with the episode, the oracle reaches them."""
import numpy as np
import pytest

from jepa_edge.data import TASK_CONFIG, OracleController, RandomPolicy, TabletopWorld, is_success, sample_goal
from jepa_edge.data.tasks import goal_distance, start_episode
from jepa_edge.errors import ConfigError


@pytest.mark.parametrize("kind", ["reach", "push"])
def test_goal_is_the_episode_scene_with_one_thing_moved(kind):
    for seed in range(5):
        g = sample_goal(seed, kind=kind, size=96)
        start = TabletopWorld(TASK_CONFIG, seed=seed).state
        np.testing.assert_array_equal(g.start.obj_pos, start.obj_pos)
        np.testing.assert_array_equal(g.start.agent_pos, start.agent_pos)
        assert g.image.shape == (96, 96, 3) and g.image.dtype == np.uint8
        w = TabletopWorld(TASK_CONFIG)
        w.set_state(g.state)
        assert np.array_equal(w.render(96), g.image)               # the image shows the goal state
        assert not is_success(g.start, g) and is_success(g.state, g)
        assert goal_distance(g.start, g) >= 0.25
        if kind == "reach":
            np.testing.assert_array_equal(g.state.obj_pos, start.obj_pos)
        else:
            moved = np.flatnonzero(np.any(g.state.obj_pos != start.obj_pos, axis=1))
            assert moved.tolist() == [g.object] and g.state.obj_visible[g.object]
        again = sample_goal(seed, kind=kind, size=96)
        assert np.array_equal(again.image, g.image)


@pytest.mark.parametrize("kind,steps", [("reach", 40), ("push", 150)])
def test_oracle_reaches_goals_random_rarely_does(kind, steps):
    oracle_wins = random_wins = 0
    for seed in range(8):
        for controller in ("oracle", "random"):
            world, goal = start_episode(seed, kind=kind)
            act = OracleController(goal, world.cfg) if controller == "oracle" else RandomPolicy(seed)
            for _ in range(steps):
                if is_success(world.state, goal):
                    break
                world.step(act(world.state))
            won = is_success(world.state, goal)
            oracle_wins += won and controller == "oracle"
            random_wins += won and controller == "random"
    assert oracle_wins >= 7
    assert random_wins <= 3


def test_unknown_task():
    with pytest.raises(ConfigError, match="unknown task"):
        sample_goal(0, kind="fly")

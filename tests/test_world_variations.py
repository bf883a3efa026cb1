"""Variations of the built-in world a model was not trained on: sim.n_objects, sim.occluder, sim.palette
(the goal-reaching evaluation run on them, and the defaults left exactly as they were)."""
import json
from dataclasses import replace

import numpy as np
import pytest

from jepa_edge.data.render import OCCLUDER, TABLE, WALL
from jepa_edge.data.tasks import TASK_CONFIG, task_config
from jepa_edge.data.world import PALETTE, PALETTES, TabletopWorld, WorldConfig
from jepa_edge.errors import ConfigError
from jepa_edge.loop.assemble import make_robot
from jepa_edge.loop.config import RobotConfig, SimConfig
from jepa_edge.utils import config as C

from loop_support import save_tiny_model_dir


def episode(seed: int = 1000, **sim):
    """(world, goal) of a goal-reaching episode as `jepa-edge run --episodes` builds it (through the
    firmware simulator's robot, closed again at once)."""
    cfg = RobotConfig().override({"schedule.mode": "lockstep", **{f"sim.{k}": v for k, v in sim.items()}})
    robot, _, world, goal = make_robot(cfg, seed)
    try:
        frame = robot.render()
    finally:
        robot.close()
    assert np.array_equal(frame, world.render(cfg.sim.img_size))  # the camera sees the varied world
    return world, goal


def pixels_of(img, colour) -> np.ndarray:
    return np.all(img == tuple(int(c) for c in colour), axis=-1)


def test_defaults_leave_the_world_and_its_frames_unchanged():
    sim = SimConfig()
    assert (sim.n_objects, sim.occluder, sim.palette) == (0, None, "default")
    assert task_config(sim.img_size, sim.n_objects, sim.occluder, sim.palette) == replace(TASK_CONFIG, img_size=64)
    # the training colours, as they were
    assert PALETTES["default"].objects == PALETTE == (
        (220, 50, 47), (38, 160, 70), (38, 100, 220), (235, 190, 30), (190, 60, 200), (30, 190, 200))
    assert (TABLE, WALL, OCCLUDER) == ((222, 212, 190), (110, 84, 60), (120, 122, 135))
    world, goal = episode(1000)
    ref = TabletopWorld(WorldConfig(object_speed=0.0), seed=1000)
    assert np.array_equal(world.render(64), ref.render(64))
    for seed in (0, 7):
        assert np.array_equal(TabletopWorld(WorldConfig(palette="default"), seed=seed).render(),
                              TabletopWorld(WorldConfig(), seed=seed).render())
    assert goal.image.shape == (64, 64, 3)


def test_n_objects_sets_how_many_objects_the_episode_has():
    for n in (1, 5, 6):
        world, goal = episode(1000, n_objects=n)
        assert len(world.state.obj_pos) == n and len(goal.state.obj_pos) == n
        assert len({tuple(c) for c in world.state.obj_colour.tolist()}) == n
    world, _ = episode(1000)
    assert len(world.state.obj_pos) == TASK_CONFIG.n_objects


def test_the_occluder_moves_in_the_world_and_in_the_goal_image():
    box = (0.05, 0.1, 0.25, 0.9)
    world, goal = episode(1000, occluder=box)
    base, _ = episode(1000)
    assert world.cfg.occluder == box and np.array_equal(world.state.obj_pos, base.state.obj_pos)
    for w in (world, base):  # nothing in front of either occluder: only the screens differ
        w.agent_pos[:] = [0.8, 0.5]
        w.obj_pos[:] = [[0.75, 0.15], [0.75, 0.85], [0.9, 0.3]]
    new, old = world.render(64), base.render(64)
    new_px = pixels_of(new, OCCLUDER)
    old_px = pixels_of(old, OCCLUDER)
    assert new_px[:, 5:14].all(axis=1)[10:55].all()          # the screen is where it was asked to be
    assert not new_px[:, 27:38].any()                         # and no longer where it was
    assert old_px[:, 27:38].all(axis=1)[10:55].all() and not old_px[:, 5:14].any()
    assert not np.array_equal(new, old)
    # the goal image is drawn in the same varied world (the agent, above everything, may cover some of it)
    assert pixels_of(goal.image, OCCLUDER)[10:55, 5:14].sum() > 0.8 * 45 * 9
    assert not pixels_of(goal.image, OCCLUDER)[:, 27:38].any()


def test_a_shifted_palette_recolours_the_objects_but_moves_nothing():
    world, goal = episode(1000, palette="shifted")
    base, base_goal = episode(1000)
    s, b = world.state, base.state
    assert np.array_equal(s.obj_pos, b.obj_pos) and np.array_equal(s.agent_pos, b.agent_pos)
    assert np.array_equal(s.obj_shape, b.obj_shape)
    assert np.array_equal(goal.state.agent_pos, base_goal.state.agent_pos)
    shifted = {tuple(c) for c in s.obj_colour.tolist()}
    assert shifted.isdisjoint(PALETTE) and shifted <= set(PALETTES["shifted"].objects)
    for w in (world, base):  # every object in view, the agent away from them
        w.agent_pos[:] = [0.85, 0.85]
        w.obj_pos[:] = [[0.2, 0.25], [0.2, 0.5], [0.2, 0.75]]
    new, old = world.render(64), base.render(64)
    for k in range(3):  # object k covers the same pixels, in its new colour
        assert np.array_equal(pixels_of(new, s.obj_colour[k]), pixels_of(old, b.obj_colour[k]))
        assert pixels_of(new, s.obj_colour[k]).sum() > 10
    differ = np.any(new != old, axis=-1)
    centre = (np.indices((64, 64))[::-1] + 0.5) / 64                     # pixel centres, (x, y)
    near = np.zeros_like(differ)
    for x, y in world.obj_pos:  # an object's bounding square and one pixel of anti-aliased fringe
        near |= (np.abs(centre[0] - x) < world.cfg.object_radius + 1.5 / 64) & \
                (np.abs(centre[1] - y) < world.cfg.object_radius + 1.5 / 64)
    assert differ.any() and not (differ & ~near).any()                      # nothing else changed


def test_a_background_palette_recolours_the_table_and_keeps_the_objects_and_agent():
    from jepa_edge.data.render import AGENT

    world, goal = episode(1000, palette="background")
    base, _ = episode(1000)
    assert np.array_equal(world.state.obj_colour, base.state.obj_colour)
    new, old = world.render(64), base.render(64)
    p = PALETTES["background"]
    assert pixels_of(new, p.table).sum() > 1000 and not pixels_of(new, TABLE).any()
    assert pixels_of(new, AGENT).sum() == pixels_of(old, AGENT).sum() > 10
    assert pixels_of(goal.image, p.table).sum() > 1000


def test_bad_variations_are_one_config_error_naming_the_key():
    cfg = RobotConfig()
    for key, value, match in (("sim.n_objects", 7, "sim.n_objects"), ("sim.n_objects", -1, "sim.n_objects"),
                              ("sim.occluder", (0.5, 0.1, 0.3, 0.9), "sim.occluder"),
                              ("sim.occluder", (0.1, 0.1, 0.3, 1.2), "sim.occluder"),
                              ("sim.occluder", (0.1, 0.1, 0.3), "sim.occluder"),
                              ("sim.occluder", "left", "sim.occluder"),
                              ("sim.palette", "neon", "sim.palette")):
        with pytest.raises(ConfigError, match=match) as e:
            cfg.override({key: value})
        assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="built-in world"):
        cfg.override({"camera.source": "gym", "sim.world": "Pendulum-v1", "sim.n_objects": 2})
    with pytest.raises(ConfigError, match="palette"):
        WorldConfig(palette="neon")
    assert set(C.choices(C.field_types(SimConfig)["palette"])) == set(PALETTES)


def test_flags_and_toml_set_the_variation(tmp_path, capsys):
    import argparse

    from jepa_edge.cli import main
    from jepa_edge.loop.config import add_config_flags, flag_overrides, load_robot_config

    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    args = parser.parse_args(["--sim.n_objects", "4", "--sim.occluder", "0.1,0.1,0.3,0.9", "--sim.palette", "shifted"])
    cfg = RobotConfig().override(flag_overrides(args))
    assert (cfg.sim.n_objects, cfg.sim.occluder, cfg.sim.palette) == (4, (0.1, 0.1, 0.3, 0.9), "shifted")
    toml = tmp_path / "robot.toml"
    toml.write_text('[sim]\nn_objects = 2\noccluder = [0, 0.2, 0.5, 1]\npalette = "background"\n')
    cfg = load_robot_config(toml)
    assert (cfg.sim.n_objects, cfg.sim.occluder, cfg.sim.palette) == (2, (0.0, 0.2, 0.5, 1.0), "background")
    assert main(["run", "--sim.occluder", "0.6,0.1,0.3,0.9", "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    assert "sim.occluder" in err and len(err.strip().splitlines()) == 1


def test_goal_reaching_evaluation_runs_on_a_varied_world_and_the_oracle_reaches(tmp_path):
    from jepa_edge.cli import main

    model = save_tiny_model_dir(tmp_path / "model")
    out = tmp_path / "eval.json"
    assert main(["run", "--episodes", "1", "--methods", "random,oracle", "--models.encoder", str(model),
                 "--sim.max_steps", "40", "--sim.n_objects", "5", "--sim.occluder", "0.1,0.1,0.3,0.9",
                 "--sim.palette", "shifted", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["world_variation"] == {"n_objects": 5, "occluder": [0.1, 0.1, 0.3, 0.9], "palette": "shifted"}
    assert res["methods"]["oracle"]["successes"] == 1 and res["methods"]["oracle"]["faulted"] == 0
    assert res["methods"]["random"]["faulted"] == 0
    assert "--sim.n_objects=5" in res["command"] and "--sim.occluder=0.1,0.1,0.3,0.9" in res["command"]

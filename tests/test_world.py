"""Built-in world: determinism, physics invariants, visibility, rendering, driving the agent."""
import numpy as np
import pytest

from jepa_edge.data import (
    PushPolicy, RandomPolicy, TabletopWorld, WorldConfig, make_clip, make_policy,
)
from jepa_edge.data.render import OCCLUDER
from jepa_edge.data.world import PALETTE, visible_fraction
from jepa_edge.errors import ConfigError, DataError

CFG = WorldConfig()


def overlaps(state, cfg, tol=1e-6):
    """Deepest interpenetration between any two bodies (0 when none)."""
    pos = np.concatenate([state.agent_pos[None], state.obj_pos])
    rad = np.array([cfg.agent_radius] + [cfg.object_radius] * len(state.obj_pos))
    d = np.hypot(*(pos[:, None] - pos[None]).transpose(2, 0, 1))
    pen = rad[:, None] + rad[None] - d
    np.fill_diagonal(pen, -1)
    return max(pen.max(), 0.0)


def test_same_seed_same_clip_other_seed_other_clip():
    a, b, c = make_clip(3, frames=12), make_clip(3, frames=12), make_clip(4, frames=12)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.actions, b.actions)
    assert np.array_equal(a.positions["objects"], b.positions["objects"])
    assert not np.array_equal(a.frames, c.frames)


def test_reset_places_everything_inside_without_overlap():
    w = TabletopWorld(WorldConfig(n_objects=6))
    for seed in range(30):
        s = w.reset(seed)
        assert overlaps(s, w.cfg) == 0
        lo = w.cfg.wall + w.cfg.object_radius
        assert np.all(s.obj_pos >= lo - 1e-9) and np.all(s.obj_pos <= 1 - lo + 1e-9)
        assert len(set(map(tuple, s.obj_colour.tolist()))) == 6        # distinct colours


@pytest.mark.parametrize("policy", ["explore", "random", "push"])
def test_long_rollouts_keep_physics_invariants(policy):
    cfg = WorldConfig(n_objects=5, object_speed=0.6)
    w = TabletopWorld(cfg, seed=1)
    pol = make_policy(policy, cfg, 0)
    lo_o, lo_a = cfg.wall + cfg.object_radius, cfg.wall + cfg.agent_radius
    prev = w.state
    for _ in range(300):
        s = w.step(pol(w.state))
        assert len(s.obj_pos) == 5 and s.obj_present.all()            # objects are conserved
        assert np.all(s.obj_pos >= lo_o - 1e-9) and np.all(s.obj_pos <= 1 - lo_o + 1e-9)
        assert np.all(s.agent_pos >= lo_a - 1e-9) and np.all(s.agent_pos <= 1 - lo_a + 1e-9)
        # The agent moves no faster than commanded (per axis; a pinned object can nudge it a
        # little when contacts chain up), objects never blow up.
        assert np.all(np.abs(s.agent_pos - prev.agent_pos) <= cfg.max_speed * cfg.dt + 0.1 * cfg.object_radius)
        assert np.hypot(*s.obj_vel.T).max() < 3.0
        assert overlaps(s, cfg) < 0.35 * cfg.object_radius    # contacts resolved (soft solver: crowds squeeze a little)
        assert np.array_equal(s.obj_shape, prev.obj_shape) and np.array_equal(s.obj_colour, prev.obj_colour)
        prev = s


def test_friction_brings_objects_to_rest():
    w = TabletopWorld(WorldConfig(object_speed=0.5), seed=2)
    assert np.hypot(*w.state.obj_vel.T).max() > 0.1
    w.agent_pos[:] = [0.1, 0.1]  # out of the way; a still agent
    for _ in range(150):
        w.step([0.0, 0.0])
    assert np.all(w.state.obj_vel == 0)


def test_agent_pushes_an_object_it_drives_into():
    w = TabletopWorld(WorldConfig(n_objects=1, object_speed=0.0), seed=0)
    w.agent_pos[:] = [0.2, 0.5]
    w.obj_pos[:] = [[0.35, 0.5]]
    for _ in range(8):
        w.step([1.0, 0.0])
    s = w.state
    assert s.obj_pos[0, 0] > 0.45 and abs(s.obj_pos[0, 1] - 0.5) < 1e-6
    assert s.agent_pos[0] < s.obj_pos[0, 0] - (w.cfg.agent_radius + w.cfg.object_radius) + 1e-6


def test_object_pinned_at_a_wall_blocks_the_agent():
    cfg = WorldConfig(n_objects=1, object_speed=0.0)
    w = TabletopWorld(cfg, seed=0)
    w.obj_pos[:] = [[1 - cfg.wall - cfg.object_radius, 0.5]]
    w.agent_pos[:] = [0.6, 0.5]
    for _ in range(20):
        s = w.step([1.0, 0.0])
    assert overlaps(s, cfg) < 1e-6
    assert s.agent_pos[0] <= s.obj_pos[0, 0] - cfg.agent_radius - cfg.object_radius + 1e-6
    assert abs(s.agent_vel[0]) < 1e-6       # it is stuck, and its reported velocity says so


def test_visibility_matches_pixels_behind_and_beside_the_occluder():
    cfg = WorldConfig(n_objects=1, object_speed=0.0, antialias=True)
    w = TabletopWorld(cfg, seed=0)
    x0, y0, x1, y1 = cfg.occluder
    colour = tuple(int(c) for c in w.obj_colour[0])
    for size in (64, 128, 224):
        w.agent_pos[:] = [0.9, 0.9]
        w.obj_pos[:] = [[(x0 + x1) / 2, 0.5]]                       # fully behind
        s = w.state
        assert not s.obj_visible[0]
        img = w.render(size)
        assert not np.any(np.all(img == colour, axis=-1))
        assert not np.any(np.abs(img.astype(int) - OCCLUDER).sum(-1)[:, : int(x0 * size) - 2].min() == 0)
        w.obj_pos[:] = [[x0 - cfg.object_radius - 0.05, 0.5]]       # fully beside it
        assert w.state.obj_visible[0]
        assert np.all(w.render(size) == colour, axis=-1).sum() > 10
        w.obj_pos[:] = [[x0, 0.5]]                                  # half behind
        assert w.state.obj_visible[0]
        assert 0.4 < visible_fraction(w.obj_pos, cfg.object_radius, cfg.occluder)[0] < 0.6


def test_render_any_size_and_shapes_differ():
    cfg = WorldConfig(n_objects=3, object_speed=0.0)
    w = TabletopWorld(cfg, seed=0)
    w.obj_pos[:] = [[0.2, 0.25], [0.2, 0.5], [0.2, 0.75]]
    w.obj_shape[:] = [0, 1, 2]
    w.agent_pos[:] = [0.8, 0.8]
    for size in (64, 96, 128, 224, 256):
        img = w.render(size)
        assert img.shape == (size, size, 3) and img.dtype == np.uint8
    with pytest.raises(ConfigError, match="render size"):
        w.render(3)
    img = w.render(128)
    area = [np.all(img == tuple(int(c) for c in w.obj_colour[k]), -1).sum() for k in range(3)]
    assert area[2] < area[0] < area[1]       # triangle < circle < square, all drawn
    assert len(PALETTE) >= 6


def test_set_agent_velocity_drives_until_changed_and_is_clipped():
    cfg = WorldConfig(n_objects=1, object_speed=0.0)
    w = TabletopWorld(cfg, seed=0)
    w.agent_pos[:] = [0.3, 0.3]
    w.obj_pos[:] = [[0.8, 0.8]]
    w.set_agent_velocity([0.2, -0.1])
    for _ in range(3):
        s = w.step()
    np.testing.assert_allclose(s.agent_pos, [0.3 + 3 * 0.02, 0.3 - 3 * 0.01])
    np.testing.assert_allclose(s.agent_vel, [0.2, -0.1])
    w.set_agent_velocity([10.0, 0.0])
    assert w.step().agent_vel[0] == pytest.approx(cfg.max_speed)
    with pytest.raises(DataError):
        w.set_agent_velocity([np.nan, 0.0])
    with pytest.raises(DataError):
        w.step([1.0, 2.0, 3.0])
    with pytest.raises(DataError):
        w.step([np.inf, 0.0])


def test_rollout_with_actions_equals_rollout_with_policy():
    actions = np.random.default_rng(0).uniform(-1.5, 1.5, size=(10, 2))
    a = TabletopWorld(seed=5).rollout(actions)
    b = TabletopWorld(seed=5).rollout(lambda s, it=iter(actions): next(it), 10)
    assert np.array_equal(a.frames, b.frames)
    np.testing.assert_allclose(a.actions, np.clip(actions, -1, 1), atol=1e-7)
    assert a.frames.shape == (10, 64, 64, 3) and a.states.shape == (10, 4)
    # states[t] is the proprio of frames[t]: agent position and velocity
    np.testing.assert_array_equal(a.states[:, :2], a.positions["agent"])
    with pytest.raises(DataError):
        TabletopWorld(seed=5).rollout(actions, 11)
    with pytest.raises(DataError):
        TabletopWorld(seed=5).rollout(np.zeros((4, 3)))


def test_state_vectors_and_dims():
    w = TabletopWorld(WorldConfig(n_objects=4), seed=0)
    s = w.state
    assert w.action_dim == 2 and w.state_dim == 4 and s.proprio().shape == (4,)
    assert s.vector().shape == (4 + 5 * 4,) and s.vector().dtype == np.float32
    s2 = s.copy()
    s2.obj_pos[0] += 1
    assert not np.array_equal(s2.obj_pos, w.state.obj_pos)        # snapshots are copies


def test_config_errors_and_round_trip():
    cfg = WorldConfig(n_objects=2, occluder=(0.1, 0.1, 0.3, 0.9))
    assert WorldConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown"):
        WorldConfig.from_dict({"n_objets": 3})
    with pytest.raises(ConfigError):
        WorldConfig(n_objects=0)
    with pytest.raises(ConfigError):
        WorldConfig(occluder=(0.5, 0.1, 0.4, 0.9))
    with pytest.raises(ConfigError):
        make_policy("dance", CFG)


def test_policies_are_seeded_and_bounded():
    s = TabletopWorld(seed=0).state
    for make in (lambda seed: RandomPolicy(seed), lambda seed: PushPolicy(CFG, seed)):
        a, b = make(7), make(7)
        xs = [a(s) for _ in range(30)]
        assert all(np.array_equal(x, b(s)) for x in xs)
        assert all(np.all(np.abs(x) <= 1) for x in xs)


def test_random_clips_show_objects_moving_and_sometimes_hidden():
    """Objects start with velocities: within 16 frames objects move, and across a few clips at
    least one object is behind the occluder at some point."""
    hidden = 0
    for seed in range(6):
        c = make_clip(seed, frames=16, render=False)
        assert np.abs(np.diff(c.positions["objects"], axis=0)).sum() > 0.05
        hidden += int((~c.visible).any())
    assert hidden >= 1
    crossing = make_clip(0, frames=16, cross=True, render=False)
    assert (~crossing.visible).any()


def test_teleport_in_front_of_the_agent():
    cfg = WorldConfig(n_objects=2, object_speed=0.0)
    w = TabletopWorld(cfg, seed=0)
    w.agent_pos[:] = [0.3, 0.5]
    w.set_agent_velocity([0.3, 0.0])
    p = w.teleport(1)
    np.testing.assert_allclose(p, [0.45, 0.5])
    np.testing.assert_allclose(w.state.obj_pos[1], p)
    assert np.all(w.teleport(0, [5.0, -1.0]) == [1 - cfg.wall - cfg.object_radius, cfg.wall + cfg.object_radius])


def test_action_repeat_holds_each_action_and_keeps_every_kth_frame():
    k, T = 3, 5
    skip = make_clip(7, frames=T, action_repeat=k, render=False)
    assert len(skip) == T
    # the same world, stepped by hand with each of the clip's actions held for k steps
    world = TabletopWorld(WorldConfig(), seed=(7,))
    for t in range(T):
        np.testing.assert_allclose(skip.states[t], world.state.proprio(), atol=1e-6)
        for _ in range(k):
            world.step(skip.actions[t])
    # one clip step covers k world steps: the agent moves about k times as far as without the skip
    plain = make_clip(7, frames=T, render=False)
    assert np.abs(np.diff(skip.positions["agent"], axis=0)).sum() > 1.5 * np.abs(np.diff(plain.positions["agent"], axis=0)).sum()
    with pytest.raises(ConfigError, match="action_repeat"):
        make_clip(7, frames=T, action_repeat=0)

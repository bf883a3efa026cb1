"""Impossible clips differ from their possible twin by exactly the declared violation."""
import numpy as np
import pytest

from jepa_edge.data import VIOLATIONS, WorldConfig, make_vo_pair
from jepa_edge.data.world import visible_fraction
from jepa_edge.errors import ConfigError

CFG = WorldConfig()
SEEDS = range(6)


def bbox_mask(pos, size, cfg, pad=2):
    """Pixels an object at `pos` may touch (its bounding square plus the anti-aliased fringe)."""
    m = np.zeros((size, size), bool)
    r = cfg.object_radius * size
    cx, cy = pos[0] * size, pos[1] * size
    m[max(int(cy - r) - pad, 0):int(cy + r) + pad + 1, max(int(cx - r) - pad, 0):int(cx + r) + pad + 1] = True
    return m


def assert_same_except(p, q, k):
    """Everything but object k is identical: actions, agent, other objects, their looks."""
    np.testing.assert_array_equal(p.actions, q.actions)
    np.testing.assert_array_equal(p.states, q.states)
    np.testing.assert_array_equal(p.positions["agent"], q.positions["agent"])
    others = [i for i in range(p.present.shape[1]) if i != k]
    for key in ("shapes", "colours", "present", "visible"):
        np.testing.assert_array_equal(getattr(p, key)[:, others], getattr(q, key)[:, others])
    np.testing.assert_array_equal(p.positions["objects"][:, others], q.positions["objects"][:, others])
    np.testing.assert_array_equal(p.velocities["objects"], q.velocities["objects"])


def assert_possible(p, k):
    """The possible clip conserves every object and object k really crosses the occluder."""
    assert p.violation is None and p.present.all()
    step = np.hypot(*np.diff(p.positions["objects"], axis=0).transpose(2, 0, 1))
    assert step.max() <= 3.0 * CFG.dt + 1e-6                          # continuous paths
    vis = p.visible[:, k]
    hidden = np.flatnonzero(~vis)
    assert vis[0] and len(hidden) and vis[hidden[0]:].any()           # goes behind and comes back
    assert np.array_equal(p.shapes, np.repeat(p.shapes[:1], len(p), 0))


@pytest.mark.parametrize("seed", SEEDS)
def test_vanish(seed):
    p, q = make_vo_pair(seed, "vanish")
    k, t = q.violation["object"], q.violation["t"]
    assert q.violation["kind"] == "vanish"
    assert_possible(p, k)
    assert_same_except(p, q, k)
    assert not p.visible[t, k] and p.visible[:t, k].any()            # vanishes while hidden
    assert q.present[:t, k].all() and not q.present[t:, k].any()     # ... and never comes back
    assert not q.visible[t:, k].any()
    np.testing.assert_array_equal(p.positions["objects"][:, k], q.positions["objects"][:, k])
    np.testing.assert_array_equal(p.frames[:t], q.frames[:t])
    size = p.frames.shape[1]
    for u in range(t, len(p)):
        diff = np.any(p.frames[u] != q.frames[u], axis=-1)
        if not p.visible[u, k]:
            assert not diff.any()                                    # hidden: nothing to see
        assert not (diff & ~bbox_mask(p.positions["objects"][u, k], size, CFG)).any()
    assert any(np.any(p.frames[u] != q.frames[u]) for u in range(t, len(p)))  # visible violation


@pytest.mark.parametrize("seed", SEEDS)
def test_appear_mirrors_vanish_in_one_scene(seed):
    """vanish + appear of one seed: the IntPhys quadruplet. Each future (object comes out or not)
    and each past (object went behind or not) occurs once in a possible and once in an impossible clip."""
    p1, i1 = make_vo_pair(seed, "vanish")
    p2, i2 = make_vo_pair(seed, "appear")
    k, t = i2.violation["object"], i2.violation["t"]
    assert i2.violation["kind"] == "appear" and (k, t) == (i1.violation["object"], i1.violation["t"])
    assert_same_except(p1, p2, k)
    assert not p2.present[:, k].any() and not p2.visible[:, k].any()  # the possible twin has no object k
    assert not i2.present[:t, k].any() and i2.present[t:, k].all()    # it appears while hidden
    assert not p1.visible[t, k]
    np.testing.assert_array_equal(i2.frames[:t], p2.frames[:t])      # past: no object, as in p2
    np.testing.assert_array_equal(i2.frames[t:], p1.frames[t:])      # future: it comes out, as in p1
    np.testing.assert_array_equal(p2.frames[t:], i1.frames[t:])      # and p2's future is i1's
    assert np.any(i2.frames[t:] != p2.frames[t:])                     # the appearance is seen


@pytest.mark.parametrize("seed", SEEDS)
def test_teleport(seed):
    p, q = make_vo_pair(seed, "teleport")
    k, t, off = q.violation["object"], q.violation["t"], np.array(q.violation["offset"])
    assert_possible(p, k)
    assert_same_except(p, q, k)
    assert np.hypot(*off) >= 0.25
    pp, qq = p.positions["objects"][:, k], q.positions["objects"][:, k]
    np.testing.assert_array_equal(pp[:t], qq[:t])
    np.testing.assert_allclose(qq[t:] - pp[t:], np.broadcast_to(off, qq[t:].shape), atol=1e-6)
    # in full view before and after the jump
    assert visible_fraction(pp[t - 1:t].astype(float), CFG.object_radius, CFG.occluder)[0] == 1.0
    assert visible_fraction(qq[t:t + 1].astype(float), CFG.object_radius, CFG.occluder)[0] == 1.0
    np.testing.assert_array_equal(p.shapes, q.shapes)
    np.testing.assert_array_equal(p.colours, q.colours)
    np.testing.assert_array_equal(p.frames[:t], q.frames[:t])
    size = p.frames.shape[1]
    for u in range(t, len(p)):
        diff = np.any(p.frames[u] != q.frames[u], axis=-1)
        allowed = bbox_mask(pp[u], size, CFG) | bbox_mask(qq[u], size, CFG)
        assert not (diff & ~allowed).any()
    assert np.any(p.frames[t] != q.frames[t])


@pytest.mark.parametrize("seed", SEEDS)
def test_morph(seed):
    p, q = make_vo_pair(seed, "morph")
    k, t = q.violation["object"], q.violation["t"]
    assert_possible(p, k)
    assert_same_except(p, q, k)
    np.testing.assert_array_equal(p.positions["objects"], q.positions["objects"])
    np.testing.assert_array_equal(p.shapes[:t], q.shapes[:t])
    assert (q.shapes[t:, k] != p.shapes[t:, k]).all() and (q.shapes[t:, k] == q.shapes[t, k]).all()
    assert (q.colours[t:, k] != p.colours[t:, k]).any(-1).all()
    assert p.visible[t - 1:t + 1, k].all()                              # changes in full view
    np.testing.assert_array_equal(p.frames[:t], q.frames[:t])
    size = p.frames.shape[1]
    for u in range(t, len(p)):
        diff = np.any(p.frames[u] != q.frames[u], axis=-1)
        assert not (diff & ~bbox_mask(p.positions["objects"][u, k], size, CFG)).any()
    assert np.any(p.frames[t] != q.frames[t])


def test_pairs_are_deterministic_and_sized():
    for kind in VIOLATIONS:
        a, b = make_vo_pair(11, kind, frames=12, size=32)
        c, d = make_vo_pair(11, kind, frames=12, size=32)
        assert a.frames.shape == (12, 32, 32, 3)
        assert np.array_equal(b.frames, d.frames) and b.violation == d.violation


def test_bad_requests():
    with pytest.raises(ConfigError, match="unknown violation"):
        make_vo_pair(0, "explode")
    with pytest.raises(ConfigError, match="frames"):
        make_vo_pair(0, "vanish", frames=4)

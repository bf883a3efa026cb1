"""The built-in world: a tabletop seen from above, an agent disc pushed by 2D velocity actions.

Coordinates: the table is the unit square, x to the right and y downwards (image order), walls of
`cfg.wall` thickness on every side. Objects are discs for physics (circle, square and triangle are
only drawn differently) so collisions stay simple, vectorized and exactly deterministic. The
occluder is a screen above the table: objects pass behind it, the agent (the end effector, above
everything) does not. Everything is float64 numpy and a pure function of the seed and the actions.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Callable, Sequence

import numpy as np

from jepa_edge.errors import ConfigError, DataError

SHAPES = ("circle", "square", "triangle")
# Well separated RGB colours, so a probe can tell objects apart at 64 px.
PALETTE = (
    (220, 50, 47),    # red
    (38, 160, 70),    # green
    (38, 100, 220),   # blue
    (235, 190, 30),   # yellow
    (190, 60, 200),   # magenta
    (30, 190, 200),   # cyan
)


def hue_rotated(colours, degrees: float) -> tuple[tuple[int, int, int], ...]:
    """`colours` (RGB 0..255) with their hue turned by `degrees`, saturation and value kept."""
    import colorsys

    out = []
    for c in colours:
        h, s, v = colorsys.rgb_to_hsv(*(x / 255 for x in c))
        out.append(tuple(int(round(x * 255)) for x in colorsys.hsv_to_rgb((h + degrees / 360) % 1.0, s, v)))
    return tuple(out)


@dataclass(frozen=True)
class Palette:
    """The colours a world is drawn in (`WorldConfig.palette`). The agent keeps its own (render.py)."""

    objects: tuple[tuple[int, int, int], ...] = PALETTE  # objects draw their colours from these
    table: tuple[int, int, int] = (222, 212, 190)
    wall: tuple[int, int, int] = (110, 84, 60)
    occluder: tuple[int, int, int] = (120, 122, 135)


# Named palettes. Every model here is trained on "default"; the others are rendering variations to
# test how a model holds up on colours it never saw (`jepa-edge run --episodes N --sim.palette NAME`).
PALETTES = {
    "default": Palette(),
    # every object hue turned by 20 degrees: of all rotations, the one whose colours stay furthest
    # (16 degrees or more) from every training colour; object i gets the colour object i had
    "shifted": Palette(objects=hue_rotated(PALETTE, 20)),
    # training object colours on a blue-grey table, dark blue walls, a warm grey occluder
    "background": Palette(table=(196, 208, 222), wall=(58, 78, 108), occluder=(140, 126, 116)),
}


@dataclass(frozen=True)
class WorldConfig:
    img_size: int = 64                 # default render size (square), any of 16..1024 works
    n_objects: int = 3
    dt: float = 0.1                    # seconds per step
    agent_radius: float = 0.05
    object_radius: float = 0.06        # physics radius; also half the drawn size of squares
    max_speed: float = 0.5             # agent speed at |action| = 1, table units / s
    object_speed: float = 0.3          # initial object speeds are uniform in [0, object_speed]
    damping: float = 0.5               # viscous friction on objects, 1/s
    stop_speed: float = 0.01           # objects slower than this come to rest (static friction)
    restitution: float = 0.8           # object-object and object-wall bounces
    push_restitution: float = 0.2      # agent-object: low, so pushing looks like pushing
    wall: float = 0.03                 # wall thickness
    occluder: tuple[float, float, float, float] = (0.39, 0.08, 0.61, 0.92)  # x0, y0, x1, y1
    antialias: bool = True
    seed: int = 0
    palette: str = "default"           # colours to draw in, a key of PALETTES ("default": the training ones)

    def __post_init__(self):
        x0, y0, x1, y1 = self.occluder
        problems = []
        if not 1 <= self.n_objects <= len(PALETTE):
            problems.append(f"n_objects must be 1..{len(PALETTE)}, got {self.n_objects}")
        if not 8 <= self.img_size <= 1024:
            problems.append(f"img_size must be 8..1024, got {self.img_size}")
        if self.dt <= 0 or self.max_speed < 0 or self.object_speed < 0 or self.damping < 0:
            problems.append("dt must be > 0 and max_speed, object_speed, damping >= 0")
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            problems.append(f"occluder must be x0 < x1, y0 < y1 inside [0, 1], got {self.occluder}")
        if self.palette not in PALETTES:
            problems.append(f"palette must be one of {', '.join(PALETTES)}, got {self.palette!r}")
        if problems:
            raise ConfigError("WorldConfig: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, d: dict) -> "WorldConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown WorldConfig keys {sorted(unknown)}; known: {sorted(known)}")
        d = dict(d)
        if "occluder" in d:
            d["occluder"] = tuple(float(v) for v in d["occluder"])
        return cls(**d)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class WorldState:
    """A snapshot of the world (copies, never views of the live arrays)."""

    t: int
    agent_pos: np.ndarray      # [2]
    agent_vel: np.ndarray      # [2] actual displacement / dt
    obj_pos: np.ndarray        # [n, 2]
    obj_vel: np.ndarray        # [n, 2]
    obj_shape: np.ndarray      # [n] int, index into SHAPES
    obj_colour: np.ndarray     # [n, 3] uint8 RGB
    obj_visible: np.ndarray    # [n] bool: any part of the object outside the occluder (and present)
    obj_present: np.ndarray = field(default=None)  # [n] bool: False only in "vanish" and "appear" clips

    def __post_init__(self):
        if self.obj_present is None:
            self.obj_present = np.ones(len(self.obj_pos), bool)

    def proprio(self) -> np.ndarray:
        """What the robot knows about itself: agent x, y, vx, vy (the `states` of AC training)."""
        return np.concatenate([self.agent_pos, self.agent_vel]).astype(np.float32)

    def vector(self) -> np.ndarray:
        """Full ground truth: proprio, then per object x, y, vx, vy, visible."""
        per_obj = np.concatenate([self.obj_pos, self.obj_vel, self.obj_visible[:, None]], axis=1)
        return np.concatenate([self.proprio(), per_obj.reshape(-1).astype(np.float32)])

    @staticmethod
    def vector_names(n_objects: int) -> list[str]:
        """Column names of vector(): agent_x, ..., obj0_x, obj0_y, obj0_vx, obj0_vy, obj0_visible, ..."""
        obj = [f"obj{k}_{q}" for k in range(n_objects) for q in ("x", "y", "vx", "vy", "visible")]
        return ["agent_x", "agent_y", "agent_vx", "agent_vy", *obj]

    def copy(self) -> "WorldState":
        return replace(self, **{f.name: np.array(getattr(self, f.name), copy=True)
                                for f in fields(self) if f.name != "t"})


def _clip(x, lo, hi):
    """np.clip without its wrapper overhead (which dominates on these tiny arrays)."""
    return np.minimum(np.maximum(x, lo), hi)


def visible_fraction(pos: np.ndarray, half: float, occluder) -> np.ndarray:
    """Share of each object's bounding square [x±half, y±half] that the occluder does not cover."""
    x0, y0, x1, y1 = occluder
    ox = np.maximum(np.minimum(pos[:, 0] + half, x1) - np.maximum(pos[:, 0] - half, x0), 0)
    oy = np.maximum(np.minimum(pos[:, 1] + half, y1) - np.maximum(pos[:, 1] - half, y0), 0)
    return 1.0 - (ox * oy) / (2 * half) ** 2


def check_action(action) -> np.ndarray:
    a = np.asarray(action, dtype=np.float64)
    if a.shape != (2,) or not np.all(np.isfinite(a)):
        raise DataError(f"an action must be 2 finite numbers (vx, vy in [-1, 1]), got {action!r}")
    return _clip(a, -1.0, 1.0)


class TabletopWorld:
    """Physics + state of the tabletop. `render` draws with OpenCV (see render.py)."""

    action_dim = 2
    state_dim = 4  # proprio: agent x, y, vx, vy

    def __init__(self, cfg: WorldConfig | None = None, seed: "int | Sequence[int] | None" = None):
        self.cfg = cfg or WorldConfig()
        from jepa_edge.data.render import Renderer

        self.renderer = Renderer(self.cfg)
        self._pairs = np.triu_indices(self.cfg.n_objects, 1)   # every object pair, once
        self.reset(self.cfg.seed if seed is None else seed)

    # ---- state -------------------------------------------------------------------------------
    def reset(self, seed: "int | Sequence[int] | None" = None) -> WorldState:
        """Place agent and objects without overlap; give objects random initial velocities."""
        cfg = self.cfg
        if seed is not None:
            self.seed = seed
        rng = np.random.default_rng(self.seed)
        n, ra, ro, w = cfg.n_objects, cfg.agent_radius, cfg.object_radius, cfg.wall
        radii = np.array([ra] + [ro] * n)
        centers = np.zeros((n + 1, 2))
        for i in range(n + 1):  # rejection sampling: the first free candidate of a batch wins
            lo, hi = w + radii[i], 1 - w - radii[i]
            for _ in range(100):
                cand = rng.uniform(lo, hi, size=(32, 2))
                if i == 0:
                    break
                gap = np.hypot(*(cand[:, None] - centers[None, :i]).transpose(2, 0, 1))  # [32, i]
                ok = np.flatnonzero(np.all(gap > radii[:i] + radii[i] + 0.01, axis=1))
                if len(ok):
                    cand = cand[ok]
                    break
            centers[i] = cand[0]
        self.agent_pos = centers[0].copy()
        self.agent_vel = np.zeros(2)
        self.obj_pos = centers[1:].copy()
        angle = rng.uniform(0, 2 * np.pi, size=n)
        speed = rng.uniform(0, cfg.object_speed, size=n)
        self.obj_vel = np.stack([np.cos(angle), np.sin(angle)], 1) * speed[:, None]
        self.obj_shape = rng.integers(0, len(SHAPES), size=n)
        colours = PALETTES[cfg.palette].objects
        self.obj_colour = np.array(colours, np.uint8)[rng.permutation(len(colours))[:n]]
        self.obj_present = np.ones(n, bool)
        self.t = 0
        self._commanded = np.zeros(2)
        return self.state

    @property
    def state(self) -> WorldState:
        vis = visible_fraction(self.obj_pos, self.cfg.object_radius, self.cfg.occluder) > 1e-6
        return WorldState(
            t=self.t, agent_pos=self.agent_pos.copy(), agent_vel=self.agent_vel.copy(),
            obj_pos=self.obj_pos.copy(), obj_vel=self.obj_vel.copy(),
            obj_shape=self.obj_shape.copy(), obj_colour=self.obj_colour.copy(),
            obj_visible=vis & self.obj_present, obj_present=self.obj_present.copy(),
        )

    def set_state(self, s: WorldState) -> None:
        """Restore a snapshot (used by goal sampling and by scenario builders)."""
        self.t = s.t
        self.agent_pos, self.agent_vel = s.agent_pos.astype(float), s.agent_vel.astype(float)
        self.obj_pos, self.obj_vel = s.obj_pos.astype(float), s.obj_vel.astype(float)
        self.obj_shape, self.obj_colour = s.obj_shape.copy(), s.obj_colour.copy()
        self.obj_present = s.obj_present.copy()
        self._commanded = self.agent_vel.copy()

    def set_agent_velocity(self, v) -> None:
        """Drive the agent in table units/s (e.g. the actuator state a firmware reports).

        Clipped to `max_speed` per axis, held until the next action or call."""
        v = np.asarray(v, dtype=np.float64)
        if v.shape != (2,) or not np.all(np.isfinite(v)):
            raise DataError(f"agent velocity must be 2 finite numbers, got {v!r}")
        self._commanded = _clip(v, -self.cfg.max_speed, self.cfg.max_speed)

    def teleport(self, i: int, pos=None, ahead: float = 0.15) -> np.ndarray:
        """Move object i instantly (an impossible event, for surprise-monitor drills); without
        `pos`, to `ahead` table units in front of the agent (along its motion, else toward the
        table centre). Returns the new position."""
        cfg = self.cfg
        if pos is None:
            v = self._commanded if np.hypot(*self._commanded) > 1e-6 else 0.5 - self.agent_pos
            pos = self.agent_pos + v / max(np.hypot(*v), 1e-9) * ahead
        lo, hi = cfg.wall + cfg.object_radius, 1 - cfg.wall - cfg.object_radius
        self.obj_pos[i] = _clip(np.asarray(pos, float), lo, hi)
        self.obj_vel[i] = 0.0
        return self.obj_pos[i].copy()

    # ---- dynamics ------------------------------------------------------------------------------
    def step(self, action=None, dt: float | None = None) -> WorldState:
        """Advance one step. `action` in [-1, 1]^2 sets the agent velocity (times max_speed);
        None keeps the last velocity (from the last action or `set_agent_velocity`)."""
        cfg = self.cfg
        dt = cfg.dt if dt is None else float(dt)
        if action is not None:
            self._commanded = check_action(action) * cfg.max_speed
        lo_a, hi_a = cfg.wall + cfg.agent_radius, 1 - cfg.wall - cfg.agent_radius
        before = self.agent_pos.copy()
        self.agent_pos = _clip(self.agent_pos + self._commanded * dt, lo_a, hi_a)
        self.obj_pos = self.obj_pos + self.obj_vel * dt
        # Viscous friction, then static friction stops slow objects so scenes come to rest.
        self.obj_vel = self.obj_vel * np.exp(-cfg.damping * dt)
        self.obj_vel[np.hypot(*self.obj_vel.T) < cfg.stop_speed] = 0.0
        for _ in range(6):  # relaxation passes resolve chains of contacts (most steps need 0-1)
            contacts = self._push_objects_by_agent() | self._collide_objects() | self._collide_walls()
            if not contacts:
                break
        self._unpenetrate_agent()  # an object pinned against a wall blocks the agent
        self.agent_vel = (self.agent_pos - before) / dt
        self.t += 1
        return self.state

    def _push_objects_by_agent(self):
        cfg = self.cfg
        d = self.obj_pos - self.agent_pos                        # [n, 2]
        dist = np.hypot(*d.T)                                    # [n]
        overlap = cfg.agent_radius + cfg.object_radius - dist
        hit = overlap > 0
        if not hit.any():
            return False
        nrm = d[hit] / np.maximum(dist[hit], 1e-9)[:, None]       # [h, 2]
        self.obj_pos[hit] += nrm * overlap[hit][:, None]
        rel = np.einsum("ij,ij->i", self.obj_vel[hit] - self._commanded, nrm)  # < 0: approaching
        dv = np.where(rel < 0, -(1 + cfg.push_restitution) * rel, 0.0)
        self.obj_vel[hit] += nrm * dv[:, None]
        return True

    def _collide_objects(self):
        cfg = self.cfg
        i, j = self._pairs
        d = self.obj_pos[j] - self.obj_pos[i]                    # [p, 2]
        dist = np.hypot(*d.T)
        overlap = 2 * cfg.object_radius - dist
        hit = overlap > 0
        if not hit.any():
            return False
        i, j, d, dist, overlap = i[hit], j[hit], d[hit], dist[hit], overlap[hit]
        nrm = d / np.maximum(dist, 1e-9)[:, None]
        corr = nrm * (overlap / 2)[:, None]
        rel = np.einsum("ij,ij->i", self.obj_vel[j] - self.obj_vel[i], nrm)  # < 0: approaching
        imp = nrm * np.where(rel < 0, -(1 + cfg.restitution) / 2 * rel, 0.0)[:, None]
        # Equal masses; np.add.at sums contributions when one object touches several others.
        np.add.at(self.obj_pos, i, -corr)
        np.add.at(self.obj_pos, j, corr)
        np.add.at(self.obj_vel, i, -imp)
        np.add.at(self.obj_vel, j, imp)
        return True

    def _collide_walls(self):
        cfg = self.cfg
        lo, hi = cfg.wall + cfg.object_radius, 1 - cfg.wall - cfg.object_radius
        below, above = self.obj_pos < lo, self.obj_pos > hi
        if not (below.any() or above.any()):
            return False
        self.obj_pos = _clip(self.obj_pos, lo, hi)
        v = self.obj_vel
        self.obj_vel = np.where(below, np.abs(v), np.where(above, -np.abs(v), v)) * np.where(
            below | above, cfg.restitution, 1.0)
        return True

    def _unpenetrate_agent(self):
        """Only an object that cannot give way (pinned at a wall or by others) moves the agent."""
        cfg = self.cfg
        d = self.agent_pos - self.obj_pos
        dist = np.hypot(*d.T)
        overlap = cfg.agent_radius + cfg.object_radius - dist
        for k in np.flatnonzero(overlap > 1e-9):
            self.agent_pos = self.agent_pos + d[k] / max(dist[k], 1e-9) * overlap[k]
        lo_a, hi_a = cfg.wall + cfg.agent_radius, 1 - cfg.wall - cfg.agent_radius
        self.agent_pos = _clip(self.agent_pos, lo_a, hi_a)

    # ---- rendering and rollouts ----------------------------------------------------------------
    def render(self, size: int | None = None) -> np.ndarray:
        """RGB uint8 [size, size, 3] of the current state."""
        return self.renderer(self.state, size or self.cfg.img_size)

    def record(self, policy: "Callable[[WorldState], np.ndarray] | np.ndarray", steps: int | None = None
               ) -> tuple[list[WorldState], np.ndarray]:
        """Run `policy` (callable state -> action, or actions [T, 2]) and return the states seen
        before each action and the actions [T, 2] actually applied (clipped to [-1, 1])."""
        if callable(policy):
            if steps is None:
                raise ConfigError("rollout(policy) needs steps")
            act = policy
        else:
            actions = np.asarray(policy, dtype=np.float64)
            if actions.ndim != 2 or actions.shape[1] != 2:
                raise DataError(f"actions must be [T, 2], got shape {actions.shape}")
            steps = len(actions) if steps is None else steps
            if steps > len(actions):
                raise DataError(f"{steps} steps asked but only {len(actions)} actions given")
            act = lambda s: actions[s.t - t0]  # noqa: E731
        t0 = self.t
        states, acts = [], []
        s = self.state
        for _ in range(steps):
            a = check_action(act(s))
            states.append(s)
            acts.append(a)
            s = self.step(a)
        return states, np.array(acts).reshape(steps, 2)

    def rollout(self, policy: "Callable[[WorldState], np.ndarray] | np.ndarray", steps: int | None = None,
                size: int | None = None, render: bool = True) -> "Clip":
        """Record `steps` frames as a Clip; frame t is the state before action t is applied."""
        states, actions = self.record(policy, steps)
        return Clip.from_states(states, actions, self.renderer, size or self.cfg.img_size, render=render)


@dataclass
class Clip:
    """A recorded episode. frames[t] shows states[t]; actions[t] was applied after frame t."""

    frames: np.ndarray            # uint8 [T, H, W, 3] (empty [T, 0, 0, 3] when not rendered)
    actions: np.ndarray           # float32 [T, 2], in [-1, 1]
    states: np.ndarray            # float32 [T, 4] proprio (agent x, y, vx, vy)
    positions: dict               # "agent" [T, 2], "objects" [T, n, 2]: where things are shown
    velocities: dict              # "agent" [T, 2], "objects" [T, n, 2]
    visible: np.ndarray           # bool [T, n]
    present: np.ndarray           # bool [T, n]
    shapes: np.ndarray            # int [T, n]
    colours: np.ndarray           # uint8 [T, n, 3]
    violation: dict | None = None  # impossible clips: {"kind", "object", "t", ...}

    def __len__(self):
        return len(self.actions)

    def world_states(self) -> list[WorldState]:
        return [WorldState(t=t, agent_pos=self.positions["agent"][t].astype(float),
                           agent_vel=self.velocities["agent"][t].astype(float),
                           obj_pos=self.positions["objects"][t].astype(float),
                           obj_vel=self.velocities["objects"][t].astype(float),
                           obj_shape=self.shapes[t].copy(), obj_colour=self.colours[t].copy(),
                           obj_visible=self.visible[t].copy(), obj_present=self.present[t].copy())
                for t in range(len(self))]

    @classmethod
    def from_states(cls, states: list[WorldState], actions: np.ndarray, renderer, size: int,
                    render: bool = True, violation: dict | None = None) -> "Clip":
        T = len(states)
        frames = (np.stack([renderer(s, size) for s in states]) if render
                  else np.zeros((T, 0, 0, 3), np.uint8))
        return cls(
            frames=frames,
            actions=np.asarray(actions, np.float32).reshape(T, 2),
            states=np.stack([s.proprio() for s in states]),
            positions={"agent": np.stack([s.agent_pos for s in states]).astype(np.float32),
                       "objects": np.stack([s.obj_pos for s in states]).astype(np.float32)},
            velocities={"agent": np.stack([s.agent_vel for s in states]).astype(np.float32),
                        "objects": np.stack([s.obj_vel for s in states]).astype(np.float32)},
            visible=np.stack([s.obj_visible for s in states]),
            present=np.stack([s.obj_present for s in states]),
            shapes=np.stack([s.obj_shape for s in states]),
            colours=np.stack([s.obj_colour for s in states]),
            violation=violation,
        )

"""Gymnasium environments as pixel sources: one import, one `make`, one reading of where an env's
frames and robot state come from. `record --env` (data/recording.py) and the loop's `GymRobot`
(robot/gym.py) both read envs through this, so an env records and runs the same way.

Where frames come from (`ObservationLayout.frames`):
    "key"     a Dict observation's image entry (`image_key`, default "pixels": uint8 [H, W, 3])
    "obs"     the observation itself, when it is such an image
    "render"  `env.render()` with render_mode="rgb_array" (vector or Dict observations without one)
Where the state comes from (`ObservationLayout.state`): a Dict entry (`state_key`; default "state",
else the first entry that is not the image), the vector observation ("obs"), or none.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from jepa_edge.errors import ConfigError, import_extra

ACTION_MODES = ("delta", "absolute")


def import_gym():
    """gymnasium (the [gym] extra), with the built-in world registered as jepa_edge/Tabletop-v0."""
    # Robots run headless: classic-control envs draw with pygame/SDL, which needs no display or
    # sound card for rgb_array rendering.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    gym = import_extra("gymnasium", "gymnasium", "gym")
    import jepa_edge.data.tabletop_env  # noqa: F401  (registers jepa_edge/Tabletop-v0)

    return gym


def make_env(env_id: str, **kwargs):
    """`gymnasium.make(env_id, render_mode="rgb_array")` (without a render mode for envs that take none);
    `module:EnvId` imports the module first, as gymnasium does; a failure is one ConfigError line."""
    gym = import_gym()
    try:
        with warnings.catch_warnings():  # "rgb_array not in the possible render_modes": observation_layout says it
            warnings.simplefilter("ignore")
            return gym.make(env_id, render_mode="rgb_array", **kwargs)
    except TypeError:  # an env whose constructor takes no render_mode
        pass
    except Exception as e:
        raise ConfigError(f"cannot make Gymnasium env {env_id!r}: {type(e).__name__}: {e}") from None
    try:
        return gym.make(env_id, **kwargs)
    except Exception as e:
        raise ConfigError(f"cannot make Gymnasium env {env_id!r}: {type(e).__name__}: {e}") from None


def is_image(space) -> bool:
    """An RGB frame: uint8 [H, W, 3] (what the encoder and the dataset's video take)."""
    shape = getattr(space, "shape", None)
    return (shape is not None and len(shape) == 3 and shape[-1] == 3
            and np.dtype(getattr(space, "dtype", None) or np.float32) == np.uint8)


@dataclass(frozen=True)
class ObservationLayout:
    frames: Literal["key", "obs", "render"]
    state: Literal["key", "obs"] | None
    image_key: str
    state_key: str

    def frame(self, obs, env) -> np.ndarray:
        if self.frames == "key":
            frame = obs[self.image_key]
        elif self.frames == "obs":
            frame = obs
        else:
            frame = env.render()
        if frame is None:
            raise ConfigError(f"{env.spec.id if env.spec else env}: render() returned no frame")
        return np.asarray(frame, np.uint8)

    def state_of(self, obs) -> np.ndarray | None:
        if self.state == "key":
            return np.asarray(obs[self.state_key], np.float32).reshape(-1)
        if self.state == "obs":
            return np.asarray(obs, np.float32).reshape(-1)
        return None

    def state_dim(self, env) -> int:
        space = env.observation_space.spaces[self.state_key] if self.state == "key" else env.observation_space
        return int(np.prod(space.shape or (1,))) if self.state else 0


def observation_layout(env, env_id: str, *, image_key: str = "pixels", state_key: str = "", label: str = "",
                       state_key_flag: str = "sim.state_key") -> ObservationLayout:
    """How `env` (made by `make_env`) gives frames and state; an env with no pixels is one ConfigError
    line. `label` prefixes the message (the flag that named the env); `state_key_flag` is the option
    that sets the state key, named when the key is not there."""
    gym = import_gym()
    space = env.observation_space
    modes = env.metadata.get("render_modes") or []
    renders = getattr(env, "render_mode", None) == "rgb_array"
    if isinstance(space, gym.spaces.Dict):
        keys = list(space.spaces)
        if state_key and state_key not in keys:
            raise ConfigError(f"{label or env_id}: {state_key_flag} = {state_key!r} is not an observation key "
                              f"(keys: {keys})")
        if not state_key:  # "state", else the first other entry
            others = [k for k in keys if k != image_key]
            state_key = "state" if "state" in keys else (others[0] if others else "")
        state = "key" if state_key else None
        if image_key in keys and is_image(space.spaces[image_key]):
            return ObservationLayout("key", state, image_key, state_key)
        if renders:
            return ObservationLayout("render", state, image_key, state_key)
        what = f"a Dict observation with keys {keys} and no [H, W, 3] image under {image_key!r}"
    elif is_image(space):
        return ObservationLayout("obs", None, image_key, "")
    elif renders:
        return ObservationLayout("render", "obs" if len(getattr(space, "shape", ()) or ()) == 1 else None, image_key, "")
    else:
        what = f"observations are {space}"
    raise ConfigError(f"{label or env_id}: {what}, render modes {modes} (no 'rgb_array'): {env_id} has no pixel "
                      "observations; give an env with image observations (a Dict with 'pixels', or an [H, W, 3] "
                      "Box) or one that renders rgb_array frames, e.g. wrapped in "
                      "gymnasium.wrappers.AddRenderObservation")

"""Draw a WorldState with OpenCV: table and walls (cached per size), objects, occluder, agent.

Drawing order is the depth order: objects on the table, the occluder screen above them, the agent
(the end effector) above everything. Coordinates use OpenCV's sub-pixel `shift` so slow motion
still moves pixels at 64 px. Table, wall and occluder take the colours of `cfg.palette`
(world.py PALETTES); the agent is always drawn dark with a white mark, so it stays distinguishable.
"""
from __future__ import annotations

import cv2
import numpy as np

from jepa_edge.data.world import PALETTES
from jepa_edge.errors import ConfigError

SHIFT = 4                      # sub-pixel bits for OpenCV drawing
ONE = 1 << SHIFT
TABLE = PALETTES["default"].table         # the training colours; WorldConfig.palette picks others
WALL = PALETTES["default"].wall
OCCLUDER = PALETTES["default"].occluder
AGENT = (35, 35, 40)
AGENT_MARK = (245, 245, 245)
SQUARE_HALF = 0.88             # square half-side / object radius: about the circle's area


class Renderer:
    def __init__(self, cfg):
        self.cfg = cfg
        self._background: dict[int, np.ndarray] = {}
        self._occluder_px: dict[int, tuple[int, int, int, int]] = {}
        self.line = cv2.LINE_AA if cfg.antialias else cv2.LINE_8
        self.palette = PALETTES[cfg.palette]

    def background(self, size: int) -> np.ndarray:
        bg = self._background.get(size)
        if bg is None:
            if not (isinstance(size, (int, np.integer)) and 8 <= size <= 2048):
                raise ConfigError(f"render size must be an integer in 8..2048 pixels, got {size!r}")
            size = int(size)
            bg = np.empty((size, size, 3), np.uint8)
            bg[:] = self.palette.wall
            w = int(round(self.cfg.wall * size))
            bg[w:size - w, w:size - w] = self.palette.table
            bg.setflags(write=False)
            self._background[size] = bg
            x0, y0, x1, y1 = self.cfg.occluder
            # One pixel of margin covers the anti-aliased fringe of a fully hidden object, so
            # "not visible" in the ground truth always means no pixel of it is shown.
            self._occluder_px[size] = (max(int(np.floor(x0 * size)) - 1, 0),
                                       max(int(np.floor(y0 * size)) - 1, 0),
                                       min(int(np.ceil(x1 * size)) + 1, size),
                                       min(int(np.ceil(y1 * size)) + 1, size))
        return bg

    def _fix(self, v, size):
        """Table units -> OpenCV fixed-point pixels (pixel centres at integers)."""
        return np.round((np.asarray(v) * size - 0.5) * ONE).astype(np.int32)

    def __call__(self, state, size: int) -> np.ndarray:
        cfg = self.cfg
        img = self.background(size).copy()
        r = cfg.object_radius
        r_px = int(round(r * size * ONE))
        centers = self._fix(state.obj_pos, size)
        for k in np.flatnonzero(state.obj_present):
            colour = tuple(int(c) for c in state.obj_colour[k])
            cx, cy = (int(v) for v in centers[k])
            shape = int(state.obj_shape[k])
            if shape == 0:      # circle
                cv2.circle(img, (cx, cy), r_px, colour, -1, self.line, SHIFT)
            elif shape == 1:    # square
                h = int(round(SQUARE_HALF * r * size * ONE))
                pts = np.array([[cx - h, cy - h], [cx + h, cy - h], [cx + h, cy + h], [cx - h, cy + h]])
                cv2.fillConvexPoly(img, pts.astype(np.int32), colour, self.line, SHIFT)
            else:               # triangle, apex up, inside the same bounding square
                pts = np.array([[cx, cy - r_px], [cx + r_px, cy + r_px], [cx - r_px, cy + r_px]])
                cv2.fillConvexPoly(img, pts.astype(np.int32), colour, self.line, SHIFT)
        x0, y0, x1, y1 = self._occluder_px[size]
        img[y0:y1, x0:x1] = self.palette.occluder
        ax, ay = (int(v) for v in self._fix(state.agent_pos, size))
        cv2.circle(img, (ax, ay), int(round(cfg.agent_radius * size * ONE)), AGENT, -1, self.line, SHIFT)
        cv2.circle(img, (ax, ay), int(round(cfg.agent_radius * 0.35 * size * ONE)), AGENT_MARK, -1,
                   self.line, SHIFT)
        return img

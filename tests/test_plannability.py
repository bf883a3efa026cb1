"""The plannability check tells a latent space a planner can descend from one it cannot."""
import numpy as np
import torch
import torch.nn.functional as F

from jepa_edge.data.transforms import Normalization
from jepa_edge.eval.plannability import greedy_descent, plannability
from jepa_edge.models.config import EncoderConfig


class BlurEncoder(torch.nn.Module):
    """Tokens = a heavily blurred image: the energy to a goal image falls smoothly with distance."""

    def __init__(self, blurred: bool = True):
        super().__init__()
        self.cfg = EncoderConfig(arch="blur", img_size=32, patch_size=8, embed_dim=384, depth=1, num_heads=1)
        self.blurred = blurred

    def forward(self, x):  # [B, 3, 32, 32] -> [B, 16, 384]
        if self.blurred:
            k = torch.exp(-torch.arange(-15.0, 16.0) ** 2 / (2 * 6.0 ** 2))  # Gaussian, sigma 6 px
            k = (k / k.sum()).to(x.dtype)
            x = F.conv2d(x, k.view(1, 1, 1, -1).expand(3, 1, 1, -1), padding=(0, 15), groups=3)
            x = F.conv2d(x, k.view(1, 1, -1, 1).expand(3, 1, -1, 1), padding=(15, 0), groups=3)
        # unblurred: only the patches the agent covers change, so the energy is flat elsewhere
        t = x.unfold(2, 8, 8).unfold(3, 8, 8).permute(0, 2, 3, 1, 4, 5).reshape(len(x), 16, 192)
        # (t, -t): zero mean per token, so the loop's per-token layer norm keeps the pattern
        return torch.cat([t, -t], dim=-1)


def test_greedy_descent_follows_the_energy_to_the_minimum():
    i, j = np.mgrid[:9, :9]
    bowl = (i - 6.0) ** 2 + (j - 2.0) ** 2
    assert greedy_descent(bowl, (0, 8), max_steps=40) == (6, 2)
    plateau = np.ones((9, 9))
    plateau[6, 2] = 0  # a needle: recognisable, not reachable
    assert greedy_descent(plateau, (0, 8), max_steps=40) == (0, 8)


def test_a_blurred_latent_space_is_plannable_and_a_local_one_is_not():
    norm = Normalization()
    smooth = plannability(BlurEncoder(True), norm, episodes=8, grid=9, radius=0.15, lookaheads=(0.3,))
    local = plannability(BlurEncoder(False), norm, episodes=8, grid=9, radius=0.15, lookaheads=(0.3,))
    assert smooth["argmin_hit"] == local["argmin_hit"] == 1.0  # both recognise the goal...
    assert smooth["spearman"] > 0.5 > local["spearman"]  # ...but only one funnels towards it
    assert smooth["descent_hit"]["0.3"] >= 0.8 > local["descent_hit"]["0.3"]
    # The planner's smoothed energy (the token grid blurred before L1) turns the local space's
    # plateau into a slope the planner can follow.
    smoothed = local["l1_smooth"]
    assert smoothed["spearman"] > 0.5 and smoothed["descent_hit"]["0.3"] > local["descent_hit"]["0.3"]

"""Multi-block mask samplers: official defaults, valid indices (property-based), collator."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from jepa_edge.errors import ConfigError
from jepa_edge.models.masks import MaskCollator, MultiBlockMasker2D, MultiBlockMasker3D, RandomMasker, vjepa_maskers
from jepa_edge.training.data import FutureMasker, mask_families


def _unique_sorted_in_range(idx: torch.Tensor, n: int) -> bool:
    return bool((idx >= 0).all() and (idx < n).all() and (idx[..., 1:] > idx[..., :-1]).all())


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), side=st.integers(6, 16), batch=st.integers(1, 4))
def test_2d_masks_are_valid_disjoint_and_keep_enough(seed, side, batch):
    masker = MultiBlockMasker2D((side, side))
    mb = masker(batch, torch.Generator().manual_seed(seed))
    n = side * side
    assert mb.ctx.dtype == torch.long and mb.ctx.shape[0] == batch
    assert mb.tgt.shape[:2] == (batch, 4)  # 4 target blocks
    assert mb.ctx.shape[1] > 10  # more than min_keep context patches
    assert _unique_sorted_in_range(mb.ctx, n) and _unique_sorted_in_range(mb.tgt, n)
    for b in range(batch):  # context = context block minus every target block
        assert not set(mb.ctx[b].tolist()) & set(mb.tgt[b].flatten().tolist())


def test_2d_defaults_are_the_official_ones():
    m = MultiBlockMasker2D((14, 14))
    assert (m.enc_scale, m.pred_scale, m.aspect_ratio, m.n_pred, m.min_keep) == ((0.85, 1.0), (0.15, 0.2),
                                                                                   (0.75, 1.5), 4, 10)
    g = torch.Generator().manual_seed(0)
    sizes = [MultiBlockMasker2D((14, 14))._block_size(g, m.pred_scale, m.aspect_ratio) for _ in range(200)]
    areas = [h * w for h, w in sizes]
    assert min(areas) >= 0.15 * 196 * 0.8 and max(areas) <= 0.2 * 196 * 1.2  # 29..39 patches, rounding aside
    mb = m(8, torch.Generator().manual_seed(1))
    assert 0.1 < mb.ctx.shape[1] / 196 < 1.0


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), t=st.integers(1, 8), side=st.integers(4, 14), batch=st.integers(1, 3))
def test_3d_tubes_partition_the_grid(seed, t, side, batch):
    for masker in vjepa_maskers((t, side, side)):
        mb = masker(batch, torch.Generator().manual_seed(seed))
        n = t * side * side
        assert mb.tgt.shape[:2] == (batch, 1) and mb.ctx.shape[1] >= 1
        assert _unique_sorted_in_range(mb.ctx, n) and _unique_sorted_in_range(mb.tgt[:, 0], n)
        for b in range(batch):
            assert not set(mb.ctx[b].tolist()) & set(mb.tgt[b, 0].tolist())


def test_3d_defaults_and_tubes_span_time():
    short, long = vjepa_maskers((8, 14, 14))
    assert (short.num_blocks, short.spatial_scale, long.num_blocks, long.spatial_scale) == (8, (0.15, 0.15), 2,
                                                                                          (0.7, 0.7))
    assert short.temporal_scale == (1.0, 1.0)
    mb = long(2, torch.Generator().manual_seed(0))
    tgt = mb.tgt[0, 0]
    spatial = tgt % 196
    for frame in range(8):  # a tube masks the same patches in every frame
        assert torch.equal(tgt[tgt // 196 == frame] % 196, spatial[tgt // 196 == 0])
    assert mb.ctx.shape[1] < 0.5 * 8 * 196  # two 0.7-scale blocks hide most of the clip


def test_collator_is_reproducible_under_the_global_seed():
    collate = MaskCollator(MultiBlockMasker2D((8, 8)))
    samples = [torch.zeros(3, 4, 4) for _ in range(3)]
    torch.manual_seed(5)
    batch, a = collate(samples)
    torch.manual_seed(5)
    _, b = collate(samples)
    assert batch.shape == (3, 3, 4, 4) and torch.equal(a.ctx, b.ctx) and torch.equal(a.tgt, b.tgt)
    _, c = collate(samples)
    assert not (torch.equal(a.ctx, c.ctx) and torch.equal(a.tgt, c.tgt))
    batch, both = MaskCollator(vjepa_maskers((2, 4, 4)))(samples)
    assert len(both) == 2


def test_3d_block_size_follows_scale():
    m = MultiBlockMasker3D((4, 10, 10), num_blocks=1, spatial_scale=(0.5, 0.5), aspect_ratio=(1.0, 1.0))
    t, h, w = m._block_size(torch.Generator().manual_seed(0))
    assert (t, h, w) == (4, 7, 7)  # int(100 * 0.5) = 50 -> round(sqrt(50)) = 7


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), t=st.integers(1, 6), side=st.integers(2, 10), batch=st.integers(1, 4),
       ratio=st.floats(0.05, 0.95))
def test_random_masks_split_every_sample_at_the_ratio(seed, t, side, batch, ratio):
    n = t * side * side
    mb = RandomMasker((t, side, side), ratio)(batch, torch.Generator().manual_seed(seed))
    n_tgt = mb.tgt.shape[2]
    assert mb.tgt.shape[:2] == (batch, 1) and mb.ctx.shape == (batch, n - n_tgt)
    assert 1 <= n_tgt <= n - 1 and abs(n_tgt - ratio * n) <= 1
    assert _unique_sorted_in_range(mb.ctx, n) and _unique_sorted_in_range(mb.tgt[:, 0], n)
    for b in range(batch):  # context and target partition the grid
        assert sorted(mb.ctx[b].tolist() + mb.tgt[b, 0].tolist()) == list(range(n))


def test_random_masks_differ_per_sample_and_repeat_per_seed():
    m = RandomMasker((2, 8, 8), 0.75)
    a, b = m(4, torch.Generator().manual_seed(1)), m(4, torch.Generator().manual_seed(1))
    assert torch.equal(a.tgt, b.tgt) and torch.equal(a.ctx, b.ctx)
    assert not torch.equal(a.tgt[0], a.tgt[1])  # not one mask for the whole batch


def test_mask_families_by_masking():
    assert [type(f) for f in mask_families((3, 4, 4), True, "random")] == [RandomMasker, FutureMasker]
    assert [type(f) for f in mask_families((1, 8, 8), True, "random")] == [RandomMasker]  # images: no future
    assert [type(f) for f in mask_families((3, 4, 4), False)] == [MultiBlockMasker3D, MultiBlockMasker3D]
    with pytest.raises(ConfigError, match="masking must be one of"):
        mask_families((3, 4, 4), True, "tubes")
    with pytest.raises(ConfigError, match="mask ratio"):
        RandomMasker((3, 4, 4), 1.0)

"""Property tests for the input validators: any input either passes with a sound result or
raises DataError (never another exception)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from jepa_edge.data.sources import check_frames, clip_span, clip_starts, rgb_axis
from jepa_edge.data.transforms import IMAGENET, Normalization
from jepa_edge.data.world import check_action
from jepa_edge.errors import DataError

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DTYPES = st.sampled_from([np.uint8, np.int8, np.int32, np.uint16, np.float16, np.float32, np.float64, np.bool_])


@FAST
@given(shape=array_shapes(min_dims=1, max_dims=6, min_side=0, max_side=5), dtype=DTYPES)
def test_rgb_axis_finds_a_size_3_axis_or_refuses(shape, dtype):
    try:
        axis = rgb_axis(shape, dtype)
    except DataError as e:
        assert str(e)
        return
    assert shape[axis] == 3 and len(shape) in (3, 4, 5) and 0 not in shape
    assert np.dtype(dtype) == np.uint8 or np.dtype(dtype).kind == "f"


SHAPES = array_shapes(min_dims=3, max_dims=5, min_side=1, max_side=4)
FRAMES = (arrays(np.uint8, SHAPES)
          | arrays(st.sampled_from([np.float32, np.float64]), SHAPES,
                   elements=st.floats(-0.5, 1.5, width=32) | st.just(np.nan))
          | arrays(np.int16, SHAPES))


@FAST
@given(arr=FRAMES)
def test_check_frames_returns_uint8_rgb_or_data_error(arr):
    try:
        out = check_frames(arr)
    except DataError:
        return
    assert out.dtype == np.uint8 and out.shape[-1] == 3 and out.size == arr.size
    if arr.dtype.kind == "f":
        assert np.all((arr >= 0) & (arr <= 1))
    else:
        assert arr.dtype == np.uint8


@FAST
@given(n=st.integers(0, 200), frames=st.integers(-2, 20), stride=st.integers(-2, 6),
       hop=st.none() | st.integers(-1, 30))
def test_clip_starts_stay_inside_the_video(n, frames, stride, hop):
    try:
        starts = clip_starts(n, frames, stride, hop)
    except DataError:
        assert frames < 1 or stride < 1 or (hop is not None and hop < 1)
        return
    span = clip_span(frames, stride)
    assert all(0 <= s and s + span <= n for s in starts)
    step = span if hop is None else hop
    assert len(starts) == (0 if n < span else (n - span) // step + 1)
    assert all(b - a == step for a, b in zip(starts, starts[1:]))


@FAST
@given(arr=arrays(np.uint8, array_shapes(min_dims=3, max_dims=4, min_side=1, max_side=6).map(
    lambda s: s[:-1] + (3,))))
def test_normalization_round_trips_uint8(arr):
    x = IMAGENET(arr)
    assert x.shape == (3,) + arr.shape[:-1]
    assert np.array_equal(IMAGENET.denormalize(x), arr)


@FAST
@given(mean=st.lists(st.floats(-10, 10), min_size=0, max_size=4),
       std=st.lists(st.floats(-1, 10), min_size=0, max_size=4))
def test_normalization_validates(mean, std):
    from jepa_edge.errors import ConfigError

    try:
        n = Normalization(tuple(mean), tuple(std))
    except ConfigError:
        assert len(mean) != 3 or len(std) != 3 or min(std) <= 0
        return
    assert Normalization.from_dict(n.to_dict()) == n


@FAST
@given(a=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=3))
def test_actions_are_clipped_or_refused(a):
    try:
        out = check_action(a)
    except DataError:
        assert len(a) != 2 or not np.all(np.isfinite(a))
        return
    assert out.shape == (2,) and np.all(np.abs(out) <= 1)
    np.testing.assert_array_equal(out, np.clip(a, -1, 1))


def test_check_frames_refuses_non_arrays():
    with pytest.raises(DataError, match="numpy array"):
        check_frames([[1, 2, 3]])

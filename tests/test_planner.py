"""Planners in latent space: energy goes down, bounds hold, all samples go through one call, budgets stop early."""
import inspect
import time

import numpy as np
import pytest

from jepa_edge.errors import ConfigError
from jepa_edge.planning.energy import l1_energy
from jepa_edge.planning.planner import (LatentDynamics, Observation, PlanBudget, Planner, RandomPlanner, make_planner,
                                        scaled_change_energy)
from jepa_edge.loop.config import PlannerConfig

from loop_support import N_TOKENS, LinearDynamics, embedding


def latent(pos, seed=0):
    return (embedding(seed) @ np.asarray(pos, np.float32)).reshape(N_TOKENS, -1)


@pytest.mark.parametrize("kind", ["cem", "mppi"])
def test_plan_moves_toward_the_goal_and_respects_bounds(kind):
    cfg = PlannerConfig(kind=kind, horizon=3, samples=128, iterations=6, elites=16, budget_ms=10_000,
                        action_low=(-0.5, -1.0), action_high=(0.5, 1.0), seed=1)
    session = LinearDynamics(speed_dt=0.05)
    planner = make_planner(LatentDynamics(session), cfg)
    z_now, z_goal = latent([0.3, 0.3]), latent([0.35, 0.27])  # reachable in 3 steps of <= 0.025 / 0.05
    result = planner.plan(Observation(z_now, np.zeros(4, np.float32)), z_goal)
    actions = result.actions
    assert actions.shape == (3, 2)
    assert np.all(actions >= np.array([-0.5, -1.0]) - 1e-6) and np.all(actions <= np.array([0.5, 1.0]) + 1e-6)
    # The energy minimum is exactly the goal: the plan's total displacement lands near it.
    np.testing.assert_allclose(actions.sum(0) * 0.05, [0.05, -0.03], atol=0.012)
    dyn = LatentDynamics(session)
    e_plan = l1_energy(dyn.rollout(z_now, actions[None]), z_goal)[0]
    e_still = l1_energy(dyn.rollout(z_now, np.zeros((1, 3, 2), np.float32)), z_goal)[0]
    assert e_plan < e_still * 0.8
    # Every iteration pushed all samples through the predictor at once, one call per horizon step.
    assert result.info.iterations == 6 and result.info.samples == 128
    assert session.batches[:3] == [128, 128, 128]


def test_budget_in_ms_stops_before_the_iteration_cap():
    cfg = PlannerConfig(samples=64, iterations=50, budget_ms=60.0, elites=8)
    planner = make_planner(LatentDynamics(LinearDynamics(0.05, delay_s=0.02)), cfg)
    t = time.perf_counter()
    info = planner.plan(Observation(latent([0.5, 0.5])), latent([0.6, 0.6])).info
    elapsed = (time.perf_counter() - t) * 1e3
    assert 1 <= info.iterations < 50 and info.budget_ms == 60.0
    assert elapsed < 60.0 + 3 * 20.0 + 200  # at most one iteration past the budget (+ scheduling slack)


def test_warm_start_is_the_first_candidate_and_shape_checked():
    cfg = PlannerConfig(horizon=2, samples=16, iterations=1, elites=4, init_std=0.0, min_std=0.0, momentum=0.0)
    planner = make_planner(LatentDynamics(LinearDynamics(0.05)), cfg)
    warm = np.array([[0.2, -0.1], [0.3, 0.0]], np.float32)
    out = planner.plan(Observation(latent([0.5, 0.5])), latent([0.5, 0.5]), warm).actions
    np.testing.assert_allclose(out, warm, atol=1e-6)  # zero std: every sample is the warm start
    with pytest.raises(ValueError, match="warm start"):
        planner.plan(Observation(latent([0.5, 0.5])), latent([0.5, 0.5]), np.zeros((3, 2)))


def test_chunked_batches_match_one_call_and_nan_energies_never_win():
    session = LinearDynamics(0.05)
    z = latent([0.2, 0.7])
    acts = np.random.default_rng(0).uniform(-1, 1, (50, 2, 2)).astype(np.float32)
    whole = LatentDynamics(session).rollout(z, acts)
    chunked = LatentDynamics(session, max_batch=16).rollout(z, acts)
    np.testing.assert_allclose(whole, chunked, rtol=1e-6)

    class HalfNaN(LinearDynamics):
        def run(self, inputs):
            out = super().run(inputs)["next_tokens"]
            out[::2] = np.nan
            return {"next_tokens": out}

    for kind in ("cem", "mppi"):
        cfg = PlannerConfig(kind=kind, samples=32, iterations=3, elites=4)
        actions = make_planner(LatentDynamics(HalfNaN(0.05)), cfg).plan(Observation(z), latent([0.9, 0.1])).actions
        assert np.isfinite(actions).all()


def test_random_planner_stays_in_bounds():
    cfg = PlannerConfig(horizon=4, action_low=(-0.2, 0.0), action_high=(0.2, 0.5))
    a = RandomPlanner(cfg).plan(Observation(latent([0.5, 0.5])), latent([0.5, 0.5])).actions
    assert a.shape == (4, 2) and (a[:, 0] >= -0.2).all() and (a[:, 1] <= 0.5).all()


def test_the_budget_is_the_callers_and_scales_samples_iterations_and_ms():
    cfg = PlannerConfig(samples=100, iterations=4, budget_ms=10_000, elites=8)
    planner = make_planner(LatentDynamics(LinearDynamics(0.05)), cfg)
    obs, goal = Observation(latent([0.5, 0.5])), latent([0.6, 0.6])
    full = planner.plan(obs, goal).info  # no budget: the planner's own (planner.budget_ms)
    assert (full.samples, full.iterations, full.budget_ms) == (100, 4, 10_000)
    shrunk = planner.plan(obs, goal, budget=PlanBudget(ms=500.0, scale=0.25)).info
    assert (shrunk.samples, shrunk.iterations, shrunk.budget_ms) == (25, 2, 125.0)
    assert planner.plan(obs, goal).info.samples == 100  # nothing stuck to the planner


def test_every_planner_satisfies_the_protocol():
    from jepa_edge.eval.goal_reaching import GroundTruthPlanner

    cfg = PlannerConfig()
    for planner in (make_planner(LatentDynamics(LinearDynamics(0.05)), cfg),
                    make_planner(LatentDynamics(LinearDynamics(0.05)), PlannerConfig(kind="mppi")), RandomPlanner(cfg)):
        assert isinstance(planner, Planner)
    assert issubclass(GroundTruthPlanner, Planner)
    for cls in (type(make_planner(LatentDynamics(LinearDynamics(0.05)), cfg)), RandomPlanner, GroundTruthPlanner):
        assert list(inspect.signature(cls.plan).parameters) == ["self", "obs", "goal", "warm", "budget"], cls


def test_action_bounds_must_match_the_predictor():
    with pytest.raises(ConfigError, match="action bounds"):
        make_planner(LatentDynamics(LinearDynamics(0.05)), PlannerConfig(action_low=(-1,), action_high=(1,)))


def test_openvino_batch1_bundle_is_recompiled_for_the_planner_batch(tmp_path):
    """The openvino target exports batch 1; the planner gets one call per iteration anyway."""
    import openvino as ov
    import openvino.opset13 as ops

    from jepa_edge.inference.manifest import Manifest, write_manifest
    from jepa_edge.loop.assemble import BatchedOpenVINO, load_session
    from jepa_edge.inference.session import TensorSpec

    tok = ops.parameter([1, 4, 8], ov.Type.f32, name="tokens")
    act = ops.parameter([1, 1, 2], ov.Type.f32, name="actions")
    st = ops.parameter([1, 1, 4], ov.Type.f32, name="states")
    shift = ops.reduce_sum(act, ops.constant(np.array([1, 2], np.int64)), keep_dims=True)  # [1, 1, 1]
    out = ops.add(ops.multiply(tok, ops.constant(np.float32(2.0))), shift)
    out.output(0).get_tensor().set_names({"next_tokens"})
    ov.save_model(ov.Model([out], [tok, act, st], "toy_ac"), str(tmp_path / "model.xml"))
    specs = [TensorSpec("tokens", (1, 4, 8)), TensorSpec("actions", (1, 1, 2)), TensorSpec("states", (1, 1, 4))]
    write_manifest(tmp_path, Manifest(backend="openvino", target="openvino", part="ac_predictor", precision="fp32",
                                      entry="model.xml", inputs=specs, outputs=[TensorSpec("next_tokens", (1, 4, 8))]))
    one = load_session(tmp_path, "ac_predictor")
    many = load_session(tmp_path, "ac_predictor", batch=16)
    assert isinstance(many, BatchedOpenVINO) and many.inputs[0].shape == (16, 4, 8)
    z = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    acts = np.random.default_rng(1).uniform(-1, 1, (40, 2, 2)).astype(np.float32)
    d1, d16 = LatentDynamics(one), LatentDynamics(many)
    np.testing.assert_allclose(d1.rollout(z, acts), d16.rollout(z, acts), rtol=1e-6)
    assert d16.calls == 2 * 3 and d1.calls == 2 * 40  # ceil(40/16) calls per horizon step vs one per sample


# --- energies -------------------------------------------------------------------------------------

def _bump_latent(pos, side=8, dim=4):
    """Token-local features: an agent at `pos` shows only in the (up to 4) tokens around it, with
    bilinear weights (the way a trained ViT's tokens describe their own patch), on a fixed background."""
    centers = (np.stack(np.meshgrid(np.arange(side), np.arange(side), indexing="ij"), -1).reshape(-1, 2) + 0.5) / side
    cover = np.prod(np.clip(1 - np.abs(centers - np.asarray(pos)) * side, 0, 1), axis=1)  # [N], sums to 1
    direction = np.linspace(1.0, 2.0, dim, dtype=np.float32)
    return (0.3 + cover[:, None] * direction[None]).astype(np.float32)  # [N, D]


def test_blur_matrix_is_a_normalised_gaussian_with_replicated_edges():
    from jepa_edge.planning.energy import blur_matrix

    np.testing.assert_array_equal(blur_matrix(5, 0.0), np.eye(5, dtype=np.float32))
    K = blur_matrix(6, 1.0)
    np.testing.assert_allclose(K.sum(1), 1.0, atol=1e-6)
    assert K[3, 3] > K[3, 2] > K[3, 1] > 0 and np.isclose(K[3, 2], K[3, 4])  # symmetric inside the grid
    assert K[0, 0] > K[3, 3]  # the edge row keeps the mass that fell off the grid


def test_smooth_energy_is_the_separable_2d_blur_of_the_difference():
    from jepa_edge.planning.energy import SmoothL1Energy, blur_matrix

    rng = np.random.default_rng(0)
    z, goal = rng.normal(size=(3, 36, 5)).astype(np.float32), rng.normal(size=(36, 5)).astype(np.float32)
    K = blur_matrix(6, 0.25 * 6)
    grid = (z - goal[None]).reshape(3, 6, 6, 5)
    want = np.abs(np.einsum("ih,bhwd,jw->bijd", K, grid, K)).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(SmoothL1Energy(0.25)(z, goal), want, rtol=1e-5)


def test_smooth_energy_funnels_where_plain_l1_is_flat():
    from jepa_edge.planning.energy import make_energy

    goal = _bump_latent([0.8, 0.8])
    path = [[0.3 + 0.05 * k, 0.3 + 0.05 * k] for k in range(9)]  # 0.7 from the goal to 0.14, toward it
    z = np.stack([_bump_latent(p) for p in path])
    plain, smooth = make_energy("l1")(z, goal), make_energy("l1_smooth", 0.25)(z, goal)
    far = plain[:5]  # over 2 tokens apart, the bumps do not overlap: L1 can't tell which way to go
    assert np.ptp(far) < 1e-3 * far.mean()
    assert np.all(np.diff(smooth) < 0)  # every step toward the goal lowers the smoothed energy


def test_planner_takes_its_energy_from_the_config():
    from jepa_edge.planning.energy import SmoothL1Energy

    planner = make_planner(LatentDynamics(LinearDynamics(0.05)), PlannerConfig(energy="l1_smooth", smooth_sigma=0.5))
    assert isinstance(planner.energy, SmoothL1Energy) and planner.energy.sigma == 0.5
    with pytest.raises(ConfigError, match="square token grid"):
        planner.energy(np.zeros((1, 12, 2), np.float32), np.zeros((12, 2), np.float32))
    with pytest.raises(ConfigError, match="planner.energy"):
        make_planner(LatentDynamics(LinearDynamics(0.05)), PlannerConfig(energy="l2"))


def _tiny_ac_session(frames):
    """A random tiny AC predictor (block-causal, RoPE) as a torch session taking `frames` frames per call."""
    import torch

    from jepa_edge.inference.session import TensorSpec
    from jepa_edge.inference.torch_session import TorchSession

    from loop_support import tiny_random_models

    _, ac = tiny_random_models()
    c = ac.cfg
    session = TorchSession(ac, [TensorSpec("tokens", ("batch", "n", c.embed_dim)),
                                TensorSpec("actions", ("batch", frames, c.action_dim)),
                                TensorSpec("states", ("batch", frames, c.state_dim))],
                           [TensorSpec("next_tokens", ("batch", "n", c.embed_dim))])
    return ac, session, torch


def test_history_rollout_is_the_official_growing_context_and_zero_fill_is_exact():
    ac, dynamic, torch = _tiny_ac_session("frames")
    c, rng = ac.cfg, np.random.default_rng(0)
    z0 = rng.standard_normal((c.tokens_per_frame, c.embed_dim)).astype(np.float32)
    acts = rng.uniform(-1, 1, (5, 3, c.action_dim)).astype(np.float32)
    state = rng.standard_normal(c.state_dim).astype(np.float32)
    # by hand, as V-JEPA 2-AC's planner: call k sees [z0, p1 .. p(k-1)] and the actions so far
    seq = torch.from_numpy(np.repeat(z0[None], 5, 0))
    a, s = torch.from_numpy(acts), torch.from_numpy(np.repeat(state[None, None], 5, 0).repeat(3, 1))
    with torch.no_grad():
        for k in range(1, 4):
            nxt = ac(seq, a[:, :k], s[:, :k])[:, -c.tokens_per_frame:]
            nxt = torch.nn.functional.layer_norm(nxt, (c.embed_dim,))
            seq = torch.cat([seq, nxt], 1)
    history = LatentDynamics(dynamic, context="history", renorm=True).rollout(z0, acts, state)
    np.testing.assert_allclose(history, nxt.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(history.mean(-1), 0, atol=1e-5)  # renorm: every token layer-normed
    # a bundle exported for 3 frames: the frames not yet predicted are zero-filled, which the
    # block-causal mask keeps out of every prediction that is read
    _, fixed3, _ = _tiny_ac_session(3)
    np.testing.assert_allclose(LatentDynamics(fixed3, context="history", renorm=True).rollout(z0, acts, state),
                               history, rtol=1e-4, atol=1e-5)
    # one frame per call is another model of the future: the two must differ after the first step
    last = LatentDynamics(dynamic, context="last", renorm=True).rollout(z0, acts, state)
    assert np.abs(last - history).max() > 1e-3
    np.testing.assert_allclose(LatentDynamics(fixed3, context="last").rollout(z0, acts[:, :1], state),
                               LatentDynamics(dynamic, context="history").rollout(z0, acts[:, :1], state),
                               rtol=1e-4, atol=1e-5)


def test_history_horizon_longer_than_the_exported_frames_is_refused():
    _, fixed2, _ = _tiny_ac_session(2)
    with pytest.raises(ConfigError, match="--frames 3"):
        make_planner(LatentDynamics(fixed2, context="history"), PlannerConfig(horizon=3))
    with pytest.raises(ConfigError, match="rollout_context"):
        LatentDynamics(fixed2, context="future")


@pytest.mark.parametrize("energy_kind", ["l1", "l1_smooth"])
def test_delta_scale_scores_the_scaled_change_and_tends_to_the_first_order_energy(energy_kind):
    from jepa_edge.planning.energy import make_energy

    rng = np.random.default_rng(3)
    session = LinearDynamics(0.05)
    z_now, z_goal = latent([0.3, 0.3]), latent([0.6, 0.5])
    seqs = rng.uniform(-1, 1, (16, 1, 2)).astype(np.float32)
    planner = make_planner(LatentDynamics(session), PlannerConfig(energy=energy_kind, delta_scale=0.3))
    z_end = LatentDynamics(session).rollout(z_now, seqs)
    energy = make_energy(energy_kind)  # scored by hand on the scaled change: the moved goal gives the same numbers
    np.testing.assert_allclose(planner.energies(z_now, z_goal, seqs, None),
                               energy(z_now[None] + 0.3 * (z_end - z_now[None]), z_goal), rtol=1e-4)
    # Small scales rank candidates by the energy's slope along each predicted change: sign(z_now - z_goal) . delta.
    delta = rng.standard_normal((16, *z_now.shape)).astype(np.float32)
    slope = (np.sign(z_now - z_goal)[None] * delta).sum((1, 2))
    small = scaled_change_energy(l1_energy, z_now, z_now[None] + delta, z_goal, 1e-4)
    assert np.array_equal(np.argsort(small), np.argsort(slope))
    assert not np.array_equal(np.argsort(l1_energy(z_now[None] + delta, z_goal)), np.argsort(slope))


def test_dynamics_feed_a_dataset_trained_predictor_normalized_actions_and_states():
    """train-ac --data trains on (x - mean) / std: the rollout must feed the predictor exactly that."""
    from jepa_edge.latent import LatentSpec

    seen = {}

    class Recorder(LinearDynamics):
        def run(self, inputs):
            seen.update(actions=inputs["actions"].copy(), states=inputs["states"].copy())
            return super().run(inputs)

    session = Recorder(0.05).bind(LatentSpec(action_norm={"mean": [1.0, -1.0], "std": [2.0, 0.5]},
                                             state_norm={"mean": [0.5] * 4, "std": [0.25] * 4}))
    dyn = LatentDynamics(session)
    dyn.step(np.zeros((1, 4, 8), np.float32), np.array([[3.0, 0.0]], np.float32), np.ones((1, 4), np.float32))
    np.testing.assert_allclose(seen["actions"][0, -1], [1.0, 2.0])
    np.testing.assert_allclose(seen["states"][0, -1], [2.0] * 4)

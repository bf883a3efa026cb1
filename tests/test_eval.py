"""Evaluation probes: the maths on known answers, then `jepa-edge eval` end to end on a tiny model dir."""
import json

import numpy as np
import pytest
import torch

from jepa_edge.cli import main
from jepa_edge.eval.agreement import linear_cka, mapped_cosine
from jepa_edge.eval.physics import auroc, balanced_relative_accuracy, first_divergence, relative_accuracy, window
from jepa_edge.eval.probes import Ridge, coverage, dense_probe, r2_score, ridge_probe, ridge_probes
from jepa_edge.models.ac_predictor import ACPredictorConfig, ActionConditionedPredictor
from jepa_edge.models.model_dir import ModelDir, save_model_dir
from jepa_edge.models.registry import build_encoder, build_predictor


def test_ridge_recovers_a_linear_map_in_primal_and_dual_form():
    rng = np.random.default_rng(0)
    for n, d in ((200, 10), (60, 300)):  # d <= n: primal; d > n: dual (kernel) form
        X = rng.normal(size=(n, d))
        W = rng.normal(size=(d, 2))
        Y = X @ W
        r = Ridge().fit(X, Y)
        assert r.primal == (d <= n)
        assert r2_score(Y, r.predict(X, 1e-6)) > 0.999
    # the dual (kernel) solution equals the primal closed form (X'X + lam I)^-1 X'y
    X, Y = rng.normal(size=(30, 40)), rng.normal(size=(30, 3))
    dual = Ridge().fit(X, Y)
    Xs = (X - X.mean(0)) / X.std(0, ddof=1)
    W = np.linalg.solve(Xs.T @ Xs + 3.0 * np.eye(40), Xs.T @ (Y - Y.mean(0)))
    assert not dual.primal
    assert np.allclose(dual.predict(X, 3.0), Xs @ W + Y.mean(0))
    # one lambda by Cholesky == the eigendecomposition's answer, in both forms
    for n, d in ((80, 20), (30, 40)):
        X, Y = rng.normal(size=(n, d)), rng.normal(size=(n, 2))
        for lam in (1e-2, 3.0):
            np.testing.assert_allclose(Ridge().fit(X, Y, many_lambdas=False).predict(X, lam),
                                       Ridge().fit(X, Y).predict(X, lam), rtol=1e-8, atol=1e-10)


def test_probe_scores_held_out_clips_only():
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(20), 5)
    X = rng.normal(size=(100, 8))
    y_signal = X[:, :2] * 3
    assert ridge_probe(X, y_signal, groups)["r2"] > 0.99
    assert ridge_probe(X, rng.normal(size=(100, 2)), groups)["r2"] < 0.2  # noise is not predictable


def test_probes_sharing_features_score_as_if_fit_alone():
    """ridge_probes shares the eigendecompositions between targets; each target's lambda and R^2
    must be what its own probe gives."""
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(30), 4)
    X = rng.normal(size=(120, 40))
    targets = {"easy": X[:, :2] + 0.1 * rng.normal(size=(120, 2)), "hard": np.tanh(X[:, 5:8] * X[:, 9:12]),
               "noise": rng.normal(size=(120, 1))}
    together = ridge_probes(X, targets, groups)
    for name, Y in targets.items():
        alone = ridge_probe(X, Y, groups)
        assert together[name]["lambdas"] == alone["lambdas"]
        assert together[name]["r2"] == pytest.approx(alone["r2"], abs=1e-9)
    assert together["easy"]["r2"] > 0.9 > together["hard"]["r2"]


def test_coverage_maps_a_disc_onto_the_token_grid():
    r, grid = 0.05, 8
    cov = coverage(np.array([[0.30, 0.70], [0.5, 0.5]]), r, grid, sub=16)
    assert cov.shape == (2, 64)
    np.testing.assert_allclose(cov.sum(1) / grid**2, np.pi * r**2, rtol=0.05)  # area is kept
    assert cov[0].argmax() == 5 * grid + 2  # row y = 0.70 -> 5, column x = 0.30 -> 2 (row-major)
    assert cov[0, 2 * grid + 5] == 0  # not transposed
    assert coverage(np.zeros((3, 4, 2)), r, grid).shape == (3, 4, 64)  # leading axes are kept


def test_ridge_weights_reproduce_its_predictions():
    rng = np.random.default_rng(4)
    for n, d in ((50, 6), (20, 30)):  # primal and dual
        X, Y = rng.normal(3, 2, size=(n, d)), rng.normal(size=(n, 2))
        r = Ridge().fit(X, Y)
        W, b = r.weights(0.5)
        np.testing.assert_allclose(X @ W.numpy() + b.numpy(), r.predict(X, 0.5), rtol=1e-8)


def test_dense_probe_reads_position_from_tokens_that_know_what_they_cover():
    """Tokens with the agent's coverage in one feature (plus distractors) give the position back;
    tokens that only know their own index (a positional embedding) give nothing."""
    rng = np.random.default_rng(5)
    n, grid, D = 240, 8, 12
    pos = rng.uniform(0.1, 0.9, size=(n, 2))
    cover = coverage(pos, 0.05, grid)
    knows = rng.normal(size=(n, grid * grid, D))
    knows[..., 3] = 4 * cover + 0.05 * rng.normal(size=cover.shape)
    groups = np.arange(n) // 2
    good = dense_probe(torch.tensor(knows, dtype=torch.float32), cover, pos, groups)
    assert good["r2"] > 0.8 and good["coverage_r2"] > 0.9
    assert good["features"] == D + grid * grid and len(good["lambdas"]) == 5
    blind = np.broadcast_to(rng.normal(size=(1, grid * grid, D)), knows.shape) + 0.01 * rng.normal(size=knows.shape)
    bad = dense_probe(torch.tensor(blind, dtype=torch.float32), cover, pos, groups)
    assert bad["r2"] < 0.2 and bad["coverage_r2"] < 0.2
    with pytest.raises(Exception, match="at least 5 clips"):
        dense_probe(torch.tensor(knows[:6], dtype=torch.float32), cover[:6], pos[:6], groups[:6])


def test_surprise_scores_and_cka():
    assert relative_accuracy([1, 1, 3], [2, 1, 2]) == pytest.approx((1 + 0.5 + 0) / 3)
    assert auroc([0.1, 0.2], [0.3, 0.4]) == 1.0 and auroc([0.3, 0.4], [0.1, 0.2]) == 0.0
    assert auroc([1, 1], [1, 1]) == 0.5
    # A model that only counts objects: vanish (impossible has one less) always "wrong", appear always
    # "right" -> 0.5 on the quadruplet; a model that tracks the hidden object gets both right.
    counting = dict(possible_a=[2, 2], impossible_a=[1, 1], possible_b=[1, 1], impossible_b=[2, 2])
    assert relative_accuracy(counting["possible_a"], counting["impossible_a"]) == 0.0
    assert balanced_relative_accuracy(**counting) == 0.5
    assert balanced_relative_accuracy([2, 2], [2.5, 1.9], [1, 1], [1.2, 1.0]) == 0.5
    a = np.zeros((6, 2, 2, 3), np.uint8)
    b = a.copy()
    b[4, 0, 0, 0] = 1
    assert first_divergence(a, b) == 4 and first_divergence(a, a) == 6
    assert window(d=5, length=16, num_frames=6, ctx_frames=4) == 1
    assert window(d=2, length=16, num_frames=6, ctx_frames=4) == 0
    assert window(d=15, length=16, num_frames=6, ctx_frames=4) == 10
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 16))
    Q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    assert linear_cka(X, 2.5 * X @ Q) == pytest.approx(1.0, abs=1e-9)
    assert linear_cka(X, rng.normal(size=(300, 16))) < 0.2
    assert mapped_cosine(X, X @ Q) > 0.99


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    torch.manual_seed(0)
    enc = build_encoder("vit_nano", depth=1, img_size=32, patch_size=8, num_frames=4)
    pred = build_predictor(enc.cfg, predictor_embed_dim=32, depth=1, num_mask_tokens=3)
    ac = ActionConditionedPredictor(ACPredictorConfig(embed_dim=128, predictor_embed_dim=32, depth=1, num_heads=2,
                                                      action_dim=2, state_dim=4, img_size=32, patch_size=8, max_frames=8))
    config = {"training": {"future_mask_index": 2}, "ac": {"norm": "layer_norm"}}
    return save_model_dir(tmp_path_factory.mktemp("m"), ModelDir(config=config, encoder=enc, predictor=pred, ac_predictor=ac))


def test_eval_cli_end_to_end(tiny_model_dir, tmp_path, capsys):
    torch.set_num_threads(1)
    out = tmp_path / "eval"
    rc = main(["eval", str(tiny_model_dir), "--teacher", str(tiny_model_dir), "--out", str(out), "--probe-clips", "8",
               "--vo-pairs", "2", "--rollout-trajectories", "4", "--plan-episodes", "2", "--json", str(tmp_path / "r.json")])
    assert rc == 0
    res = json.loads((out / "eval.json").read_text())
    assert json.loads((tmp_path / "r.json").read_text()) == res
    assert res["command"] and isinstance(res["command"], str)  # how it was made (the process's argv), and where
    assert res["machine"]["cores"] >= 1 and res["options"]["probe_clips"] == 8
    assert set(res["probes"]) == {"agent", "objects"} and set(res["probes"]["agent"]) == {"pooled", "patch", "dense"}
    assert set(res["probes"]["objects"]) == {"pooled", "patch"}
    assert set(res["probes_pixels"]) == {"agent", "objects"} and res["probes_pixels"]["agent"]["n"] == 8 * 12
    assert set(res["physics"]) >= {"vanish", "appear", "permanence", "teleport", "morph", "mean_relative_accuracy"}
    assert res["physics"]["mean_of"] == ["permanence", "teleport", "morph"]
    assert res["physics"]["permanence"]["quadruplets"] == 2
    assert 0 <= res["physics"]["vanish"]["auroc"] <= 1
    assert res["plannability"]["episodes"] == 2 and all(0 <= h <= 1 for h in res["plannability"]["descent_hit"].values())
    assert res["agreement"]["cka_pooled"] == pytest.approx(1.0, abs=1e-6)  # a model agrees with itself
    assert set(res["rollout"]) >= {"1", "2", "4", "beats_copy_last_at_every_horizon"}
    assert (out / "eval.png").stat().st_size > 1000
    assert "probe R²" in capsys.readouterr().out


def test_eval_skips_what_does_not_apply_and_refuses_bad_dirs(tmp_path):
    enc = build_encoder("vit_nano", depth=1, img_size=32, patch_size=8)  # image model, no predictor
    d = save_model_dir(tmp_path / "img", ModelDir(encoder=enc))
    from jepa_edge.eval.run import EvalOptions, evaluate

    res = evaluate(d, opts=EvalOptions(probe_clips=6, probe_frames=2, plan_episodes=0))
    assert "physics" in res["skipped"] and "rollout" in res["skipped"] and "plannability" not in res
    assert main(["eval", str(tmp_path / "nowhere")]) == 2  # a clear one-line error, no traceback

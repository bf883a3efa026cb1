"""Planner settings are measured, not hand-set: train-ac's search records them (with its evidence)
in the model dir, export carries them into the bundle, and `run` / goal-reaching evaluation plan
with them unless the robot TOML or a flag sets those keys, saying which."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from loop_support import save_tiny_model_dir

from jepa_edge.cli import main
from jepa_edge.eval.energy_direction import SEARCH_DELTA_SCALES, SEARCH_ENERGIES, SEARCH_FIRST_SEED, search_planner
from jepa_edge.eval.goal_reaching import Method, evaluate
from jepa_edge.inference import load_bundle
from jepa_edge.latent import LatentSpec
from jepa_edge.loop.assemble import assemble, planner_settings
from jepa_edge.loop.config import RobotConfig, load_robot_config
from jepa_edge.models.model_dir import ModelDir, load_model_dir, save_model_dir
from jepa_edge.models.registry import build_encoder

MEASURED = {"energy": "l1_smooth", "smooth_sigma": 0.4, "delta_scale": 0.05}  # none of them the default
SMALL = {"sim.img_size": 32, "sim.max_steps": 3, "planner.samples": 8, "planner.elites": 2,
         "planner.iterations": 1, "surprise.enabled": False}


@pytest.fixture(scope="module")
def measured_dir(tmp_path_factory):
    return save_tiny_model_dir(tmp_path_factory.mktemp("m") / "model", config={"ac": {"planner": MEASURED}})


def test_search_stays_within_its_bound_and_records_settings_and_evidence(tmp_path):
    torch.set_num_threads(1)
    from jepa_edge.eval.energy_direction import record_planner_search
    from jepa_edge.training.ac import TrainACConfig, train_ac

    torch.manual_seed(0)
    enc = save_model_dir(tmp_path / "enc", ModelDir(encoder=build_encoder("vit_nano", depth=1, img_size=32,
                                                                          patch_size=8)))
    budget = 0.4  # the tiny model scores all 50 episodes in ~2 s: the bound must stop it early
    cfg = TrainACConfig(encoder=str(enc), depth=1, num_heads=2, frames=4, n_trajectories=4, batch_size=4, steps=2,
                        warmup_steps=1, ckpt_every=2, log_every=1, planner_search_s=budget)
    model = train_ac(cfg, tmp_path / "ac", progress=False)["model_dir"]
    record_planner_search(Path(model), cfg)  # what `jepa-edge train-ac` runs after training
    ac = load_model_dir(model).config["ac"]  # hashes still verify after the search rewrote config.json
    ev = ac["planner_search"]
    assert ev["measured"] and ev["stopped_early"] and 1 <= ev["episodes"] < 50
    assert ev["seconds"] <= budget + 1.0  # the bound, plus at most the model load and one episode
    assert ev["seeds"] == [SEARCH_FIRST_SEED, SEARCH_FIRST_SEED + ev["episodes"] - 1] and ev["seeds"][1] < 1000
    assert len(ev["candidates"]) == len(SEARCH_ENERGIES) * len(SEARCH_DELTA_SCALES)
    best = max(ev["candidates"], key=lambda c: (c["best_closer"], c["spearman"]))  # the stated rule
    assert ac["planner"] == ev["chosen"]
    assert ac["planner"]["energy"] == best["energy"] and ac["planner"]["delta_scale"] == best["delta_scale"]
    assert LatentSpec.from_model_config(load_model_dir(model).config).planner == ac["planner"]
    # applying them gives a valid planner config
    cfg_applied, _ = planner_settings(RobotConfig(), LatentSpec(planner=ac["planner"]))
    assert cfg_applied.planner.delta_scale == ac["planner"]["delta_scale"]


def test_search_off_and_on_a_robot_dataset_records_why(tmp_path):
    from jepa_edge.eval.energy_direction import record_planner_search
    from jepa_edge.training.ac import TrainACConfig

    model = save_tiny_model_dir(tmp_path / "m", config={"ac": {"norm": "layer_norm"}})
    ev = record_planner_search(model, TrainACConfig(encoder="e", planner_search_s=0))
    assert ev == {"measured": False, "reason": "--planner-search-s 0"}
    ev = record_planner_search(model, TrainACConfig(encoder="e", data=str(tmp_path / "ds")))
    assert not ev["measured"] and "robot dataset" in ev["reason"]
    assert load_model_dir(model).config["ac"]["planner"] == {}
    with pytest.raises(Exception, match="planner-search-s"):
        TrainACConfig(encoder="e", planner_search_s=-1)


def test_search_planner_scores_through_energy_direction(measured_dir):
    settings, ev = search_planner(measured_dir, budget_s=60, max_episodes=2)
    assert ev["episodes"] == 2 and not ev["stopped_early"] and ev["scored_by"].endswith("energy_direction.score")
    assert settings["energy"] in ("l1", "l1_smooth") and settings["delta_scale"] in SEARCH_DELTA_SCALES


def test_assemble_uses_the_recorded_settings_unless_the_config_sets_them(measured_dir, tmp_path):
    base = RobotConfig().override({"models.encoder": str(measured_dir), **SMALL})
    asm = assemble(base, episode_seed=1000)
    try:
        assert asm.parts.planner.cfg.energy == "l1_smooth" and asm.parts.planner.cfg.delta_scale == 0.05
        assert asm.parts.planner.cfg.smooth_sigma == 0.4
        assert asm.planner_note == ("planner settings: energy l1_smooth, smooth_sigma 0.4, delta_scale 0.05 "
                                    "(measured by train-ac)")
    finally:
        asm.close()
    # a TOML value and a flag win, even one equal to the default (set, not "differs from the default")
    toml = tmp_path / "robot.toml"
    toml.write_text('[planner]\nenergy = "l1"\n')
    cfg = load_robot_config(toml, {"models.encoder": str(measured_dir), "planner.delta_scale": 1.0, **SMALL})
    assert {"planner.energy", "planner.delta_scale"} <= cfg.explicit_keys
    assert "planner.smooth_sigma" not in cfg.explicit_keys
    asm = assemble(cfg, episode_seed=1000)
    try:
        p = asm.parts.planner.cfg
        assert (p.energy, p.delta_scale, p.smooth_sigma) == ("l1", 1.0, 0.4)
        assert asm.planner_note == "planner settings: energy l1, delta_scale 1 (from the config)"
    finally:
        asm.close()
    # nothing recorded, nothing set: the defaults, said so
    _, note = planner_settings(RobotConfig(), LatentSpec())
    assert note == "planner settings: energy l1, delta_scale 1 (default: the predictor records none)"


def test_a_bundle_carries_the_settings_and_evaluation_reports_them(measured_dir, tmp_path):
    from jepa_edge.quant.pipeline import export

    bundle = export(measured_dir, "onnxruntime", "fp32", out=tmp_path / "ac", part="ac_predictor",
                    log=lambda *a: None).path
    session = load_bundle(bundle)
    assert session.latent.planner == MEASURED
    session.close()
    cfg = RobotConfig().override({"models.encoder": str(measured_dir), "models.predictor": str(bundle), **SMALL})
    out = evaluate(cfg, [Method("student")], episodes=1, first_seed=1000)["methods"]["student"]
    assert out["planner"] == MEASURED
    assert out["planner_settings"].endswith("(measured by train-ac)")
    out = evaluate(cfg.override({"planner.delta_scale": 0.25}), [Method("student")], 1)["methods"]["student"]
    assert out["planner"]["delta_scale"] == 0.25 and "delta_scale 0.25 (from the config)" in out["planner_settings"]


def test_run_says_which_settings_it_used(measured_dir, capsys):
    flags = ["run", "--models.encoder", str(measured_dir), "--schedule.mode", "lockstep", "--schedule.max_ticks", "3",
             "--planner.samples", "8", "--planner.elites", "2", "--planner.iterations", "1", "--sim.img_size", "32",
             "--surprise.enabled", "false"]
    assert main(flags) == 0
    assert "planner settings: energy l1_smooth, smooth_sigma 0.4, delta_scale 0.05 (measured by train-ac)" \
        in capsys.readouterr().err
    assert main([*flags, "--planner.delta_scale", "0.25"]) == 0
    err = capsys.readouterr().err
    assert "energy l1_smooth, smooth_sigma 0.4 (measured by train-ac), delta_scale 0.25 (from the config)" in err

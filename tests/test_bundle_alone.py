"""A bundle carries its own latent spec: copied alone to a robot, it plans exactly as beside its
training folder, and an older bundle that read the spec from the model dir on disk is refused."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from loop_support import save_tiny_model_dir

from jepa_edge.data.tasks import TASK_CONFIG
from jepa_edge.errors import BundleError
from jepa_edge.eval.goal_reaching import eval_config
from jepa_edge.inference import load_bundle
from jepa_edge.latent import LatentSpec
from jepa_edge.loop.assemble import assemble, make_state_update
from jepa_edge.loop.config import RobotConfig
from jepa_edge.loop.loop import RobotLoop
from jepa_edge.loop.telemetry import Telemetry
from jepa_edge.planning.kinematics import StateUpdate
from jepa_edge.quant.pipeline import export

# Not the defaults anywhere: a bundle that lost any of these would encode or plan differently.
KINEMATICS = StateUpdate.for_world(TASK_CONFIG, action_repeat=2)
RECIPE = {"normalization": {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]},
          "ac": {"norm": "layer_norm", "action_repeat": 2, "state_update": KINEMATICS.to_dict()}}


def planned_actions(encoder: str, predictor: str) -> list[list[float]]:
    cfg = eval_config(RobotConfig().override({
        "models.encoder": encoder, "models.predictor": predictor, "sim.img_size": 32, "sim.max_steps": 6,
        "planner.samples": 16, "planner.elites": 4, "planner.iterations": 2, "planner.horizon": 2}))
    asm = assemble(cfg, episode_seed=1000)
    try:
        telemetry = Telemetry()
        assert RobotLoop(cfg, asm.parts, telemetry).run().exit_code == 0
    finally:
        asm.close()
    return [t["action"] for t in telemetry.ticks if "action" in t]


def test_a_bundle_copied_alone_plans_identically(tmp_path):
    model = save_tiny_model_dir(tmp_path / "train" / "model", config=RECIPE)
    built = tmp_path / "train" / "bundles"
    for part in ("encoder", "ac_predictor"):  # a 2-step plan: the AC predictor takes a batch of frames
        export(model, "onnxruntime", "fp32", out=built / part, part=part, log=lambda *a: None,
               shared_frame=False if part == "ac_predictor" else None)
    spec = load_bundle(built / "ac_predictor").latent
    assert spec == LatentSpec.from_model_config(json.loads((model / "config.json").read_text()))
    assert spec.layer_norm and spec.action_repeat == 2 and spec.mean == (0.5, 0.4, 0.3)
    before = planned_actions(str(built / "encoder"), str(built / "ac_predictor"))

    robot = tmp_path / "robot"
    shutil.copytree(built, robot)
    shutil.rmtree(tmp_path / "train")  # the model dir and everything beside it are gone
    after = planned_actions(str(robot / "encoder"), str(robot / "ac_predictor"))
    assert len(before) >= 6 and np.array_equal(before, after)
    # the spec travelled: kinematics and action repeat come from the copied bundle alone
    assert make_state_update(RobotConfig(), robot / "ac_predictor") == KINEMATICS
    cfg = eval_config(RobotConfig().override({"models.encoder": str(robot / "encoder"),
                                              "models.predictor": str(robot / "ac_predictor")}))
    assert cfg.schedule.action_hz == pytest.approx(cfg.schedule.planning_hz / 2)


def test_a_bundle_without_a_latent_spec_is_refused_with_one_line(tmp_path):
    model = save_tiny_model_dir(tmp_path / "model")
    out = export(model, "onnxruntime", "fp32", out=tmp_path / "enc", log=lambda *a: None).path
    raw = json.loads((out / "manifest.json").read_text())
    raw["format_version"] = 1
    del raw["latent"]
    (out / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="does not carry its latent spec.*export it again"):
        load_bundle(out)

"""The loop end to end: the built-in world as camera and robot behind the real C firmware simulator,
commands through the real serial link; realtime with small random models; a Gymnasium env."""
import json
import os

import numpy as np
import pytest

from jepa_edge.loop.assemble import assemble
from jepa_edge.eval.goal_reaching import Method, ended_by_fault, evaluate
from jepa_edge.loop.loop import RobotLoop
from jepa_edge.loop.config import RobotConfig
from jepa_edge.loop.telemetry import Telemetry

from loop_support import AgentPositionEncoder, LinearDynamics, save_tiny_model_dir, tiny_random_models, torch_sessions

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


def sim_cfg(**over) -> RobotConfig:
    base = {"planner.samples": 64, "planner.elites": 8, "planner.iterations": 3, "planner.budget_ms": 200.0,
            "schedule.command_valid_ms": 300.0}
    return RobotConfig().override({**base, **over})


@pytest.mark.parametrize("kind", ["cem", "mppi"])
def test_goal_reaching_through_the_firmware_beats_random(kind):
    """An exact latent model + the planner reach every goal; random does not; the oracle does."""
    cfg = sim_cfg(**{"planner.kind": kind, "sim.max_steps": 60})
    student = Method("student", encoder_session=AgentPositionEncoder(64), predictor_session=LinearDynamics(0.05))
    oracle = Method("oracle", encoder_session=AgentPositionEncoder(64))
    rand = Method("random", encoder_session=AgentPositionEncoder(64))
    res = evaluate(cfg, [student, oracle, rand], episodes=2, first_seed=7)["methods"]
    assert res["student"]["success_rate"] == 1.0
    assert res["oracle"]["success_rate"] == 1.0
    assert res["random"]["final_distance_mean"] > res["student"]["final_distance_mean"]
    assert res["student"]["steps_to_goal"]["p50"] < 60
    assert res["student"]["plan_ms_per_action"]["n"] == 2
    for ep in res["student"]["per_episode"]:
        assert ep["reason"] == "done" and ep["replans"] >= ep["steps"]  # replanned every step
        assert ep["ended"] == "done" and ep["fault"] is None and not ended_by_fault(ep)


def test_lockstep_commands_travel_through_the_firmware_and_end_with_estop():
    cfg = sim_cfg(**{"schedule.mode": "lockstep", "schedule.perception_hz": 10.0, "schedule.planning_hz": 10.0,
                     "schedule.max_ticks": 15})
    asm = assemble(cfg, episode_seed=3, encoder_session=AgentPositionEncoder(64),
                   predictor_sessions=(LinearDynamics(0.05), None))
    start = asm.world.state.agent_pos.copy()
    try:
        report = RobotLoop(cfg, asm.parts, Telemetry()).run()
        stats = asm.robot.link.stats()
        assert report.exit_code == 0 and report.ticks == 15
        assert stats.commands_sent >= 15 and stats.nacks == 0
        # The firmware applied the commands (its STATE echoed our seq) and the world moved with them.
        assert np.hypot(*(asm.world.state.agent_pos - start)) > 0.2
        assert asm.robot.estops == 1
        deadline = __import__("time").monotonic() + 2.0
        while asm.robot.estop_faults == 0 and __import__("time").monotonic() < deadline:
            __import__("time").sleep(0.01)
        assert asm.robot.estop_faults >= 1  # the firmware reported FAULT(ESTOP): it heard the stop
        assert np.all(asm.robot.actuator == 0)
    finally:
        asm.close()


def test_realtime_loop_with_random_vit_and_ac_predictor(tmp_path):
    """Small randomly initialised models from a model dir (torch session), threads, telemetry, PNG."""
    model = save_tiny_model_dir(tmp_path / "model")
    cfg = sim_cfg(**{"models.encoder": str(model), "schedule.perception_hz": 20.0, "schedule.planning_hz": 5.0,
                     "schedule.duration_s": 2.0, "planner.samples": 32, "planner.budget_ms": 100.0,
                     "planner.horizon": 2, "camera.max_age_ms": 200.0, "schedule.plan_timeout_ms": 3000.0,
                     "safety.loop_stall_ms": 3000.0, "telemetry.out_dir": str(tmp_path / "run")})
    asm = assemble(cfg)
    warm = []
    planner = asm.parts.planner
    inner = planner.plan

    def spy(obs, goal, warm_start=None, budget=None):
        warm.append(warm_start is not None)
        return inner(obs, goal, warm_start, budget)

    planner.plan = spy
    tel = Telemetry(cfg.telemetry.out_dir)
    try:
        report = RobotLoop(cfg, asm.parts, tel).run()
    finally:
        asm.close()
        tel.close()
    assert report.exit_code == 0 and str(report.reason) == "completed", report.reason
    assert report.to_dict()["ended"] == {"how": "completed", "fault": None, "detail": None}
    s = report.summary
    assert s["ticks"] >= 10 and s["planner"]["replans"] >= 2
    assert warm[0] is False and all(warm[1:])  # every replan after the first is warm-started
    assert s["frame_age_ms"]["max"] <= 200.0  # read_latest never handed over a stale frame
    for key in ("camera", "encode", "surprise", "command", "tick"):
        assert s["stages_ms"][key]["n"] == s["ticks"] and s["stages_ms"][key]["p99"] >= s["stages_ms"][key]["p50"]
    assert s["frame_to_command_ms"]["n"] == s["ticks"]
    lines = [json.loads(x) for x in (tmp_path / "run" / "telemetry.jsonl").read_text().splitlines()]
    assert {x["type"] for x in lines} >= {"tick", "plan"}
    assert all(np.isfinite(x["action"]).all() for x in lines if x["type"] == "tick" and "action" in x)
    png = tel.write_timeline(report.faults)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gymnasium_pendulum_stands_in_for_the_robot():
    pytest.importorskip("pygame", reason="classic-control rendering needs pygame (the [gym] extra)")
    from jepa_edge.robot.gym import GymRobot
    from jepa_edge.loop.loop import LoopParts
    from jepa_edge.loop.perception import LatentEncoder
    from jepa_edge.planning.planner import LatentDynamics, make_planner

    cfg = RobotConfig().override({
        "camera.source": "gym", "sim.world": "Pendulum-v1", "planner.action_low": (-2.0,), "planner.action_high": (2.0,),
        "planner.kind": "mppi", "planner.samples": 32, "planner.elites": 4, "schedule.mode": "lockstep",
        "schedule.perception_hz": 20.0, "schedule.planning_hz": 20.0, "schedule.max_ticks": 25})
    enc_s, ac_s, sur_s = torch_sessions(*tiny_random_models(img_size=32, action_dim=1, state_dim=3))
    robot = GymRobot("Pendulum-v1", seed=0, realtime=False)
    robot.connect()
    encoder = LatentEncoder(enc_s)
    z_goal = encoder.encode(robot.goal_image())
    parts = LoopParts(robot.camera(20.0), encoder, make_planner(LatentDynamics(ac_s), cfg.planner), robot, z_goal,
                      LatentDynamics(sur_s))
    try:
        report = RobotLoop(cfg, parts, Telemetry()).run()
    finally:
        robot.close()
    assert report.exit_code == 0 and report.ticks == 25
    applied = np.array(robot.applied)
    assert applied.shape == (25, 1) and np.abs(applied).max() > 0  # planned torques reached the env
    assert np.all(np.abs(applied) <= 2.0)
    assert robot.estopped  # the run ended with the safe stop
    assert report.summary["surprise"]["n"] >= 20  # predicted vs observed latent every tick


def test_live_view_and_summary_render_from_records():
    from rich.console import Console

    from jepa_edge.loop.telemetry import LiveView

    tel = Telemetry()
    for k in range(40):
        tel.tick({"tick": k, "t": k / 30, "camera_ms": 0.1, "encode_ms": 5.0 + k % 3, "surprise_ms": 1.0,
                  "command_ms": 0.2, "tick_ms": 7.0 + (k == 39) * 30, "f2c_ms": 9.0, "frame_age_ms": 3.0,
                  "cmd": "plan", "deadline_miss": k == 39})
    for k in range(8):
        tel.plan({"t": k / 5, "plan_ms": 120.0, "iterations": 3, "samples": 256, "overrun": k == 7})
    s = tel.summary()
    assert s["deadline_misses"] == 1 and s["planner"]["overruns"] == 1
    assert s["stages_ms"]["tick"]["p50"] == 7.0 and s["stages_ms"]["tick"]["max"] == 37.0
    assert s["planner"]["replan_rate_hz"] == pytest.approx(5.0)
    console = Console(record=True, width=120)
    console.print(LiveView(tel)._render())
    text = console.export_text()
    assert "encode" in text and "replan 5.0 Hz" in text


def test_cli_goal_reaching_evaluation_writes_json(tmp_path):
    from jepa_edge.cli import main

    model = save_tiny_model_dir(tmp_path / "model")
    out = tmp_path / "eval.json"
    rc = main(["run", "--config", str(__import__("pathlib").Path(__file__).resolve().parents[1] / "examples" / "sim_world.toml"),
               "--models.encoder", str(model), "--models.predictor", "", "--episodes", "2", "--sim.max_steps", "6",
               "--methods", "random,teacher,student,oracle", "--teacher-encoder", str(model),
               "--planner.samples", "16", "--planner.elites", "4", "--json", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    assert set(res["methods"]) == {"random", "teacher", "student", "oracle"}
    for name, r in res["methods"].items():
        assert r["episodes"] == 2 and len(r["per_episode"]) == 2 and 0.0 <= r["success_rate"] <= 1.0
    assert res["methods"]["student"]["plan_ms_per_action"]["n"] == 2
    assert res["machine"]["cores"] and res["command"].startswith("jepa-edge run")


def test_cli_refuses_bad_flags_with_one_line(tmp_path, capsys):
    from jepa_edge.cli import main

    assert main(["run", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["run", "--planner.kind", "gradient"]) == 2
    assert "planner.kind" in capsys.readouterr().err


def test_perception_reproduces_the_latent_recipe_the_predictor_was_trained_on(tmp_path):
    """train-ac records {"ac": {"norm": "layer_norm"}}: runtime latents must be layer-normed too."""
    import torch

    from jepa_edge.models.model_dir import ModelDir, save_model_dir
    from jepa_edge.models.registry import build_encoder
    from jepa_edge.loop.assemble import load_session, make_encoder

    encoder, ac = tiny_random_models()
    with torch.no_grad():  # a final norm with a trained-looking affine: its tokens are not unit-normed
        encoder.norm.weight.fill_(2.0)
        encoder.norm.bias.fill_(0.5)
    model = save_model_dir(tmp_path / "m", ModelDir(config={"ac": {"norm": "layer_norm"}}, encoder=encoder,
                                                       ac_predictor=ac))
    models = RobotConfig().override({"models.encoder": str(model)}).models
    enc = make_encoder(load_session(model, "encoder"), models)
    image = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    z = enc.encode(image)
    assert z.shape == (4, 128)
    np.testing.assert_allclose(z.mean(-1), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(-1), 1, atol=1e-2)
    forced = make_encoder(load_session(model, "encoder"), RobotConfig().override(
        {"models.encoder": str(model), "models.latent_norm": "none"}).models)
    raw = forced.encode(image)
    np.testing.assert_allclose(raw.mean(-1), 0.5, atol=1e-3)  # the encoder's own output, untouched

    # A video encoder sees the frame repeated over its clip length, temporal slots averaged.
    torch.manual_seed(0)
    video = build_encoder("vit_nano/16", img_size=32, depth=1, num_frames=4, tubelet_size=2).eval()
    vdir = save_model_dir(tmp_path / "v", ModelDir(config={}, encoder=video))
    venc = make_encoder(load_session(vdir, "encoder"), RobotConfig().override({"models.encoder": str(vdir)}).models)
    assert venc.frames == 4 and venc.encode(image).shape == (4, 128)


def test_goal_from_an_image_file_or_a_latent_file(tmp_path):
    import cv2

    from jepa_edge.data.tasks import sample_goal
    from jepa_edge.errors import ConfigError

    goal = sample_goal(11, size=64)
    cv2.imwrite(str(tmp_path / "goal.png"), cv2.cvtColor(goal.image, cv2.COLOR_RGB2BGR))
    enc = AgentPositionEncoder(64)
    cfg = sim_cfg(**{"schedule.mode": "lockstep", "goal.image": str(tmp_path / "goal.png")})
    asm = assemble(cfg, episode_seed=3, encoder_session=enc, predictor_sessions=(LinearDynamics(0.05), None))
    asm.close()
    expected = (enc.W @ np.asarray(goal.state.agent_pos, np.float32)).reshape(4, 8)
    np.testing.assert_allclose(asm.parts.z_goal, expected, atol=0.05)  # the image's agent, not episode 3's
    np.save(tmp_path / "goal.npy", expected[None])  # [1, N, D] as `jepa-edge embed` writes it
    cfg = sim_cfg(**{"schedule.mode": "lockstep", "goal.latent": str(tmp_path / "goal.npy")})
    asm = assemble(cfg, episode_seed=3, encoder_session=enc, predictor_sessions=(LinearDynamics(0.05), None))
    asm.close()
    np.testing.assert_array_equal(asm.parts.z_goal, expected)
    with pytest.raises(ConfigError, match="goal.image"):
        assemble(sim_cfg(**{"goal.image": str(tmp_path / "missing.png")}), encoder_session=enc,
                 predictor_sessions=(LinearDynamics(0.05), None))


def test_the_teacher_plans_with_its_own_predictor_not_the_students(tmp_path):
    """models.predictor is the student's; a teacher given as a model dir brings its own AC predictor.
    Mixing them (other token grid) would end every teacher episode with a backend fault."""
    student = save_tiny_model_dir(tmp_path / "student", img_size=32)
    teacher = save_tiny_model_dir(tmp_path / "teacher", img_size=64, seed=1)  # 16 tokens, not 4
    cfg = sim_cfg(**{"models.encoder": str(student), "models.predictor": str(student), "sim.max_steps": 4,
                     "planner.samples": 16, "planner.elites": 4})
    res = evaluate(cfg, [Method("teacher", str(teacher)), Method("student")], episodes=1)["methods"]
    assert res["teacher"]["predictor"] == str(teacher) and res["student"]["predictor"] == str(student)
    assert res["teacher"]["faulted"] == res["student"]["faulted"] == 0
    assert all(e["replans"] > 0 for r in res.values() for e in r["per_episode"])


def test_goal_evaluation_gives_a_frame_skip_predictor_k_world_steps_per_action(tmp_path):
    """A predictor trained with --action-repeat k: its plan's actions last k world steps; the
    evaluation still replans and acts every step."""
    from jepa_edge.eval.goal_reaching import eval_config

    model = save_tiny_model_dir(tmp_path / "m", config={"ac": {"action_repeat": 3}})
    skip = eval_config(sim_cfg(**{"models.predictor": str(model)})).schedule
    plain = eval_config(sim_cfg()).schedule
    assert skip.planning_hz == plain.planning_hz == plain.action_hz
    assert skip.action_hz == pytest.approx(plain.action_hz / 3)


def test_ctrl_c_during_a_goal_evaluation_stops_the_episode_safely_and_the_evaluation_too(monkeypatch):
    """The loop turns SIGINT into a safe stop of the episode; the evaluation must not then go on
    to the next episode (it did: Ctrl-C on `jepa-edge run --episodes N` ended one episode only).
    The loop's signal handler only calls `interrupt` (test_safety sends the real signal to the CLI);
    here the first plan calls it, in-process, with no signal that other tests' threads could see."""
    loops = []
    init = RobotLoop.__init__

    def remember(self, *args, **kwargs):
        init(self, *args, **kwargs)
        loops.append(self)

    monkeypatch.setattr(RobotLoop, "__init__", remember)

    class CtrlCOnFirstPlan(LinearDynamics):
        def run(self, inputs):
            if not self.batches:
                loops[-1].interrupt("SIGINT")
            return super().run(inputs)

    done = []
    student = Method("student", encoder_session=AgentPositionEncoder(64), predictor_session=CtrlCOnFirstPlan(0.05))
    with pytest.raises(KeyboardInterrupt, match="episode 1 of 3: interrupted: SIGINT"):
        evaluate(sim_cfg(**{"sim.max_steps": 40}), [student], episodes=3, first_seed=7,
                 progress=lambda name, k, n, ep: done.append(ep))
    assert len(loops) == 1 and len(done) == 1
    assert done[0]["reason"] == "interrupted: SIGINT" and not done[0]["success"]

"""`jepa-edge diagnose`: scores an encoder + AC predictor and gives a pass/fail verdict a stated
threshold decides (a threshold nothing can reach must fail, and the exit status must say so)."""
import argparse
import json

from jepa_edge.cli import diagnose

from loop_support import save_tiny_model_dir


def main(argv):
    """`jepa-edge diagnose ...` through the subcommand's own parser (the CLI's protocol), without
    importing every other subcommand."""
    assert argv[0] == "diagnose"
    parser = argparse.ArgumentParser(prog="jepa-edge diagnose")
    diagnose.add_arguments(parser)
    return diagnose.run(parser.parse_args(argv[1:]))

ARGS = ["--episodes", "2", "--horizons", "1", "--horizon", "1", "--threads", "1", "--delta-scale", "1", "0.25"]


def test_diagnose_writes_a_verdict_that_follows_the_threshold(tmp_path, capsys):
    model = save_tiny_model_dir(tmp_path / "model", img_size=32, seed=1)

    lax = tmp_path / "lax.json"
    rc = main(["diagnose", str(model), *ARGS, "--min-rho", "-1", "--min-closer", "0", "--json", str(lax)])
    res = json.loads(lax.read_text())
    assert rc == 0 and res["verdict"] == "pass" and res["passed"] is True
    assert res["predictor"] == str(model)  # found in the model dir
    assert res["threshold"] == {**res["threshold"], "horizon_steps": 1, "min_spearman": -1.0, "min_best_closer": 0.0}
    checks = {(c["energy"], c["source"], c["delta_scale"]) for c in res["checks"]}
    assert checks == {(e, s, d) for e in ("l1", "l1_smooth") for s, d in
                      (("true", 1.0), ("predicted", 1.0), ("predicted", 0.25))}
    for c in res["checks"]:
        assert -1 <= c["spearman"] <= 1 and 0 <= c["best_closer"] <= 1 and c["pass"] is True
    assert res["recommended"]["planner.energy"] in ("l1", "l1_smooth")
    assert set(res["scores"]["l1 (predicted)"]) == {"H1"}

    strict = tmp_path / "strict.json"
    rc = main(["diagnose", str(model), *ARGS, "--min-rho", "1.01", "--json", str(strict)])
    res = json.loads(strict.read_text())
    assert rc == 1 and res["verdict"] == "fail" and res["passed"] is False and res["recommended"] is None
    assert not any(c["pass"] for c in res["checks"])
    assert "FAIL" in capsys.readouterr().out


def test_diagnose_without_the_predictor_scores_true_frames_only(tmp_path):
    model = save_tiny_model_dir(tmp_path / "model", img_size=32, seed=2)
    out = tmp_path / "d.json"
    main(["diagnose", str(model), "--no-predictor", "--episodes", "1", "--horizons", "1", "--horizon", "1",
          "--energies", "l1", "--threads", "1", "--json", str(out)])
    res = json.loads(out.read_text())
    assert res["predictor"] is None and [c["source"] for c in res["checks"]] == ["true"]
    assert list(res["scores"]) == ["l1"]

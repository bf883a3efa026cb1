"""`jepa-edge train --recipe NAME --out DIR`: a recipe's whole chain, stage by stage.

teacher (pretrain) -> student (distill) -> AC predictor (train-ac, then its planner settings are
measured) -> calibration sets -> INT8 export with the accuracy gate -> goal reaching beside random
and oracle. Each stage is the public command it prints; a stage whose inputs have not changed is
skipped, a killed training stage resumes from its newest checkpoint, so rerunning the same command
continues where it stopped. Ends with one report (DIR/report.md, report.json): each number, its
threshold and pass/fail. Exit 0 when every stage ran and every threshold was met, 1 when a stage
failed, 3 when every stage ran but a threshold was missed, 130 when interrupted (rerun to continue).
"""
from __future__ import annotations

from jepa_edge.cli import _output


def add_arguments(p) -> None:
    p.add_argument("--recipe", required=True, metavar="NAME|FILE.toml",
                   help="a shipped recipe (tabletop-reach, demo) or a recipe file")
    p.add_argument("--out", required=True, help="folder for every stage's output, chain.json and the report")
    p.add_argument("--teacher", metavar="MODEL_DIR", help="use this teacher instead of the recipe's pretrain stage")
    p.add_argument("--threads", type=int, help="torch CPU threads for every stage (default: torch's choice)")
    _output.add_json_flag(p, "the chain's report (stages, verdicts, times)")


def run(args) -> int:
    from jepa_edge.chain.runner import run_chain
    from jepa_edge.chain.verdict import verdict_counts, verdict_table
    from jepa_edge.recipe import load_recipe

    recipe = load_recipe(args.recipe)
    console = _output.results_console(args, wide=True)
    _output.say(args, f"recipe {recipe.name} {recipe.version} ({recipe.sha256[:12]}): {recipe.description}")
    result = run_chain(recipe, args.out, teacher=args.teacher, threads=args.threads,
                       say=lambda line: _output.say(args, line))
    _output.write_json(args, result.to_dict())
    passed, held = verdict_counts(result.verdicts)
    if not _output.quiet():
        console.print(verdict_table(result.verdicts, f"jepa-edge train --recipe {recipe.name}: "
                                                     f"{passed} of {held} thresholds met"))
    errors = _output.console(stderr=True)
    for s in result.failed:
        errors.print(f"[red]{s.name} failed[/red] ({s.error}); rerun it alone: {s.command}", soft_wrap=True)
    if result.interrupted:
        errors.print(f"interrupted: rerun `jepa-edge train --recipe {args.recipe} --out {args.out}` to continue")
    console.print(f"report: {result.out / 'report.md'} ({result.seconds / 60:.1f} min)", markup=False)
    return result.exit_code

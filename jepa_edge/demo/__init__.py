"""`jepa-edge demo`: the whole pipeline on the built-in world, one public CLI command per step.

plan.py    the step table: sizes (full / quick) and the exact `jepa-edge ...` argv of every step
metrics.py what each step's output files say, as the numbers the summary quotes
runner.py  runs the steps in-process through `jepa_edge.cli.main`, times them
report.py  the verdicts (each number against its threshold), the report folder (report.md,
           summary.json, PNGs) and the summary table
"""
from jepa_edge.demo.plan import FULL, QUICK, DemoSizes, Step, demo_steps
from jepa_edge.demo.runner import DemoResult, run_demo

__all__ = ["FULL", "QUICK", "DemoSizes", "Step", "demo_steps", "DemoResult", "run_demo"]

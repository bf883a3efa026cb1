"""`jepa-edge train --recipe NAME`: a recipe's whole chain, stage by stage, cached and resumable (runner.py),
ending with one report whose verdicts (verdict.py) hold each stage's number to its threshold."""

#!/usr/bin/env bash
# Quantize the trained student of experiments/bench_distill.py (encoder + AC predictor) for the loop benchmark:
#   bash benchmarks/export_student.sh [RUNS=runs/distill_bench] [AC_RUN=student_ac]
# Then: python benchmarks/bench_loop.py --encoder $RUNS/bundles/enc-ov-int8 --predictor $RUNS/bundles/ac-ov-int8 ...
# (bundles of another AC_RUN go to $RUNS/bundles_$AC_RUN). FRAMES=3 exports the AC predictor for
# 3 frames per call, which history rollouts of horizon <= 3 need (planner.rollout_context = "history").
set -euo pipefail
RUNS="${1:-runs/distill_bench}"
AC_RUN="${2:-student_ac}"
FRAMES="${FRAMES:-1}"
AC="$RUNS/$AC_RUN/model"
OUT="$RUNS/bundles"; CALIB="$RUNS/calib"
if [ "$AC_RUN" != student_ac ]; then OUT="$RUNS/bundles_$AC_RUN"; CALIB="$RUNS/calib_$AC_RUN"; fi
jepa-edge calibrate "$AC" --out "$CALIB/encoder" --count 300 --held-out 100
jepa-edge calibrate "$AC" --part ac_predictor --frames "$FRAMES" --out "$CALIB/ac" --count 300 --held-out 100
jepa-edge export "$AC" --target openvino --precision int8 --calib "$CALIB/encoder" --out "$OUT/enc-ov-int8" --overwrite --json "$OUT/enc-ov-int8.json"
jepa-edge export "$AC" --part ac_predictor --frames "$FRAMES" --target openvino --precision int8 --calib "$CALIB/ac" --out "$OUT/ac-ov-int8" --overwrite --json "$OUT/ac-ov-int8.json"

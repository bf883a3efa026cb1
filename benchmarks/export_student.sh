#!/usr/bin/env bash
# Quantize the trained student of bench_distill.py (encoder + AC predictor) for the loop benchmark:
#   bash benchmarks/export_student.sh [RUNS=runs/distill_bench]
# Then: python benchmarks/bench_loop.py --encoder $RUNS/bundles/enc-ov-int8 --predictor $RUNS/bundles/ac-ov-int8 ...
set -euo pipefail
RUNS="${1:-runs/distill_bench}"
AC="$RUNS/student_ac/model"
jepa-edge calibrate "$AC" --out "$RUNS/calib/encoder" --count 300 --held-out 100
jepa-edge calibrate "$AC" --part ac_predictor --frames 1 --out "$RUNS/calib/ac" --count 300 --held-out 100
jepa-edge export "$AC" --target openvino --precision int8 --calib "$RUNS/calib/encoder" --out "$RUNS/bundles/enc-ov-int8" --overwrite --json "$RUNS/bundles/enc-ov-int8.json"
jepa-edge export "$AC" --part ac_predictor --frames 1 --target openvino --precision int8 --calib "$RUNS/calib/ac" --out "$RUNS/bundles/ac-ov-int8" --overwrite --json "$RUNS/bundles/ac-ov-int8.json"

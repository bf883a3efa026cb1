#!/usr/bin/env bash
# The planner at 10 Hz x 256 samples with the shipped reference student (reference:tabletop-reach:
# vit_tiny 8-px encoder, 64 tokens per frame, depth-1 AC predictor), OpenVINO INT8, on this machine:
#   bash benchmarks/planner_10hz.sh [OUT=benchmarks/results]
# 1. loop_10hz_reference_<isa>.json: 3,000 ticks at 30 Hz, replanning at 10 Hz, the default bundles
#    (shared-frame AC predictor, OpenVINO threads unpinned), with a planner profile that times the
#    shared-frame predictor and the plain one (--no-shared-frame) interleaved, 1 CEM iteration each.
# 2. loop_10hz_reference_plain_<isa>.json: 1,000 ticks with the plain AC predictor (before).
# 3. loop_10hz_reference_pinned_<isa>.json: 1,000 ticks, shared frame, OpenVINO's own thread pinning (before).
# The planner settings are the reference's measured ones (reference.json / train-ac's search).
set -euo pipefail
OUT="${1:-benchmarks/results}"
WORK="${WORK:-runs/planner_10hz}"
ISA=$(python -c "from jepa_edge.utils.device_info import isa_tag; print(isa_tag())")
PATHS=$(python -c "import contextlib, sys
from jepa_edge.chain.reference import reference_layout
with contextlib.redirect_stdout(sys.stderr):  # building them prints; only the paths go to stdout
    L = reference_layout('tabletop-reach')
print(L.bundle('encoder'), L.bundle('ac_predictor'), L.calib('ac_predictor'))")
read -r ENC AC CALIB <<< "$PATHS"
jepa-edge -q export reference:tabletop-reach --part ac_predictor --no-shared-frame --target openvino --precision int8 \
    --calib "$CALIB" --out "$WORK/ac-plain" --overwrite
PLAN=(--energy l1_smooth --smooth-sigma 0.4 --delta-scale 0.05 --iterations 1 --planning-hz 10 --budget-ms 95 --episodes 0)
python benchmarks/bench_loop.py --encoder "$ENC" --predictor "$AC" "${PLAN[@]}" --ticks 3000 \
    --profile-planner "plain=$WORK/ac-plain" --out "$OUT/loop_10hz_reference_$ISA.json"
python benchmarks/bench_loop.py --encoder "$ENC" --predictor "$WORK/ac-plain" "${PLAN[@]}" --ticks 1000 \
    --out "$OUT/loop_10hz_reference_plain_$ISA.json"
python benchmarks/bench_loop.py --encoder "$ENC" --predictor "$AC" "${PLAN[@]}" --ticks 1000 --ov-cpu-pinning \
    --out "$OUT/loop_10hz_reference_pinned_$ISA.json"

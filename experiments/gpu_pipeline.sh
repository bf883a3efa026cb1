#!/usr/bin/env bash
# The whole model chain of the goal-reaching rows on a lent GPU machine, from nothing, in one call:
# the 8-px --dense teacher (sweep_teacher.py's vrp8_d6_dense recipe), its distilled vit_tiny student
# (README's distill command), then the AC predictors of gpu_train_ac.sh on 16,000 trajectories.
# Everything comes back packed under the device tool's file limits: the two encoder-only model dirs
# and each finished AC predictor. On this CPU the same chain takes ~75 minutes before any AC run.
#   there: RUNS="s_d1 t_d2" bash experiments/gpu_pipeline.sh OUT_DIR
#   here:  mkdir -p runs/gpu && cat OUT_DIR/packs.tar.part-* | tar x -C runs/gpu
#          python experiments/ac_transport.py unpack runs/gpu/packs/s_d1 --encoder runs/gpu/packs/student_enc --out runs/gpu/s_d1/model
# LIMIT (seconds, default 560) bounds the whole call; the AC runs get what the encoders leave.
# A CPU smoke run: TEACHER_STEPS=2 DISTILL_STEPS=2 N=64 STEPS=4 BATCH=4 RUNS=s_d1 bash experiments/gpu_pipeline.sh /tmp/out
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:?OUT_DIR}"
LIMIT="${LIMIT:-560}"; R="${R:-runs/gpu}"
DEVICE="${DEVICE:-$(python3 -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$R/packs" "$OUT_DIR"
step() {  # name command...: run it, say how long it took, stop the script if it failed
  local name=$1 t=$SECONDS; shift
  "$@" >"$R/$name.log" 2>&1; local rc=$?
  echo "$name: exit $rc after $((SECONDS - t)) s"; tail -n 2 "$R/$name.log"
  cp "$R/$name.log" "$R/packs/"
  [ $rc -eq 0 ] || { tar cf - -C "$R" packs | split -b 15M - "$OUT_DIR/packs.tar.part-"; exit $rc; }
}
step teacher python3 experiments/sweep_teacher.py --keep vrp8_d6_dense "$R/teacher" --device "$DEVICE" \
  ${TEACHER_STEPS:+--steps "$TEACHER_STEPS"}
step student python3 -m jepa_edge distill --teacher "$R/teacher/model" --student-arch vit_tiny --student-depth 6 \
  --patch-size 8 --predictor-width 192 --predictor-depth 4 --dense --dataset-size 4000 --batch-size 16 \
  --steps "${DISTILL_STEPS:-600}" --lr 5e-4 --start-lr 5e-5 --warmup-steps 30 --ema-start 0.99 --ema-end 0.999 \
  --device "$DEVICE" --no-progress --out "$R/student"
step strip_teacher python3 experiments/ac_transport.py strip "$R/teacher/model" "$R/teacher_enc"
step strip_student python3 experiments/ac_transport.py strip "$R/student/model" "$R/student_enc"
cp -r "$R/student_enc" "$R/teacher_enc" "$R/packs/"
LIMIT=$((LIMIT - SECONDS)) R="$R" bash experiments/gpu_train_ac.sh "$OUT_DIR"

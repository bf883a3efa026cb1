#!/usr/bin/env bash
# Train AC predictors on a GPU machine (no network, no install) with the static-scene recipe of
# README's distill paragraph on 16x the trajectories and 12x the samples (3000 steps x 128) of the
# CPU runs, side by side on the one GPU, then pack each finished predictor for the trip back
# (ac_transport.py). Packing is kept inside LIMIT seconds, so what finished always comes back.
#   here:  python experiments/ac_transport.py strip runs/vrp8_dense/student/model runs/gpu/student_enc
#          python experiments/ac_transport.py strip runs/vrp8_dense/teacher/model runs/gpu/teacher_enc
#   there: RUNS="s_d1" bash experiments/gpu_train_ac.sh OUT_DIR        (carry runs/gpu)
#   here:  cat OUT_DIR/packs.tar.part-* | tar x -C runs/gpu, then ac_transport.py unpack each
# RUNS picks from s_d2 s_d1 s_d2_mw0 t_d2 (default: s_d2 s_d1). Measured on an H200 with all four
# side by side: the student latent cache took 86 s, then ~7 steps/s per run (s_d1 finished its
# 3000 steps at 516 s; the others did not finish in 470 s). One run alone is faster.
# N, STEPS, BATCH, LIMIT override the sizes (a CPU smoke run: N=64 STEPS=4 BATCH=4).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:?OUT_DIR}"
N="${N:-16000}"; STEPS="${STEPS:-3000}"; BATCH="${BATCH:-128}"; LIMIT="${LIMIT:-520}"; RUNS="${RUNS:-s_d2 s_d1}"
R="${R:-runs/gpu}"  # the carried folder: student_enc/, teacher_enc/
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
RECIPE="--input-blur 2 --object-speed 0 --p-cross 0 --rollout-steps 3 --n-trajectories $N
        --batch-size $BATCH --steps $STEPS --ckpt-every 1000 --log-every 50 --no-progress --threads 3"
STUDENT="--encoder $R/student_enc --predictor-width 192 --num-heads 4"
declare -A FLAGS=(
  [s_d2]="$STUDENT --depth 2 --motion-weight 3"
  [s_d1]="$STUDENT --depth 1 --motion-weight 3"
  [s_d2_mw0]="$STUDENT --depth 2 --motion-weight 0"
  [t_d2]="--encoder $R/teacher_enc --predictor-width 384 --num-heads 6 --depth 2 --motion-weight 3"
)
train() {  # name [extra flags]: stops 30 s before LIMIT, leaving time to pack
  local name=$1 left=$((LIMIT - 30 - SECONDS)); shift
  if [ $left -lt 10 ]; then echo "$name: not started, ${left}s left of LIMIT=$LIMIT" | tee "$R/$name.log"; return; fi
  timeout $left python3 -m jepa_edge train-ac ${FLAGS[$name]} $RECIPE "$@" --out "$R/$name" >"$R/$name.log" 2>&1
  echo "$name: exit $? after ${SECONDS}s"; tail -n 3 "$R/$name.log"
}
# the student runs share one latent cache (same encoder and trajectories): the first student run
# builds it, the others start once it is whole
first_student=""
for name in $RUNS; do
  if [ "$name" = t_d2 ]; then train t_d2 & continue; fi
  if [ -z "$first_student" ]; then first_student=$name; train "$name" --cache-dir $R/student_cache & pid=$!; continue; fi
  until [ -f $R/student_cache/shard_$(printf %05d $(( (N + 255) / 256 - 1 ))).safetensors ] || ! kill -0 $pid 2>/dev/null; do sleep 2; done
  train "$name" --cache-dir $R/student_cache &
done
wait
mkdir -p "$R/packs" "$OUT_DIR"
for name in $RUNS; do
  [ -f "$R/$name/model/config.json" ] && python3 experiments/ac_transport.py pack "$R/$name/model" "$R/packs/$name"
  cp "$R/$name.log" "$R/packs/$name.log"; cp "$R/$name/metrics.jsonl" "$R/packs/$name.metrics.jsonl" 2>/dev/null
done
tar cf - -C "$R" packs | split -b 15M - "$OUT_DIR/packs.tar.part-"
ls -la "$OUT_DIR"

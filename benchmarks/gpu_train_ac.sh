#!/usr/bin/env bash
# Train AC predictors on a GPU machine (no network, no install) with the static-scene recipe of
# README's distill paragraph on 16x the trajectories and 12x the samples (3000 steps x 128) of the CPU runs, four runs
# side by side on the one GPU, then pack each predictor for the trip back (ac_transport.py).
#   here:  python benchmarks/ac_transport.py strip runs/vrp8_dense/student/model runs/gpu/student_enc
#          python benchmarks/ac_transport.py strip runs/vrp8_dense/teacher/model runs/gpu/teacher_enc
#   there: bash benchmarks/gpu_train_ac.sh OUT_DIR        (carry runs/gpu)
#   here:  cat OUT_DIR/packs.tar.part-* | tar x -C runs/gpu, then ac_transport.py unpack each
# N, STEPS, BATCH, LIMIT override the sizes (a CPU smoke run: N=64 STEPS=4 BATCH=4).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:?OUT_DIR}"
N="${N:-16000}"; STEPS="${STEPS:-3000}"; BATCH="${BATCH:-128}"; LIMIT="${LIMIT:-470}"
R=runs/gpu
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
RECIPE="--input-blur 2 --motion-weight 3 --object-speed 0 --p-cross 0 --rollout-steps 3 --n-trajectories $N
        --batch-size $BATCH --steps $STEPS --ckpt-every 1000 --log-every 50 --no-progress --threads 3"
train() {  # name, then train-ac flags
  local name=$1; shift
  timeout "$LIMIT" python3 -m jepa_edge train-ac "$@" --out "$R/$name" >"$R/$name.log" 2>&1
  echo "$name: exit $? after ${SECONDS}s"; tail -n 3 "$R/$name.log"
}
start=$SECONDS
train s_d2 --encoder $R/student_enc --predictor-width 192 --depth 2 --num-heads 4 $RECIPE &
first=$!
train t_d2 --encoder $R/teacher_enc --predictor-width 384 --depth 2 --num-heads 6 $RECIPE &
# the other student runs share s_d2's latent cache (same encoder and trajectories): start them once it is whole
shards=$(( (N + 255) / 256 ))
until [ "$(ls $R/s_d2/latent_cache/shard_*.safetensors 2>/dev/null | wc -l)" -ge "$shards" ] || ! kill -0 $first 2>/dev/null; do sleep 2; done
sleep 2  # its last shard is renamed into place whole (atomic); give the builder a moment to close it
echo "student latent cache built after $((SECONDS - start))s"
train s_d1 --encoder $R/student_enc --predictor-width 192 --depth 1 --num-heads 4 --cache-dir $R/s_d2/latent_cache $RECIPE &
train s_d2_mw0 --encoder $R/student_enc --predictor-width 192 --depth 2 --num-heads 4 --cache-dir $R/s_d2/latent_cache \
  ${RECIPE/--motion-weight 3/--motion-weight 0} &
wait
mkdir -p "$R/packs" "$OUT_DIR"
for name in s_d2 t_d2 s_d1 s_d2_mw0; do
  [ -f "$R/$name/model/config.json" ] && python3 benchmarks/ac_transport.py pack "$R/$name/model" "$R/packs/$name"
  cp "$R/$name.log" "$R/packs/$name.log" 2>/dev/null
done
tar cf - -C "$R" packs | split -b 15M - "$OUT_DIR/packs.tar.part-"
ls -la "$OUT_DIR"

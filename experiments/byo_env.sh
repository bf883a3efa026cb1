#!/usr/bin/env bash
# The whole "bring your own environment" user path (issue 24) on a Gymnasium env that is not the
# built-in world: Arm2Link-v0, a planar two-link arm of our own (experiments/envs/arm2link.py,
# outside the package, made through gymnasium's "module:EnvId" form).
#   record -> distill (teacher: `jepa-edge demo --quick`'s, trained on the built-in world) -> train-ac
#   -> calibrate + export INT8 (ONNX Runtime, encoder and AC predictor) -> run goal reaching
#   (DINO-WM protocol) with random / student / oracle.
# Settings (goal horizon, tolerance, episode length, planner) were chosen on seeds 500-559; the
# reported evaluation runs on seeds from 1000 on. Heavy steps run under nice with 1-2 threads.
# Usage: experiments/byo_env.sh [OUT=runs/byo] [TEACHER=runs/dq_p27/teacher/model] [EPISODES=50]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/byo}
TEACHER=${2:-runs/dq_p27/teacher/model}   # `jepa-edge demo --quick --out runs/dq_p27` makes it
EPISODES=${3:-20}
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}   # experiments.envs.arm2link importable
ENV=experiments.envs.arm2link:Arm2Link-v0
N="nice -n 19"
T() { local name=$1; shift; local t0=$(date +%s.%N); "$@"; echo "$name $(echo "$(date +%s.%N) - $t0" | bc) s" >> "$OUT/walltimes.txt"; }
mkdir -p "$OUT"; : > "$OUT/walltimes.txt"
[ -d "$TEACHER" ] || $N jepa-edge demo --quick --out "$(dirname "$(dirname "$TEACHER")")"

# 1. record 300 episodes x 50 steps (smooth random joint velocities), seeds 0..299
T record $N jepa-edge record "$OUT/arm_data" --env $ENV --episodes 300 --steps 50 --size 64 --seed 0 \
    --action-mode delta --json "$OUT/record.json"
# 2. distill a vit_nano (2 blocks) student from the teacher on the recorded frames
T distill $N jepa-edge distill --teacher "$TEACHER" --data "$OUT/arm_data" --student-arch vit_nano --student-depth 2 \
    --dataset-size 3000 --batch-size 32 --steps 300 --warmup-steps 30 --dense --threads 1 --no-progress \
    --log-every 20 --out "$OUT/student"
# 3. the action-conditioned predictor on the frozen student, on the dataset
T train_ac $N jepa-edge train-ac --encoder "$OUT/student/model" --data "$OUT/arm_data" --depth 2 --frames 4 --one-step \
    --motion-weight 1 --batch-size 32 --steps 500 --warmup-steps 30 --threads 2 --no-progress --log-every 20 \
    --out "$OUT/ac"
# 4. INT8 calibration sets (encoder: the dataset's frames; AC predictor: the dataset's trajectories) and exports
T calibrate_encoder $N jepa-edge calibrate "$OUT/ac/model" --source "$OUT/arm_data" --count 300 --held-out 100 \
    --out "$OUT/calib_enc"
T calibrate_ac $N jepa-edge calibrate "$OUT/ac/model" --part ac_predictor --source "$OUT/arm_data" --frames 1 \
    --count 300 --held-out 100 --out "$OUT/calib_ac"
T export_encoder $N jepa-edge export "$OUT/ac/model" --target onnxruntime --precision int8 --calib "$OUT/calib_enc" \
    --out "$OUT/bundles/enc-ort-int8" --json "$OUT/bundles/enc-ort-int8.json"
T export_ac $N jepa-edge export "$OUT/ac/model" --part ac_predictor --target onnxruntime --precision int8 \
    --calib "$OUT/calib_ac" --out "$OUT/bundles/ac-ort-int8" --json "$OUT/bundles/ac-ort-int8.json"
# 5. goal reaching: goal = frame after H=20 random actions; success = fingertip within 0.1 (arm reach 1.0)
RUN=(--env $ENV --models.encoder "$OUT/bundles/enc-ort-int8" --models.predictor "$OUT/bundles/ac-ort-int8"
     --models.threads 1 --sim.goal_horizon 20 --sim.success_state tip --sim.success_tolerance 0.1 --sim.max_steps 25
     --planner.samples 64 --planner.iterations 3 --planner.elites 8 --planner.energy l1)
T run $N jepa-edge run "${RUN[@]}" --episodes "$EPISODES" --first-seed 1000 --methods random,student,oracle \
    --json "$OUT/goal_reaching.json"
# Result file: experiments/results/byo_arm2link.json (copied to benchmarks/results/) from this run's outputs.

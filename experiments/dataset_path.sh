#!/usr/bin/env bash
# Issue 24, "the built-in world through the same path (record -> train-ac -> loop) reaches goal
# success within 10 points of the current built-in path at the same budget".
#
# ONE frozen encoder (the `jepa-edge demo --quick` student in runs/dq_p27: vit_nano, 1 block,
# distilled for 10 steps, so a weak encoder), two AC predictors at the SAME budget:
#   (a) built-in path: train-ac on the world's own trajectories (WorldTrajectories, seed 1000+i)
#   (b) dataset path:  record --world (same seeds, same explore policy, one episode = one
#       trajectory of FRAMES steps) -> train-ac --data
# Differences the flags cannot remove: (b) has no occluder crossings (the built-in path launches
# an object across the occluder in 25% of its clips, p_cross), its frames went through mp4
# (lossy, ~3/255 mean abs), and its actions/states are normalised with the dataset's stats.
# Non-crossing clips have bit-identical states and actions in both paths.
# Both model dirs (FP32, torch) go through the same built-in goal-reaching evaluation
# (examples/sim_world.toml, lockstep, reach task) on seeds 1000..1000+N-1 with the same planner.
# Nothing was chosen on seeds >= 1000: the planner and training settings were fixed up front.
# Usage: experiments/dataset_path.sh [OUT=runs/cmp] [ENCODER=runs/dq_p27/student/model] [EPISODES=20]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/cmp}
ENC=${2:-runs/dq_p27/student/model}   # `jepa-edge demo --quick --out runs/dq_p27` makes it
EPISODES=${3:-20}
N="nice -n 19"
# T NAME DONE_FILE CMD...: run CMD (timed into walltimes.txt) unless DONE_FILE exists (a stage already done)
T() { local name=$1 done=$2; shift 2; [ -e "$done" ] && { echo "$name: reusing $done"; return; }
      local t0=$(date +%s.%N); "$@"; echo "$name $(echo "$(date +%s.%N) - $t0" | bc) s" >> "$OUT/walltimes.txt"; }
mkdir -p "$OUT"; touch "$OUT/walltimes.txt"
[ -d "$ENC" ] || $N jepa-edge demo --quick --out "$(dirname "$(dirname "$ENC")")"

TRAJ=1000   # trajectories = recorded episodes
FRAMES=4
# the same budget for both: architecture, steps, batch, seed, flags
AC=(--encoder "$ENC" --depth 2 --predictor-width 128 --frames $FRAMES --one-step --motion-weight 1
    --batch-size 32 --steps 300 --warmup-steps 30 --seed 0 --threads 2 --no-progress --log-every 20 --overwrite)

# (a) the built-in path
T train_ac_world "$OUT/world/model/config.json" $N jepa-edge train-ac "${AC[@]}" --n-trajectories $TRAJ --out "$OUT/world"
# (b) the dataset path: record the same trajectories (train-ac's world seeds are (seed+1000, i))
[ -e "$OUT/record.json" ] || rm -rf "$OUT/world_data"   # a half-written recording would be appended to
T record "$OUT/record.json" $N jepa-edge record "$OUT/world_data" --world --policy explore --episodes $TRAJ --steps $FRAMES --size 64 \
    --seed 1000 --json "$OUT/record.json"
T train_ac_dataset "$OUT/dataset/model/config.json" $N jepa-edge train-ac "${AC[@]}" --data "$OUT/world_data" --out "$OUT/dataset"

# goal reaching in the built-in world, same planner, same seeds
# planner and episode length: the demo's (jepa_edge/demo/plan.py FULL: 64 samples, 8 elites, 2 iterations,
# 40 steps), horizon 2 as in sim_world.toml; fixed before any evaluation, to fit a 2-core CPU
RUN=(--config examples/sim_world.toml --models.threads 1 --models.planner_threads 2 --sim.max_steps 40
     --planner.samples 64 --planner.elites 8 --planner.iterations 2 --planner.horizon 2
     --episodes "$EPISODES" --first-seed 1000 --methods random,student,oracle)
T run_world "$OUT/goal_world.json" $N jepa-edge run "${RUN[@]}" --models.encoder "$OUT/world/model" --models.predictor "$OUT/world/model" \
    --telemetry.out_dir "$OUT/loop_world" --json "$OUT/goal_world.json"
T run_dataset "$OUT/goal_dataset.json" $N jepa-edge run "${RUN[@]}" --models.encoder "$OUT/dataset/model" --models.predictor "$OUT/dataset/model" \
    --telemetry.out_dir "$OUT/loop_dataset" --json "$OUT/goal_dataset.json"
# Result file: experiments/results/dataset_path.json, from this run's outputs (experiments/dataset_path_result.py).
python experiments/dataset_path_result.py "$OUT" experiments/results/dataset_path.json

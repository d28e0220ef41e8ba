#!/usr/bin/env bash
# Everything a lent GPU machine (H100/H200, no DeepSpeed/Ray/mmengine) should prove, in one command:
#   1. bench/gpu_check.sh: the Rex-Omni-3B shape, random weights, bf16 SFT padded vs packed, GRPO phases.
#   1b. bench/bench_rollout.py: hf rollout generate tokens/s at 16, 128 and 512 sequences (plain,
#      static cache, static cache + torch.compile); SKIP_ROLLOUT=1 skips it.
#   1c. bench/bench_sft_speed.py: the trainer's own path (dataset -> collator -> RexOmniTrainer.compute_loss
#      -> optimizer) on the 3B shape, stock vs each fast path vs all together: one table (docs/sft-speed.md).
#      SPEED_ONLY=1 runs only this stage; SPEED_MODES="stock_padded all" limits the modes.
#   1d. bench/bench_actor_forward.py --gpu: the GRPO actor's log-prob forward + backward on the 3B shape, LM
#      head over every position vs over the answer only vs one packed forward per prompt group; SKIP_ACTOR=1
#      skips it.
#   2. the real trainer on CUDA: scripts/sft.sh (torchrun, bf16, packing, --memory_plan auto choosing
#      checkpointing and the micro-batch, no DeepSpeed) on the demo model + toy grounding data for
#      SHORT_STEPS, then tools/evaluate.py.
#   2b. the same through DeepSpeed ZeRO-2 (DEEPSPEED=scripts/zero2.json, torchrun, bf16) for SHORT_STEPS,
#      then tools/evaluate.py; listed as skipped when deepspeed does not import.
#   3. the CPU demo's recipe (fp32, batch 8, lr 2e-3, soft-CE sigma 3) run LONG_STEPS on the GPU, then
#      tools/evaluate.py: how far the demo gets with more compute than the 2-core quickstart has.
# A GPU image with torch + transformers but without this project's other dependencies needs wheels in
# .whl (installed to /tmp/site when present): `bash bench/gpu_wheels.sh` fills it on a machine with a
# package index (mmengine, pycocotools, liger-kernel, DeepSpeed built without ops; about 7 MiB).
# Logs and metrics go to $OUT (default /tmp/gpu_session). DRY_RUN=1 runs every stage at toy size on
# the CPU, to check this script before spending device time; SKIP_CHECK=1 skips stage 1, SKIP_ZERO2=1
# stage 2b, SKIP_LONG=1 stage 3.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export OUT="${OUT:-/tmp/gpu_session}"
mkdir -p "$OUT"
source bench/gpu_env.sh
DRY_RUN="${DRY_RUN:-0}"
SHORT_STEPS="${SHORT_STEPS:-30}"
LONG_STEPS="${LONG_STEPS:-1500}"
CHECK_TIMEOUT="${CHECK_TIMEOUT:-240}"
LONG_TIMEOUT="${LONG_TIMEOUT:-200}"
ROLLOUT_TIMEOUT="${ROLLOUT_TIMEOUT:-420}"
status=0
stage() { echo; echo "[gpu_session] $(date +%T) $*"; }

if [[ "${SKIP_CHECK:-0}" != 1 && "${SPEED_ONLY:-0}" != 1 ]]; then
stage "1/3 gpu_check (3B shape)"
if [[ "$DRY_RUN" == 1 ]]; then check_args=(--dry-run); else check_args=(--steps 3 --warmup 1 --grpo-iters 1 --grpo-warmup 1); fi
timeout "$CHECK_TIMEOUT" bash bench/gpu_check.sh "${check_args[@]}" || { echo "[gpu_session] gpu_check failed: $?"; status=1; }
fi

if [[ "${SKIP_ROLLOUT:-0}" != 1 && "${SPEED_ONLY:-0}" != 1 ]]; then
stage "1b/3 hf rollout throughput (3B shape)"
rollout_args=(); [[ "$DRY_RUN" == 1 ]] && rollout_args=(--dry-run)
timeout "$ROLLOUT_TIMEOUT" python3 -m bench.bench_rollout "${rollout_args[@]}" 2>&1 | tee "$OUT/bench_rollout.log" | tail -12
[[ "${PIPESTATUS[0]}" == 0 ]] || { echo "[gpu_session] bench_rollout failed"; status=1; }
fi
if [[ "${SKIP_SPEED:-0}" != 1 ]]; then
stage "1c/3 sft speed: the trainer's path, stock vs fast paths (3B shape)"
if [[ "$DRY_RUN" == 1 ]]; then speed_args=(--dry-run --samples 2 --steps 1 --warmup 0); else
    speed_args=(--samples "${SPEED_SAMPLES:-8}" --steps "${SPEED_STEPS:-2}" --warmup "${SPEED_WARMUP:-1}"); fi
[[ -n "${SPEED_MODES:-}" ]] && speed_args+=(--modes $SPEED_MODES)
timeout "${SPEED_TIMEOUT:-540}" python3 -m bench.bench_sft_speed "${speed_args[@]}" 2>&1 | tee "$OUT/sft_speed.log" \
    | grep -E '^\||^results:| \| torch ' ; [[ "${PIPESTATUS[0]}" == 0 ]] || { echo "[gpu_session] sft speed failed"; status=1; }
fi
if [[ "${SKIP_ACTOR:-0}" != 1 && "${SPEED_ONLY:-0}" != 1 ]]; then
stage "1d/3 GRPO actor forward: all positions / answer only / shared prompt (3B shape)"
actor_args=(--gpu); [[ "$DRY_RUN" == 1 ]] && actor_args=(--dry-run)
timeout "${ACTOR_TIMEOUT:-240}" python3 -m bench.bench_actor_forward "${actor_args[@]}" 2>&1 | tee "$OUT/actor_forward.log" \
    | grep -E 'median|speedup|diff|results:' ; [[ "${PIPESTATUS[0]}" == 0 ]] || { echo "[gpu_session] actor forward failed"; status=1; }
fi
[[ "${SPEED_ONLY:-0}" == 1 ]] && { stage "done (status $status)"; exit "$status"; }

stage "toy data + demo model"
python3 tools/make_toy_data.py >"$OUT/setup.log" 2>&1 && python3 tools/make_tiny_model.py --size demo >>"$OUT/setup.log" 2>&1 \
    || { tail -20 "$OUT/setup.log"; exit 1; }

# Runs scripts/sft.sh on the demo model (GPU branch: torchrun) and evaluates what it saved.
# $1 name, $2 steps, $3 timeout (s), then environment assignments for sft.sh; train.py flags in SFT_FLAGS.
sft_and_eval() {
    local name="$1" steps="$2" limit="$3"; shift 3
    local dir="work_dirs/gpu_$name"
    rm -rf "$dir"
    local gpus=1; [[ "$DRY_RUN" == 1 ]] && gpus=0
    timeout "$limit" env GPUS_PER_NODE="$gpus" MODEL_PATH=work_dirs/models/rex-omni-demo DEEPSPEED= OUTPUT_DIR="$dir" \
        MAX_STEPS="$steps" EPOCHS=100 SAVE_STEPS=250 SAVE_TOTAL_LIMIT=1 NUM_WORKERS=4 MODEL_MAX_LENGTH=1024 \
        REPORT_TO=none EVAL=0 "$@" bash scripts/sft.sh "${SFT_FLAGS[@]}" >"$OUT/sft_$name.log" 2>&1
    local rc=$?
    grep -E "'loss'|train_runtime|Error|error" "$OUT/sft_$name.log" | sed -n '1,3p;$p'
    local model="$dir"
    if [[ ! -f "$dir/config.json" ]]; then  # stopped early: evaluate the newest checkpoint
        model="$(ls -d "$dir"/checkpoint-* 2>/dev/null | sort -t- -k2 -n | tail -1)"
        echo "[gpu_session] $name: sft exit $rc, no final model; newest checkpoint: ${model:-none}"
        [[ -n "$model" ]] || return 1
    fi
    python3 tools/evaluate.py --model "$model" --split work_dirs/toy_data/toy_grounding_val --task grounding \
        --config configs/sft.py --output_dir "$dir/eval" --batch_size 32 --num_visualisations 0 >"$OUT/eval_$name.log" 2>&1 \
        || { tail -20 "$OUT/eval_$name.log"; return 1; }
    cp "$dir/eval/metrics.json" "$OUT/metrics_$name.json"
    echo "[gpu_session] $name ($model): $(python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print({k: v for k, v in m.items() if not isinstance(v, (dict, list)) and not k.startswith('protocol_box_') or k == 'protocol_box_mean_f1'})" "$dir/eval/metrics.json")"
}

stage "2/3 trainer on CUDA: bf16, packing, --memory_plan auto, $SHORT_STEPS steps"
SFT_FLAGS=(--memory_plan auto); [[ "$DRY_RUN" == 1 ]] && SFT_FLAGS=()  # the plan needs CUDA
bf16=True; [[ "$DRY_RUN" == 1 ]] && bf16=False
short_steps="$([[ "$DRY_RUN" == 1 ]] && echo 2 || echo "$SHORT_STEPS")"
short_env=(BF16="$bf16" DATA_FLATTEN=True GRADIENT_CHECKPOINTING=True LR=2e-4 MM_PROJECTOR_LR=2e-4 VISION_TOWER_LR=2e-4)
sft_and_eval bf16_packed "$short_steps" 240 "${short_env[@]}" || status=1
grep -m1 "memory plan:" "$OUT/sft_bf16_packed.log"
SFT_FLAGS=()

if [[ "${SKIP_ZERO2:-0}" != 1 ]]; then
stage "2b/3 trainer on CUDA through DeepSpeed ZeRO-2: bf16, packing, gradient checkpointing, $SHORT_STEPS steps"
if python3 -c "import deepspeed" >/dev/null 2>&1; then
    sft_and_eval zero2 "$short_steps" 300 "${short_env[@]}" DEEPSPEED=scripts/zero2.json || status=1
    # DeepSpeed ran the optimizer when the checkpoint holds its ZeRO partition of the optimizer state.
    zero_state="$(ls work_dirs/gpu_zero2/checkpoint-*/global_step*/*zero_pp_rank_0_*optim_states.pt 2>/dev/null | tail -1)"
    if [[ -n "$zero_state" ]]; then echo "[gpu_session] zero2: DeepSpeed optimizer state $zero_state"
    else echo "[gpu_session] zero2: no DeepSpeed optimizer state in work_dirs/gpu_zero2/checkpoint-*"; status=1; fi
else
    echo "[gpu_session] zero2: skipped, deepspeed does not import (carry it: bash bench/gpu_wheels.sh)"
fi
fi

if [[ "${SKIP_LONG:-0}" != 1 ]]; then
stage "3/3 the CPU demo recipe for $LONG_STEPS steps (fp32)"
SFT_FLAGS=(--use_soft_ce_for_coords True --coord_sigma 3)
sft_and_eval demo_long "$([[ "$DRY_RUN" == 1 ]] && echo 2 || echo "$LONG_STEPS")" "$LONG_TIMEOUT" BF16=False \
    GRADIENT_CHECKPOINTING=False LR=2e-3 MM_PROJECTOR_LR=2e-3 VISION_TOWER_LR=2e-3 WARMUP_RATIO=0.05 \
    BATCH_SIZE=8 GRAD_ACCUM=1 || status=1
fi
stage "done (status $status)"
exit "$status"

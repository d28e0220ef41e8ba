#!/usr/bin/env bash
# One trainer stage of bench/gpu_session.sh: scripts/sft.sh (torchrun on a GPU) on the demo model and the toy
# grounding data, then tools/evaluate.py on what it saved. Usage: bash bench/gpu_sft_stage.sh zero2|demo_long
#   zero2:     bf16, packing, gradient checkpointing, DeepSpeed ZeRO-2 (scripts/zero2.json), SHORT_STEPS
#              steps (default 30); checks that the checkpoint holds DeepSpeed's partition of the optimizer state.
#   demo_long: the demo recipe (DEMO_RECIPE=1, demo/sft_demo_recipe.sh: fp32, batch 8, lr 1e-3, soft-CE sigma 3, no
#              DeepSpeed), as the CPU demo trains, for LONG_STEPS steps (1500).
# Writes the evaluation's metrics.json to $RESULT (when set); everything else goes to stdout.
# DRY_RUN=1: 2 steps on the CPU (one process).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
name="${1:?usage: bash bench/gpu_sft_stage.sh zero2|demo_long}"
DRY_RUN="${DRY_RUN:-0}"
dir="work_dirs/gpu_$name"
gpus=1 bf16=True steps_short="${SHORT_STEPS:-30}" steps_long="${LONG_STEPS:-1500}"
[[ "$DRY_RUN" == 1 ]] && { gpus=0; bf16=False; steps_short=2; steps_long=2; }

case "$name" in
    zero2) steps="$steps_short"
        stage_env=(BF16="$bf16" DATA_FLATTEN=True GRADIENT_CHECKPOINTING=True LR=2e-4 MM_PROJECTOR_LR=2e-4
                   VISION_TOWER_LR=2e-4 DEEPSPEED=scripts/zero2.json DEMO_RECIPE=0) ;;  # the launcher's own defaults
    demo_long) steps="$steps_long"; stage_env=(DEMO_RECIPE=1) ;;
    *) echo "[gpu_sft_stage] unknown stage '$name' (zero2 | demo_long)"; exit 2 ;;
esac

python3 tools/make_toy_data.py >/dev/null && python3 tools/make_tiny_model.py --size demo >/dev/null \
    || { echo "[gpu_sft_stage] toy data or demo model could not be built"; exit 1; }
rm -rf "$dir"
env GPUS_PER_NODE="$gpus" MODEL_PATH=work_dirs/models/rex-omni-demo OUTPUT_DIR="$dir" MAX_STEPS="$steps" EPOCHS=100 \
    SAVE_STEPS=250 SAVE_TOTAL_LIMIT=1 NUM_WORKERS=4 MODEL_MAX_LENGTH=1024 REPORT_TO=none EVAL=0 "${stage_env[@]}" \
    bash scripts/sft.sh
rc=$?
model="$dir"
if [[ ! -f "$dir/config.json" ]]; then  # stopped early: evaluate the newest checkpoint
    model="$(ls -d "$dir"/checkpoint-* 2>/dev/null | sort -t- -k2 -n | tail -1)"
    echo "[gpu_sft_stage] $name: sft exit $rc, no final model; newest checkpoint: ${model:-none}"
    [[ -n "$model" ]] || exit 1
fi
if [[ "$name" == zero2 ]]; then  # DeepSpeed ran the optimizer when the checkpoint holds its ZeRO partition
    zero_state="$(ls "$dir"/checkpoint-*/global_step*/*zero_pp_rank_0_*optim_states.pt 2>/dev/null | tail -1)"
    [[ -n "$zero_state" ]] || { echo "[gpu_sft_stage] zero2: no DeepSpeed optimizer state in $dir/checkpoint-*"; exit 1; }
    echo "[gpu_sft_stage] zero2: DeepSpeed optimizer state $zero_state"
fi
python3 tools/evaluate.py --model "$model" --split work_dirs/toy_data/toy_grounding_val --task grounding \
    --config configs/sft.py --output_dir "$dir/eval" --batch_size 32 --num_visualisations 0 || exit 1
[[ -n "${RESULT:-}" ]] && cp "$dir/eval/metrics.json" "$RESULT"
exit "$rc"

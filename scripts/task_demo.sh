#!/usr/bin/env bash
# The task demo on CPU, in one command (docs/demo.md, "Every task on the CPU"):
#   toy data for every task + the demo model -> each task's held-out toy split answered by the untrained
#   model and by an image-blind guess fitted on the training split -> the grounding quickstart's SFT
#   (configs/sft.py; the starting model, as a real run starts from Rex-Omni, which already grounds) -> SFT
#   of that model on the mixed config (configs/sft_tasks.py, through scripts/sft.sh) -> the held-out splits
#   answered again -> a markdown table per task in work_dirs/task_demo/report.md, and where the answers go wrong
#   (recognition or localisation) in diagnosis.md.
#     bash scripts/task_demo.sh
# TASK_DEMO_STAGES: a subset of "data,eval_before,blind,base,sft,eval_sft,report"; TASK_DEMO_STEPS: the mixed SFT's steps;
# TASK_DEMO_BASE_STEPS: the grounding SFT's steps (0: train the mixed config from the untrained demo model);
# TASK_DEMO_TASKS: the tasks evaluated (default: all six); SEED: the SFT seed; EVAL_SAMPLES: held-out
# images per task; TASK_DEMO_DIR: where it all goes. The SFT settings not set here are the demo recipe's
# (demo/sft_demo_recipe.sh, on a GPU too); environment values still win.
# Each run trains from scratch: an earlier run's SFT output is moved aside (TASK_DEMO_RESUME=1 resumes).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"

STAGES="${TASK_DEMO_STAGES:-data,eval_before,blind,base,sft,eval_sft,report}"
CONFIG="${CONFIG:-configs/sft_tasks.py}"
TOY="$WORK_DIRS/toy_data"  # the data_root of configs/_base_/data.py
DEMO_MODEL="$WORK_DIRS/models/rex-omni-demo"
OUT="${TASK_DEMO_DIR:-$WORK_DIRS/task_demo}"
SFT_DIR="$OUT/sft"
BASE_DIR="$OUT/base"
BASE_STEPS="${TASK_DEMO_BASE_STEPS:-600}"
EVAL_SAMPLES="${EVAL_SAMPLES:-64}"
# task:toy set:most new tokens (the longest answers: keypoint JSON about 200 tokens, the others under 40)
TASKS=(visual_prompt:visual_prompt:64 keypoint:keypoint:256 ocr_box:ocr_box:48 ocr_polygon:ocr_polygon:64
       gui_grounding:gui:48 gui_pointing:gui:48)
if [[ -n "${TASK_DEMO_TASKS:-}" ]]; then  # a subset, e.g. TASK_DEMO_TASKS="ocr_box gui_pointing"
    kept=()
    for entry in "${TASKS[@]}"; do
        if [[ " $TASK_DEMO_TASKS " == *" ${entry%%:*} "* ]]; then kept+=("$entry"); fi
    done
    TASKS=(${kept[@]+"${kept[@]}"})
fi
has_stage() { [[ ",$STAGES," == *",$1,"* ]]; }
banner() { echo; echo "==== [task_demo] $* ($(date +%H:%M:%S))"; }
evaluate_all() {  # evaluate_all MODEL_DIR STAGE_NAME
    for entry in "${TASKS[@]}"; do
        IFS=: read -r task stem tokens <<< "$entry"
        python tools/evaluate.py --model "$1" --split "$TOY/toy_${stem}_val" --task "$task" --config "$CONFIG" \
            --max_samples "$EVAL_SAMPLES" --batch_size "$EVAL_SAMPLES" --max_new_tokens "$tokens" --num_visualisations 4 \
            --output_dir "$OUT/eval/$2/$task"
    done
}

if has_stage data; then
    banner "toy data for every task and the demo model"
    python tools/make_toy_data.py --output_dir "$TOY"  # grounding and pointing, also in the mixed config
    python tools/make_toy_data.py --task all --output_dir "$TOY" --no_progress
    python tools/make_tiny_model.py --size demo --output_dir "$DEMO_MODEL"
fi
if has_stage eval_before; then
    banner "the untrained demo model on each task's held-out split"
    evaluate_all "$DEMO_MODEL" untrained
fi
if has_stage blind; then
    banner "the image-blind guess of each task (fitted on its training split)"
    for entry in "${TASKS[@]}"; do
        IFS=: read -r task stem _ <<< "$entry"
        python -m demo.task_blind_guess --task "$task" --train "$TOY/toy_${stem}_train" \
            --split "$TOY/toy_${stem}_val" --config "$CONFIG" --max_samples "$EVAL_SAMPLES" \
            --output_dir "$OUT/eval/blind/$task"
    done
fi
# scripts/sft.sh with the demo recipe (DEMO_RECIPE=1: also for the grounding SFT's output), no evaluation.
# sft_demo_recipe CONFIG START_MODEL OUTPUT_DIR STEPS SAVE_STEPS
sft_demo_recipe() {
    CONFIG="$1" MODEL_PATH="$2" OUTPUT_DIR="$3" MAX_STEPS="$4" SAVE_STEPS="$5" EVAL=0 DEMO_RECIPE=1 \
        REPORT_TO="${REPORT_TO:-none}" bash scripts/sft.sh
}
fresh_dir() {  # fresh_dir DIR: an earlier run's DIR is moved aside (TASK_DEMO_RESUME=1 keeps it)
    if [[ -e "$1" && "${TASK_DEMO_RESUME:-0}" != 1 ]]; then
        mv "$1" "$1.prev-$(date +%Y%m%d-%H%M%S)"
        echo "[task_demo] moved the earlier run's $1 aside (TASK_DEMO_RESUME=1 resumes instead)"
    fi
}
if has_stage base && [[ "$BASE_STEPS" -gt 0 ]]; then
    banner "the starting model: the grounding quickstart's SFT of the demo model (configs/sft.py, $BASE_STEPS steps)"
    fresh_dir "$BASE_DIR"
    sft_demo_recipe configs/sft.py "$DEMO_MODEL" "$BASE_DIR" "$BASE_STEPS" "$BASE_STEPS"
fi
if has_stage sft; then
    start="$DEMO_MODEL"
    [[ "$BASE_STEPS" -gt 0 ]] && start="$BASE_DIR"
    banner "SFT (scripts/sft.sh) of $start on $CONFIG"
    fresh_dir "$SFT_DIR"
    # Packed batches (no padding up to the long keypoint answers) make a step about 3x cheaper.
    DATA_FLATTEN="${DATA_FLATTEN:-True}" sft_demo_recipe "$CONFIG" "$start" "$SFT_DIR" "${TASK_DEMO_STEPS:-1500}" \
        "${SAVE_STEPS:-500}"
fi
if has_stage eval_sft; then
    banner "the trained model on each task's held-out split"
    evaluate_all "$SFT_DIR" trained
fi
if has_stage report; then
    banner "report"
    python -m demo.task_demo_report --eval_root "$OUT/eval" --output "$OUT/report.md"
    # what was recognised and what was localised, per task (docs/demo.md)
    python -m demo.task_demo_diagnosis --eval_root "$OUT/eval" --toy_dir "$TOY" --output "$OUT/diagnosis.md"
fi

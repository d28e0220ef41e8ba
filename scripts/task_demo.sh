#!/usr/bin/env bash
# The task demo on CPU, in one command (docs/demo.md, "Every task on the CPU"):
#   toy data for every task + the demo model -> each task's held-out toy split answered by the untrained
#   model and by an image-blind guess fitted on the training split -> SFT of the demo model on the mixed
#   config (configs/sft_tasks.py, through scripts/sft.sh) -> the held-out splits answered again -> a
#   markdown table per task in work_dirs/task_demo/report.md.
#     bash scripts/task_demo.sh
# TASK_DEMO_STAGES: a subset of "data,eval_before,blind,sft,eval_sft,report"; TASK_DEMO_STEPS: SFT steps;
# TASK_DEMO_TASKS: the tasks evaluated (default: all six); SEED: the SFT seed; EVAL_SAMPLES: held-out
# images per task; TASK_DEMO_DIR: where it all goes. The SFT settings not set here are the CPU demo's
# (demo/sft_cpu_defaults.sh); environment values still win.
# Each run trains from scratch: an earlier run's SFT output is moved aside (TASK_DEMO_RESUME=1 resumes).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"

STAGES="${TASK_DEMO_STAGES:-data,eval_before,blind,sft,eval_sft,report}"
CONFIG="${CONFIG:-configs/sft_tasks.py}"
TOY="$WORK_DIRS/toy_data"  # the data_root of configs/_base_/data.py
DEMO_MODEL="$WORK_DIRS/models/rex-omni-demo"
OUT="${TASK_DEMO_DIR:-$WORK_DIRS/task_demo}"
SFT_DIR="$OUT/sft"
EVAL_SAMPLES="${EVAL_SAMPLES:-64}"
# task:toy set:longest answer in tokens (keypoint answers are JSON, about 300 tokens for two figures)
TASKS=(visual_prompt:visual_prompt:96 keypoint:keypoint:448 ocr_box:ocr_box:64 ocr_polygon:ocr_polygon:80
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
if has_stage sft; then
    banner "SFT (scripts/sft.sh) of the demo model on $CONFIG"
    if [[ -e "$SFT_DIR" && "${TASK_DEMO_RESUME:-0}" != 1 ]]; then
        mv "$SFT_DIR" "$SFT_DIR.prev-$(date +%Y%m%d-%H%M%S)"
        echo "[task_demo] moved the earlier run's $SFT_DIR aside (TASK_DEMO_RESUME=1 resumes instead)"
    fi
    # Packed batches (no padding up to the long keypoint answers) make a step about 3x cheaper.
    CONFIG="$CONFIG" OUTPUT_DIR="$SFT_DIR" EVAL=0 MODEL_PATH= MAX_STEPS="${TASK_DEMO_STEPS:-500}" \
        DATA_FLATTEN="${DATA_FLATTEN:-True}" SAVE_STEPS="${SAVE_STEPS:-400}" REPORT_TO="${REPORT_TO:-none}" \
        bash scripts/sft.sh
fi
if has_stage eval_sft; then
    banner "the trained model on each task's held-out split"
    evaluate_all "$SFT_DIR" trained
fi
if has_stage report; then
    banner "report"
    python -m demo.task_demo_report --eval_root "$OUT/eval" --output "$OUT/report.md"
fi

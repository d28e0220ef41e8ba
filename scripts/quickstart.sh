#!/usr/bin/env bash
# The embedded default, end to end on whatever machine this is (a 2-core CPU is enough):
#   toy data + demo model -> visualise -> evaluate -> SFT -> evaluate -> GRPO -> evaluate.
# Set QUICKSTART_STAGES to a subset of "data,vis,eval_before,sft,eval_sft,grpo,eval_grpo" to run fewer;
# SFT_STEPS sets the SFT length; demo/sft_cpu_defaults.sh and demo/grpo_cpu_defaults.sh (sourced by
# scripts/sft.sh and scripts/grpo.sh on a machine without GPU) hold the stages' other settings.
# Each run trains from scratch: earlier SFT/GRPO outputs are moved to <dir>.prev-<time> first (their
# checkpoints would otherwise be resumed, even if the demo model was rebuilt since). QUICKSTART_RESUME=1
# keeps them and resumes instead, e.g. after an interrupted run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"

STAGES="${QUICKSTART_STAGES:-data,vis,eval_before,sft,eval_sft,grpo,eval_grpo}"
TOY="$WORK_DIRS/toy_data"
DEMO_MODEL="$WORK_DIRS/models/rex-omni-demo"
SFT_DIR="$WORK_DIRS/sft_demo"
GRPO_DIR="$WORK_DIRS/grpo"
EVAL_SAMPLES="${EVAL_SAMPLES:-64}"
SFT_STEPS="${SFT_STEPS:-600}"  # the SFT stage's length (MAX_STEPS would reach both sft.sh and grpo.sh)
has_stage() { [[ ",$STAGES," == *",$1,"* ]]; }
banner() { echo; echo "==== [quickstart] $* ($(date +%H:%M:%S))"; }
set_aside() {  # set_aside DIR: move an earlier run's output out of the way, unless resuming
    if [[ -e "$1" && "${QUICKSTART_RESUME:-0}" != 1 ]]; then
        local kept="$1.prev-$(date +%Y%m%d-%H%M%S)"
        mv "$1" "$kept"
        echo "[quickstart] moved the earlier run's $1 to $kept (QUICKSTART_RESUME=1 resumes instead)"
    fi
}

if has_stage data; then
    banner "toy data and demo model"
    python tools/make_toy_data.py --output_dir "$TOY"
    python tools/make_tiny_model.py --size demo --output_dir "$DEMO_MODEL"
fi
if has_stage vis; then
    banner "visualising a few toy samples into $WORK_DIRS/vis"
    for task in grounding pointing; do
        python tools/vis_tsv_dataset.py \
            --img_tsv_file "$TOY/toy_${task}_val.images.tsv" \
            --ann_tsv_file "$TOY/toy_${task}_val.annotations.tsv" \
            --ann_lineidx_file "$TOY/toy_${task}_val.annotations.tsv.lineidx" \
            --output_dir "$WORK_DIRS/vis/$task" --num_samples 4
    done
fi
evaluate() {  # evaluate MODEL_DIR OUT_DIR
    python tools/evaluate.py --model "$1" --split "$TOY/toy_grounding_val" --task grounding \
        --max_samples "$EVAL_SAMPLES" --batch_size 16 --max_new_tokens 128 --output_dir "$2" \
        --config configs/sft.py  # the questions SFT trains on
}
if has_stage eval_before; then
    banner "evaluating the untrained demo model"
    evaluate "$DEMO_MODEL" "$WORK_DIRS/eval/before"
fi
if has_stage sft; then
    banner "SFT (scripts/sft.sh) on the toy grounding data"
    set_aside "$SFT_DIR"
    OUTPUT_DIR="$SFT_DIR" EVAL=0 MAX_STEPS="$SFT_STEPS" bash scripts/sft.sh
fi
if has_stage eval_sft; then
    banner "evaluating the SFT model"
    evaluate "$SFT_DIR" "$WORK_DIRS/eval/sft"
fi
if has_stage grpo; then
    banner "GRPO (scripts/grpo.sh) on the SFT model"
    set_aside "$GRPO_DIR"
    MODEL_PATH="$SFT_DIR" OUTPUT_PATH="$GRPO_DIR" DEMO_RECIPE=1 bash scripts/grpo.sh  # the demo recipe on a GPU too
fi
if has_stage eval_grpo; then
    banner "evaluating the GRPO model"
    evaluate "$GRPO_DIR/latest_hf" "$WORK_DIRS/eval/grpo"
fi
banner "summary"
python -m tools.quickstart_report --work_dirs "$WORK_DIRS"

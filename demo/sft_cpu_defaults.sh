# shellcheck shell=bash disable=SC2034  # sets variables that the sourcing launcher reads
# CPU runs of scripts/sft.sh, sourced by it when there is no GPU, after demo/sft_demo_recipe.sh (which gives
# the demo model, or any model under DEMO_RECIPE=1, the demo recipe). Any other model gets CPU-sized defaults
# with the production learning rates. Both: no DeepSpeed, fp32, small batches, then an evaluation
# (sft_cpu_evaluate, called by sft.sh after training). Every value can still be overridden from the
# environment (${NAME:-value}: the user's value wins).

CPU_DEMO=1
CPU_MODE="CPU $RECIPE_MODE"
if [[ "$DEMO_RECIPE_ON" -eq 0 ]]; then
    # A real model (MODEL_PATH or the config's) on a CPU: the production learning rates, CPU-sized
    # everything else.
    CPU_MODE="CPU run of $TRAIN_MODEL (CPU-sized defaults, production learning rates)"
    BATCH_SIZE="${BATCH_SIZE:-1}"
    SAVE_STEPS="${SAVE_STEPS:-200}"
fi
# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning made each
# step 4-6x slower.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
DEEPSPEED="${DEEPSPEED:-}"
BF16="${BF16:-False}"
GRAD_ACCUM="${GRAD_ACCUM:-1}"
GRADIENT_CHECKPOINTING="${GRADIENT_CHECKPOINTING:-False}"
NUM_WORKERS="${NUM_WORKERS:-1}"
SAVE_TOTAL_LIMIT="${SAVE_TOTAL_LIMIT:-2}"
MODEL_MAX_LENGTH="${MODEL_MAX_LENGTH:-1024}"

# What the evaluation after training reads: EVAL_SPLIT when set (a TSV prefix or a COCO JSON, with
# EVAL_IMAGE_ROOT for its images), else the config's own val_dataset, else (only the built-in demo configs)
# the toy split; else nothing. Sets DO_EVAL, EVAL_ARGS (evaluate.py flags) and EVAL_WHAT (for the banner).
EVAL_ARGS=()
DO_EVAL=1
if [[ "${EVAL:-1}" -ne 1 ]]; then
    EVAL_WHAT="nothing (EVAL=0)"
    DO_EVAL=0
elif [[ -n "${EVAL_SPLIT:-}" ]]; then
    EVAL_ARGS=(--split "$EVAL_SPLIT")
    [[ -n "${EVAL_IMAGE_ROOT:-}" ]] && EVAL_ARGS+=(--image_root "$EVAL_IMAGE_ROOT")
    EVAL_WHAT="EVAL_SPLIT=$EVAL_SPLIT"
elif [[ "$CONFIG_HAS_VAL" == yes ]]; then
    # evaluate.py with --config and no --split reads the config's val_dataset
    EVAL_WHAT="the val_dataset of $CONFIG"
elif [[ "$CONFIG" == configs/sft.py || "$CONFIG" == configs/sft_pointing.py ]]; then
    [[ "$CONFIG_READS_TOY" == yes ]] || python tools/make_toy_data.py  # the split below is in it
    EVAL_ARGS=(--split "work_dirs/toy_data/toy_${DEMO_TASK}_val")
    EVAL_WHAT="the toy split work_dirs/toy_data/toy_${DEMO_TASK}_val"
else
    EVAL_WHAT="nothing"
    DO_EVAL=0
    echo "[sft] note: $CONFIG has no val_dataset and EVAL_SPLIT is not set: evaluation is skipped" \
         "(set EVAL_SPLIT=<TSV prefix or COCO JSON> or add val_dataset to the config)"
fi
echo "[sft] no GPU: $CPU_MODE; trains on $TRAIN_WHAT; evaluates on $EVAL_WHAT"

# After training: evaluate OUTPUT_DIR (merged first under LORA=1) as EVAL_ARGS say.
# $1: the training's start time (seconds since the epoch), for the closing message.
sft_cpu_evaluate() {
    [[ "$DO_EVAL" -eq 1 ]] || return 0
    EVAL_MODEL="$OUTPUT_DIR"
    if [[ "${LORA:-0}" == 1 ]]; then
        EVAL_MODEL="$OUTPUT_DIR/merged"
        python tools/merge_lora.py --adapter "$OUTPUT_DIR" --output_dir "$EVAL_MODEL"  # base: the adapter's own
    fi
    python tools/evaluate.py --model "$EVAL_MODEL" ${EVAL_ARGS[@]+"${EVAL_ARGS[@]}"} \
        --task "$DEMO_TASK" --config "$CONFIG" --output_dir "$OUTPUT_DIR/eval" --batch_size 16
    echo "[sft] finished in $(( $(date +%s) - $1 )) s; metrics: $OUTPUT_DIR/eval/metrics.json"
}

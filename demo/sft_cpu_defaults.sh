# shellcheck shell=bash disable=SC2034  # sets variables that the sourcing launcher reads
# CPU runs of scripts/sft.sh, sourced by it when there is no GPU. What the config reads decides the rest:
# - the model: MODEL_PATH, else the config's model_name_or_path, else the demo model. The demo model
#   (work_dirs/models/rex-omni-demo, built if missing) gets the demo recipe (a large lr, soft-CE on the
#   coordinate tokens), as does any model under DEMO_RECIPE=1; any other model the CPU-sized defaults with
#   the production learning rates.
# - the toy data (work_dirs/toy_data) is built if missing only when the config's datasets read it.
# Both: no DeepSpeed, fp32, small batches, then an evaluation (sft_cpu_evaluate, called by sft.sh after
# training). Every value can still be overridden from the environment (${NAME:-value}: the user's value wins).

# The task (and the toy eval split) follows the config: *pointing* configs are pointing.
DEMO_TASK="${DEMO_TASK:-$([[ "$CONFIG" == *pointing* ]] && echo pointing || echo grounding)}"
CPU_DEMO=1
DEMO_MODEL=work_dirs/models/rex-omni-demo  # tools/make_tiny_model.py --size demo writes it
TOY_DATA=work_dirs/toy_data  # tools/make_toy_data.py writes it
# Asked of mmengine in one process, so keys inherited through _base_ count; a config that cannot be read
# stops the launcher here with one line (exit 2).
config_answers="$(python -m dataset.config_checks --has val_dataset --get model_name_or_path \
                  --reads "$TOY_DATA" "$CONFIG")"
{ read -r CONFIG_HAS_VAL; read -r CONFIG_MODEL; read -r CONFIG_READS_TOY; } <<< "$config_answers"
# Neither MODEL_PATH nor the config names a model: the demo model (sft.sh passes MODEL_PATH on).
[[ -n "${MODEL_PATH:-}" || -n "$CONFIG_MODEL" ]] || MODEL_PATH="$DEMO_MODEL"
TRAIN_MODEL="${MODEL_PATH:-$CONFIG_MODEL}"
TRAIN_WHAT="the train_dataset of $CONFIG"
if [[ "$CONFIG_READS_TOY" == yes ]]; then
    python tools/make_toy_data.py  # skips when work_dirs/toy_data matches its arguments
    TRAIN_WHAT="$TRAIN_WHAT (toy data in $TOY_DATA)"
fi
# PATH made absolute (against the repository root, where the launcher runs) without its "./", "//" and
# trailing "/", so that two spellings of one folder compare equal (portable: no `realpath -m`).
plain_path() {
    local path="$1"
    [[ "$path" == /* ]] || path="$PWD/$path"
    while [[ "$path" == *//* || "$path" == */./* ]]; do path="${path//\/\//\/}"; path="${path//\/.\//\/}"; done
    echo "${path%/}"
}
# DEMO_RECIPE=1 gives the demo recipe to another model too (scripts/task_demo.sh: the demo model after a
# grounding SFT); DEMO_RECIPE=0 never.
is_demo_model() { [[ "$(plain_path "$TRAIN_MODEL")" == "$(plain_path "$DEMO_MODEL")" ]]; }
if [[ "${DEMO_RECIPE:-}" == 1 ]] || { [[ "${DEMO_RECIPE:-}" != 0 ]] && is_demo_model; }; then
    CPU_MODE="CPU demo recipe (lr 1e-3, soft-CE) with the demo model $DEMO_MODEL"
    is_demo_model || CPU_MODE="CPU demo recipe (lr 1e-3, soft-CE, DEMO_RECIPE=1) with $TRAIN_MODEL"
    python tools/make_tiny_model.py --size demo  # skips when up to date
    demo_dir=work_dirs/sft_demo
    [[ "$DEMO_TASK" == grounding ]] || demo_dir="${demo_dir}_$DEMO_TASK"
    [[ "${LORA:-0}" == 1 ]] && demo_dir="${demo_dir}_lora"
    OUTPUT_DIR="${OUTPUT_DIR:-$demo_dir}"
    # Demo defaults (600 steps in about 4 minutes on 2 cores, held-out box F1 1.0 on the default toy
    # data, docs/demo.md): a Gaussian soft target (sigma in bins) teaches the coordinate tokens' order.
    BATCH_SIZE="${BATCH_SIZE:-8}"
    EPOCHS="${EPOCHS:-3}"
    MAX_STEPS="${MAX_STEPS:-600}"
    if [[ "${LORA:-0}" == 1 && -z "${LR:-}" ]]; then LR=2e-3; fi  # adapters on a random model need a larger step
    LR="${LR:-1e-3}"
    MM_PROJECTOR_LR="${MM_PROJECTOR_LR:-1e-3}"
    VISION_TOWER_LR="${VISION_TOWER_LR:-1e-3}"
    WARMUP_RATIO="${WARMUP_RATIO:-0.05}"
    SAVE_STEPS="${SAVE_STEPS:-200}"
    DEMO_ARGS=(--use_soft_ce_for_coords "${SOFT_CE:-True}" --coord_sigma "${COORD_SIGMA:-3}")
    # The demo model is randomly initialised: its coordinate-token rows must train next to the adapters.
    [[ "${LORA:-0}" == 1 ]] && DEMO_ARGS+=(--lora_coord_tokens "${LORA_COORD_TOKENS:-True}")
else
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

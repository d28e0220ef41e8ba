# shellcheck shell=bash disable=SC2034  # sets variables that the sourcing launcher reads
# Sourced by scripts/sft.sh on every machine, before its other defaults. What the config reads decides:
# - the model: MODEL_PATH, else the config's model_name_or_path, else the demo model. The demo model
#   (work_dirs/models/rex-omni-demo, built if missing) gets the demo recipe (a large lr, soft-CE on the
#   coordinate tokens, fp32, batch 8, no DeepSpeed), as does any model under DEMO_RECIPE=1: the recipe it was
#   chosen with on an H100 and runs with on 2 CPU cores. Sets DEMO_RECIPE_ON (1 or 0) and RECIPE_MODE.
# - the toy data (work_dirs/toy_data) is built if missing only when the config's datasets read it.
# Every value can still be overridden from the environment (${NAME:-value}: the user's value wins).

# The task (and the toy eval split) follows the config: *pointing* configs are pointing.
DEMO_TASK="${DEMO_TASK:-$([[ "$CONFIG" == *pointing* ]] && echo pointing || echo grounding)}"
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
DEMO_RECIPE_ON=0
RECIPE_MODE=""
if [[ "${DEMO_RECIPE:-}" == 1 ]] || { [[ "${DEMO_RECIPE:-}" != 0 ]] && is_demo_model; }; then
    DEMO_RECIPE_ON=1
    RECIPE_MODE="demo recipe (lr 1e-3, soft-CE) with the demo model $DEMO_MODEL"
    is_demo_model || RECIPE_MODE="demo recipe (lr 1e-3, soft-CE, DEMO_RECIPE=1) with $TRAIN_MODEL"
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
    # The recipe is fp32 without ZeRO, one optimizer step per batch of 8, on a GPU as on the CPU.
    BF16="${BF16:-False}"
    GRAD_ACCUM="${GRAD_ACCUM:-1}"
    GRADIENT_CHECKPOINTING="${GRADIENT_CHECKPOINTING:-False}"
    DEEPSPEED="${DEEPSPEED-}"
fi

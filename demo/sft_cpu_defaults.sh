# shellcheck shell=bash disable=SC2034  # sets variables that the sourcing launcher reads
# The CPU demo of scripts/sft.sh, sourced by it when there is no GPU and no MODEL_PATH: builds the toy
# data and the demo model if missing, sets the demo's defaults (no DeepSpeed, fp32, small batches, a
# large lr, soft-CE on the coordinate tokens) before sft.sh fills in its production defaults, and
# defines sft_demo_evaluate, which sft.sh calls after training. Every value can still be overridden
# from the environment (${NAME:-value}: the user's value wins).

# The demo task (and the eval split) follows the config: *pointing* configs train on toy pointing.
DEMO_TASK="${DEMO_TASK:-$([[ "$CONFIG" == *pointing* ]] && echo pointing || echo grounding)}"
echo "[sft] no GPU and no MODEL_PATH: CPU demo on the toy $DEMO_TASK data"
CPU_DEMO=1
python tools/make_toy_data.py  # skips when work_dirs/toy_data matches its arguments
python tools/make_tiny_model.py --size demo  # skips when up to date
# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning made each
# step 4-6x slower.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
# Demo defaults (600 steps in about 4 minutes on 2 cores, held-out box F1 1.0 on the default toy
# data, docs/demo.md): a Gaussian soft target (sigma in bins) teaches the coordinate tokens' order.
demo_dir=work_dirs/sft_demo
[[ "$DEMO_TASK" == grounding ]] || demo_dir="${demo_dir}_$DEMO_TASK"
[[ "${LORA:-0}" == 1 ]] && demo_dir="${demo_dir}_lora"
OUTPUT_DIR="${OUTPUT_DIR:-$demo_dir}"
DEEPSPEED="${DEEPSPEED:-}"
BF16="${BF16:-False}"
BATCH_SIZE="${BATCH_SIZE:-8}"
GRAD_ACCUM="${GRAD_ACCUM:-1}"
EPOCHS="${EPOCHS:-3}"
MAX_STEPS="${MAX_STEPS:-600}"
if [[ "${LORA:-0}" == 1 && -z "${LR:-}" ]]; then LR=2e-3; fi  # adapters on a random model need a larger step
LR="${LR:-1e-3}"
MM_PROJECTOR_LR="${MM_PROJECTOR_LR:-1e-3}"
VISION_TOWER_LR="${VISION_TOWER_LR:-1e-3}"
WARMUP_RATIO="${WARMUP_RATIO:-0.05}"
GRADIENT_CHECKPOINTING="${GRADIENT_CHECKPOINTING:-False}"
NUM_WORKERS="${NUM_WORKERS:-1}"
SAVE_STEPS="${SAVE_STEPS:-200}"
SAVE_TOTAL_LIMIT="${SAVE_TOTAL_LIMIT:-2}"
MODEL_MAX_LENGTH="${MODEL_MAX_LENGTH:-1024}"
REPORT_TO="${REPORT_TO:-tensorboard}"
DEMO_ARGS=(--use_soft_ce_for_coords "${SOFT_CE:-True}" --coord_sigma "${COORD_SIGMA:-3}")
# The demo model is randomly initialised: its coordinate-token rows must train next to the adapters.
[[ "${LORA:-0}" == 1 ]] && DEMO_ARGS+=(--lora_coord_tokens "${LORA_COORD_TOKENS:-True}")

# After training (EVAL=0 skips it): evaluate OUTPUT_DIR (merged first under LORA=1) on the held-out split.
# $1: the training's start time (seconds since the epoch), for the closing message.
sft_demo_evaluate() {
    [[ "${EVAL:-1}" -eq 1 ]] || return 0
    EVAL_SPLIT="${EVAL_SPLIT:-work_dirs/toy_data/toy_${DEMO_TASK}_val}"  # a TSV prefix; set it with your own CONFIG
    EVAL_MODEL="$OUTPUT_DIR"
    if [[ "${LORA:-0}" == 1 ]]; then
        EVAL_MODEL="$OUTPUT_DIR/merged"
        python tools/merge_lora.py --adapter "$OUTPUT_DIR" --output "$EVAL_MODEL"  # base: the adapter's own
    fi
    python tools/evaluate.py --model "$EVAL_MODEL" --split "$EVAL_SPLIT" \
        --task "$DEMO_TASK" --config "$CONFIG" --output_dir "$OUTPUT_DIR/eval" --batch_size 16
    echo "[sft] demo finished in $(( $(date +%s) - $1 )) s; metrics: $OUTPUT_DIR/eval/metrics.json"
}

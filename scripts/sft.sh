#!/usr/bin/env bash
# Rex-Omni SFT launcher. Every value below can be overridden from the environment, e.g.
#   MODEL_PATH=IDEA-Research/Rex-Omni CONFIG=configs/my_data.py bash scripts/sft.sh
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 bash scripts/sft.sh      (run once per node, docs/sft.md)
# Extra arguments are passed on to finetuning/train.py (and win over everything here).
#
# The model is MODEL_PATH, else the config's model_name_or_path, else the demo model. On any machine the demo
# model (built if missing), or any model under DEMO_RECIPE=1, trains with the demo recipe (lr 1e-3, soft-CE,
# fp32, batch 8, no DeepSpeed: demo/sft_demo_recipe.sh), any other model with the production learning rates.
# The toy data is built if missing only when the config reads it. With no GPU it runs on the CPU
# (demo/sft_cpu_defaults.sh holds its defaults: no DeepSpeed, fp32, small batches), with or without MODEL_PATH.
# `bash scripts/sft.sh` is the CPU demo: the demo model on the toy grounding data, evaluated on the held-out
# split (work_dirs/sft_demo/eval/metrics.json); CONFIG=configs/sft_pointing.py does the same on the toy
# pointing data (work_dirs/sft_demo_pointing). After a CPU run the evaluation reads EVAL_SPLIT (a TSV prefix,
# or a COCO JSON with EVAL_IMAGE_ROOT) when set, else the config's val_dataset, else (built-in demo configs
# only) the toy split; a config with neither skips it with a note. EVAL=0 skips it.
#
# EVAL_STEPS=N evaluates every N steps and after the last: the model answers the config's val_dataset
# (the first EVAL_MAX_SAMPLES questions, default all) and the detection metrics of tools/evaluate.py
# (eval/protocol_box_mean_f1, ...) and a few GT|prediction pictures go to REPORT_TO; the checkpoint best
# by BEST_METRIC is kept and ends in OUTPUT_DIR (docs/sft.md). SAVE_STEPS must be a multiple of EVAL_STEPS.
# Off by default (no evaluation during training).
#
# LORA=1 trains LoRA adapters (peft) instead of full weights: LORA_R, LORA_ALPHA, LORA_VISION,
# LORA_MERGER, LORA_TARGETS, BITS (4/8 = QLoRA, CUDA only) tune them (docs/lora.md). Checkpoints
# hold the adapter only; the CPU demo merges it into OUTPUT_DIR/merged before evaluating.
source "$(dirname "$0")/setup_env.sh"

GPUS_PER_NODE="${GPUS_PER_NODE:-$(detect_gpus)}"
# Training processes per node: one per GPU; without a GPU one, or NPROC_PER_NODE CPU ranks (gloo).
NPROC_PER_NODE="${NPROC_PER_NODE:-$(( GPUS_PER_NODE > 0 ? GPUS_PER_NODE : 1 ))}"
NNODES="${NNODES:-1}"
NODE_RANK="${NODE_RANK:-0}"
MASTER_ADDR="${MASTER_ADDR:-localhost}"
MASTER_PORT="${MASTER_PORT:-29500}"
CONFIG="${CONFIG:-configs/sft.py}"

CPU_DEMO=0
DEMO_ARGS=()
DEMO_RECIPE_ON=0
# The demo recipe (the demo model, or DEMO_RECIPE=1) and the toy data a config reads; then, with no GPU, the
# CPU run's own defaults. Both come first: the lines below keep what they set, on every node. On a GPU, a
# MODEL_PATH that is not the demo model skips the recipe's config question (one Python process before training).
if [[ "$GPUS_PER_NODE" -eq 0 || "${DEMO_RECIPE:-}" == 1 || -z "${MODEL_PATH:-}" \
      || "$(basename "${MODEL_PATH%/}")" == rex-omni-demo ]]; then
    source demo/sft_demo_recipe.sh
fi
[[ "$DEMO_RECIPE_ON" -eq 1 && "$GPUS_PER_NODE" -gt 0 ]] && echo "[sft] $RECIPE_MODE (fp32, no DeepSpeed)"
if [[ "$GPUS_PER_NODE" -eq 0 ]]; then source demo/sft_cpu_defaults.sh; fi
OUTPUT_DIR="${OUTPUT_DIR:-work_dirs/sft}"
DEEPSPEED="${DEEPSPEED-scripts/zero2.json}"
BF16="${BF16:-True}"
BATCH_SIZE="${BATCH_SIZE:-4}"
GRAD_ACCUM="${GRAD_ACCUM:-4}"
EPOCHS="${EPOCHS:-1}"
MAX_STEPS="${MAX_STEPS:--1}"
if [[ "${LORA:-0}" == 1 && -z "${LR:-}" ]]; then LR=2e-4; fi
LR="${LR:-2e-5}"
MM_PROJECTOR_LR="${MM_PROJECTOR_LR:-2e-5}"
VISION_TOWER_LR="${VISION_TOWER_LR:-2e-6}"
WARMUP_RATIO="${WARMUP_RATIO:-0.03}"
GRADIENT_CHECKPOINTING="${GRADIENT_CHECKPOINTING:-True}"
NUM_WORKERS="${NUM_WORKERS:-4}"
SAVE_STEPS="${SAVE_STEPS:-1000}"
SAVE_TOTAL_LIMIT="${SAVE_TOTAL_LIMIT:-5}"
MODEL_MAX_LENGTH="${MODEL_MAX_LENGTH:-4096}"
REPORT_TO="${REPORT_TO:-tensorboard}"
DATA_FLATTEN="${DATA_FLATTEN:-False}"
RUN_NAME="${RUN_NAME:-rexomni_sft}"
LR_SCHEDULER="${LR_SCHEDULER:-cosine}"

eval_args=(--eval_strategy no)
if [[ -n "${EVAL_STEPS:-}" ]]; then
    [[ "${DEMO_TASK:-}" == pointing ]] && BEST_METRIC="${BEST_METRIC:-eval/protocol_point_in_box_f1}"
    eval_args=(--eval_strategy steps --eval_steps "$EVAL_STEPS" --load_best_model_at_end True
               --metric_for_best_model "${BEST_METRIC:-eval/protocol_box_mean_f1}")
    [[ -n "${EVAL_MAX_SAMPLES:-}" ]] && eval_args+=(--eval_max_samples "$EVAL_MAX_SAMPLES")
fi

args=(
    --config "$CONFIG"
    --output_dir "$OUTPUT_DIR"
    --data_flatten "$DATA_FLATTEN"
    --tune_mm_vision "${TUNE_MM_VISION:-True}" --tune_mm_mlp "${TUNE_MM_MLP:-True}" --tune_mm_llm "${TUNE_MM_LLM:-True}"
    --bf16 "$BF16"
    --num_train_epochs "$EPOCHS" --max_steps "$MAX_STEPS"
    --per_device_train_batch_size "$BATCH_SIZE" --gradient_accumulation_steps "$GRAD_ACCUM"
    "${eval_args[@]}" --save_strategy steps --save_steps "$SAVE_STEPS" --save_total_limit "$SAVE_TOTAL_LIMIT"
    --learning_rate "$LR" --mm_projector_lr "$MM_PROJECTOR_LR" --vision_tower_lr "$VISION_TOWER_LR"
    --optim adamw_torch --warmup_ratio "$WARMUP_RATIO" --weight_decay "${WEIGHT_DECAY:-0.01}" --max_grad_norm 1
    --lr_scheduler_type "$LR_SCHEDULER" --logging_steps 1 --model_max_length "$MODEL_MAX_LENGTH"
    --activation_checkpointing "$GRADIENT_CHECKPOINTING" --dataloader_num_workers "$NUM_WORKERS"
    --run_name "$RUN_NAME" --report_to "$REPORT_TO" --seed "${SEED:-42}"
    "${DEMO_ARGS[@]}"
)
if [[ "${LORA:-0}" == 1 ]]; then
    args+=(--lora_enable True --lora_r "${LORA_R:-64}" --lora_alpha "${LORA_ALPHA:-128}"
           --lora_dropout "${LORA_DROPOUT:-0.05}" --lora_target_modules "${LORA_TARGETS:-all-linear}"
           --lora_vision "${LORA_VISION:-True}" --lora_merger "${LORA_MERGER:-True}" --bits "${BITS:-16}")
fi
[[ -n "${MODEL_PATH:-}" ]] && args+=(--model_name_or_path "$MODEL_PATH")
[[ -n "$DEEPSPEED" ]] && args+=(--deepspeed "$DEEPSPEED")
# MEMORY_PLAN=auto (CUDA): checkpointing and micro-batch chosen to fit the card (docs/sft-speed.md).
[[ -n "${MEMORY_PLAN:-}" ]] && args+=(--memory_plan "$MEMORY_PLAN")

# A mistake (flag, config, model or data path, value), or a model folder that would train wrong
# (docs/starting-from-rex-omni.md; CHECK_MODEL=0 skips that check), is one line and exit 2 before any rank starts.
skip_model_check=()
[[ "${CHECK_MODEL:-1}" -eq 1 ]] || skip_model_check=(--skip_model_check)
python -m finetuning.check_args "${skip_model_check[@]}" "${args[@]}" "$@"

echo "[sft] config=$CONFIG output=$OUTPUT_DIR gpus/node=$GPUS_PER_NODE processes/node=$NPROC_PER_NODE" \
     "nodes=$NNODES (this is node $NODE_RANK) deepspeed=${DEEPSPEED:-none}"
start=$(date +%s)
if [[ "$GPUS_PER_NODE" -gt 0 || "$NNODES" -gt 1 || "$NPROC_PER_NODE" -gt 1 ]]; then
    torchrun --nnodes="$NNODES" --node_rank="$NODE_RANK" --nproc_per_node="$NPROC_PER_NODE" \
        --master_addr="$MASTER_ADDR" --master_port="$MASTER_PORT" \
        finetuning/train.py "${args[@]}" "$@"
else
    python -m finetuning.train "${args[@]}" "$@"
fi
echo "[sft] training took $(( $(date +%s) - start )) s"

# The evaluation after a CPU run: on node 0 only (the final model is in its OUTPUT_DIR).
if [[ "$CPU_DEMO" -eq 1 && "$NODE_RANK" -eq 0 ]]; then sft_cpu_evaluate "$start"; fi

#!/usr/bin/env bash
# Rex-Omni GRPO launcher (the original scripts/grpo.sh). Every value can be overridden from the environment:
#   MODEL_PATH=work_dirs/sft CONFIG=configs/grpo_pointing.py OUTPUT_PATH=work_dirs/grpo_pt bash scripts/grpo.sh
#   RAY_ADDRESS=<head ip>:6379 NNODES=2 N_GPUS=8 bash scripts/grpo.sh          (existing multi-node Ray cluster)
# Extra arguments are key=value overrides of verl/configs/config.yaml and win over everything here:
#   bash scripts/grpo.sh trainer.val_freq=10 worker.actor.optim.lr=2e-6
#
# With no GPU it runs on the CPU (2 worker processes, hf rollout, small batches), with the defaults in
# demo/grpo_cpu_defaults.sh. With no GPU and no MODEL_PATH it runs the embedded demo: the SFT model
# (work_dirs/sft, else work_dirs/sft_demo) when it is a complete HF folder, else the demo model; the toy
# data and demo model are built when missing.
# Re-running with the same OUTPUT_PATH resumes from its last checkpoint. At the end the final checkpoint is
# merged into a Hugging Face folder, $OUTPUT_PATH/latest_hf, and the reward curve is printed.
# LORA=1 trains a LoRA actor (LORA_R, LORA_ALPHA, LORA_TARGETS, LORA_VISION, LORA_MERGER; docs/lora.md);
# latest_hf is then the adapter merged into MODEL_PATH.
source "$(dirname "$0")/setup_env.sh"

die() { echo "[grpo] error: $*" >&2; exit 2; }
is_hf_model() {  # a folder with config.json and weights
    [[ -f "$1/config.json" ]] && compgen -G "$1/*.safetensors" >/dev/null
}

DETECTED_GPUS="$(detect_gpus)"
CONFIG="${CONFIG:-configs/grpo.py}"
OUTPUT_PATH="${OUTPUT_PATH:-work_dirs/grpo}"
EXP_NAME="${EXP_NAME:-grpo}"
NNODES="${NNODES:-1}"
SEED="${SEED:-1}"

# No GPU and no RAY_ADDRESS: the CPU run sets its own defaults first (the lines below keep them).
if [[ "$DETECTED_GPUS" -eq 0 && -z "${RAY_ADDRESS:-}" ]]; then source demo/grpo_cpu_defaults.sh; fi
DEVICE="${DEVICE:-auto}"
MODEL_PATH="${MODEL_PATH:-IDEA-Research/Rex-Omni}"
N_GPUS="${N_GPUS:-$(( DETECTED_GPUS > 0 ? DETECTED_GPUS : 8 ))}"  # 8 per node on a Ray cluster seen from a CPU head
ROLLOUT_N="${ROLLOUT_N:-8}"
ROLLOUT_BATCH_SIZE="${ROLLOUT_BATCH_SIZE:-64}"
GLOBAL_BATCH_SIZE="${GLOBAL_BATCH_SIZE:-64}"
MICRO_UPDATE="${MICRO_UPDATE:-4}"
MICRO_EXPERIENCE="${MICRO_EXPERIENCE:-8}"
MAX_STEPS="${MAX_STEPS:-null}"
if [[ "${LORA:-0}" == 1 && -z "${LR:-}" ]]; then LR=1e-5; fi
LR="${LR:-1e-6}"
WARMUP_RATIO="${WARMUP_RATIO:-0.0}"
KL_COEF="${KL_COEF:-1e-2}"
DISABLE_KL="${DISABLE_KL:-false}"
TEMPERATURE="${TEMPERATURE:-1.0}"
GRADIENT_CHECKPOINTING="${GRADIENT_CHECKPOINTING:-true}"
FREEZE_VISION_TOWER="${FREEZE_VISION_TOWER:-false}"
MAX_PROMPT_LENGTH="${MAX_PROMPT_LENGTH:-4096}"
MAX_RESPONSE_LENGTH="${MAX_RESPONSE_LENGTH:-2048}"
SAVE_FREQ="${SAVE_FREQ:-100}"
TP_SIZE="${TP_SIZE:-2}"
ROLLOUT_NAME="${ROLLOUT_NAME:-auto}"
NUM_WORKERS="${NUM_WORKERS:-8}"
LOGGERS="${LOGGERS:-[console,tensorboard]}"

# Fail early, naming the path, instead of deep inside a Ray worker.
[[ -f "$CONFIG" ]] || die "CONFIG=$CONFIG: no such data config file (expected e.g. configs/grpo.py)"
# A hub id (org/name) passes here; the pre-flight check below looks for it in the local cache.
if [[ -e "$MODEL_PATH" ]]; then
    is_hf_model "$MODEL_PATH" || die "MODEL_PATH=$MODEL_PATH: not a Hugging Face model folder (config.json + *.safetensors)"
elif ! [[ "$MODEL_PATH" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ && ! "$MODEL_PATH" =~ ^\.|^work_dirs/ ]]; then
    die "MODEL_PATH=$MODEL_PATH: no such directory"
fi

mkdir -p "$OUTPUT_PATH" 2>/dev/null && [[ -w "$OUTPUT_PATH" ]] || die "OUTPUT_PATH=$OUTPUT_PATH: cannot create or write that folder"
OUTPUT_PATH="$(cd "$OUTPUT_PATH" && pwd)"
# Reward debug log (seed: DEBUG_MODE=true, LOG_PATH=$OUTPUT_PATH/log.txt); absolute, so Ray workers agree.
export DEBUG_MODE="${DEBUG_MODE:-true}"
LOG_PATH="${LOG_PATH:-$OUTPUT_PATH/log.txt}"
[[ "$LOG_PATH" = /* ]] || LOG_PATH="$PWD/$LOG_PATH"
export LOG_PATH
export PYTHONUNBUFFERED=1 RAY_DISABLE_IMPORT_WARNING=1 VLLM_USE_RAY_COMPILED_DAG=0 VLLM_WORKER_MULTIPROC_METHOD=spawn
unset RAY_CLIENT_MODE
# RAY_ADDRESS set: join that cluster; unset: a private local cluster in its own temp dir (/tmp/ray is never touched).
[[ -n "${RAY_ADDRESS:-}" ]] || unset RAY_ADDRESS

args=(
    config=verl/configs/config.yaml
    data.config_path="$CONFIG"
    data.format_prompt=verl/configs/r1v_format.jinja
    data.max_prompt_length="$MAX_PROMPT_LENGTH"
    data.max_response_length="$MAX_RESPONSE_LENGTH"
    data.rollout_batch_size="$ROLLOUT_BATCH_SIZE"
    data.num_workers="$NUM_WORKERS"
    data.seed="$SEED"
    algorithm.kl_coef="$KL_COEF"
    algorithm.disable_kl="$DISABLE_KL"
    worker.actor.model.model_path="$MODEL_PATH"
    worker.actor.global_batch_size="$GLOBAL_BATCH_SIZE"
    worker.actor.micro_batch_size_per_device_for_update="$MICRO_UPDATE"
    worker.actor.micro_batch_size_per_device_for_experience="$MICRO_EXPERIENCE"
    worker.actor.optim.lr="$LR"
    worker.actor.optim.lr_warmup_ratio="$WARMUP_RATIO"
    worker.actor.model.enable_gradient_checkpointing="$GRADIENT_CHECKPOINTING"
    worker.actor.model.freeze_vision_tower="$FREEZE_VISION_TOWER"
    worker.rollout.n="$ROLLOUT_N"
    worker.rollout.name="$ROLLOUT_NAME"
    worker.rollout.temperature="$TEMPERATURE"
    worker.rollout.tensor_parallel_size="$TP_SIZE"
    trainer.device="$DEVICE"
    trainer.nnodes="$NNODES"
    trainer.n_gpus_per_node="$N_GPUS"
    trainer.experiment_name="$EXP_NAME"
    trainer.logger="$LOGGERS"
    trainer.max_steps="$MAX_STEPS"
    trainer.seed="$SEED"
    trainer.save_checkpoint_path="$OUTPUT_PATH"
    trainer.save_freq="$SAVE_FREQ"
)
if [[ "${LORA:-0}" == 1 ]]; then  # LoRA actor: reference = adapters off, rollouts get merged weights
    args+=(worker.actor.lora.enable=true worker.actor.lora.r="${LORA_R:-64}" worker.actor.lora.alpha="${LORA_ALPHA:-128}"
           worker.actor.lora.target_modules="${LORA_TARGETS:-all-linear}" worker.actor.lora.vision="${LORA_VISION:-false}"
           worker.actor.lora.merger="${LORA_MERGER:-false}")
fi

# A bad key, value, data file or model, or a model folder that would train wrong (docs/starting-from-rex-omni.md;
# CHECK_MODEL=0 skips that check), is one line and exit 2 here, before Ray starts.
skip_model_check=()
[[ "${CHECK_MODEL:-1}" -eq 1 ]] || skip_model_check=(--skip_model_check)
python3 -m verl.trainer.main --check "${skip_model_check[@]}" "${args[@]}" "$@"
echo "[grpo] model=$MODEL_PATH config=$CONFIG output=$OUTPUT_PATH device=$DEVICE nodes=$NNODES workers/node=$N_GPUS"
start=$(date +%s)
set -x
python3 -m verl.trainer.main "${args[@]}" "$@" 2>&1 | tee -a "$OUTPUT_PATH/train.log"
{ set +x; } 2>/dev/null
echo "[grpo] training took $(( $(date +%s) - start )) s"

marker="$OUTPUT_PATH/latest_checkpointed_iteration.txt"
if [[ -f "$marker" ]]; then
    last="$OUTPUT_PATH/global_step_$(tr -d '[:space:]' < "$marker")"
    python tools/merge_rl_checkpoints_to_hg_version.py --local_dir "$last/actor" --output_dir "$OUTPUT_PATH/latest_hf"
    echo "[grpo] final model ($last) as a Hugging Face folder: $OUTPUT_PATH/latest_hf"
else
    echo "[grpo] no checkpoint was written (validation only?): nothing to merge"
fi
if [[ -f "$OUTPUT_PATH/metrics.jsonl" ]]; then
    python tools/print_reward_curve.py "$OUTPUT_PATH/metrics.jsonl" || true
fi
echo "[grpo] done in $(( $(date +%s) - start )) s"

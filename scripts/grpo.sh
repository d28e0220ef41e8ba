#!/usr/bin/env bash
# Rex-Omni GRPO launcher (the original scripts/grpo.sh). The run's defaults are the config dataclasses'
# (listed with one-line docs in verl/configs/config.yaml); this script passes only what a launcher decides:
# the paths (data config, model, output) and the GPU counts. See what a run will use, and where each value
# comes from (default, yaml, environment, command line):   bash scripts/grpo.sh --print_config
#   MODEL_PATH=work_dirs/sft CONFIG=configs/grpo_pointing.py OUTPUT_PATH=work_dirs/grpo_pt bash scripts/grpo.sh
#   RAY_ADDRESS=<head ip>:6379 NNODES=2 N_GPUS=8 bash scripts/grpo.sh          (existing multi-node Ray cluster)
# The environment variables of ENV_KEYS below override one key each, only when set. Extra arguments are
# key=value overrides and win over everything:
#   bash scripts/grpo.sh trainer.val_freq=10 worker.actor.optim.lr=2e-6
#
# With no GPU it runs on the CPU (2 worker processes, hf rollout, small batches), with the values that
# differ on a CPU in demo/grpo_cpu_defaults.sh and the demo recipe (demo/grpo_demo_recipe.sh; on GPUs under
# DEMO_RECIPE=1). With no GPU and no MODEL_PATH it runs the embedded demo: the SFT
# model (work_dirs/sft, else work_dirs/sft_demo) when it is a complete HF folder, else the demo model; the toy
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

# No GPU and no RAY_ADDRESS: the CPU run sets the values that differ on a CPU, the demo recipe included (the
# lines below keep them). On GPUs, DEMO_RECIPE=1 (scripts/quickstart.sh) gives the demo's SFT model that recipe.
if [[ "$DETECTED_GPUS" -eq 0 && -z "${RAY_ADDRESS:-}" ]]; then
    source demo/grpo_cpu_defaults.sh
elif [[ "${DEMO_RECIPE:-}" == 1 ]]; then
    source demo/grpo_demo_recipe.sh
    echo "[grpo] DEMO_RECIPE=1: the demo recipe (demo/grpo_demo_recipe.sh: lr ${LR}, T ${TEMPERATURE}, ${MAX_STEPS} steps)"
fi
MODEL_PATH="${MODEL_PATH:-IDEA-Research/Rex-Omni}"
N_GPUS="${N_GPUS:-$(( DETECTED_GPUS > 0 ? DETECTED_GPUS : 8 ))}"  # 8 per node on a Ray cluster seen from a CPU head
# A LoRA actor learns with a larger step than full weights (adapters start at zero).
if [[ "${LORA:-0}" == 1 && -z "${LR:-}" ]]; then LR=1e-5; fi

# Environment variable -> the config key it overrides; passed (as --from_env, so --print_config names the
# variable) only when the variable is set. Unset ones leave the dataclass default.
ENV_KEYS=(
    DEVICE=trainer.device SEED=data.seed SEED=trainer.seed
    ROLLOUT_N=worker.rollout.n ROLLOUT_BATCH_SIZE=data.rollout_batch_size GLOBAL_BATCH_SIZE=worker.actor.global_batch_size
    MICRO_UPDATE=worker.actor.micro_batch_size_per_device_for_update
    MICRO_EXPERIENCE=worker.actor.micro_batch_size_per_device_for_experience
    MAX_STEPS=trainer.max_steps LR=worker.actor.optim.lr WARMUP_RATIO=worker.actor.optim.lr_warmup_ratio
    KL_COEF=algorithm.kl_coef DISABLE_KL=algorithm.disable_kl TEMPERATURE=worker.rollout.temperature
    GRADIENT_CHECKPOINTING=worker.actor.model.enable_gradient_checkpointing
    FREEZE_VISION_TOWER=worker.actor.model.freeze_vision_tower MAX_PROMPT_LENGTH=data.max_prompt_length
    MAX_RESPONSE_LENGTH=data.max_response_length SAVE_FREQ=trainer.save_freq TP_SIZE=worker.rollout.tensor_parallel_size
    ROLLOUT_NAME=worker.rollout.name NUM_WORKERS=data.num_workers LOGGERS=trainer.logger
)
if [[ "${LORA:-0}" == 1 ]]; then  # LoRA actor: reference = adapters off, rollouts get merged weights
    LORA_ENABLE=true
    ENV_KEYS+=(LORA_ENABLE=worker.actor.lora.enable LORA_R=worker.actor.lora.r LORA_ALPHA=worker.actor.lora.alpha
               LORA_TARGETS=worker.actor.lora.target_modules LORA_VISION=worker.actor.lora.vision
               LORA_MERGER=worker.actor.lora.merger)
fi
env_args=()
for pair in "${ENV_KEYS[@]}"; do
    name="${pair%%=*}"
    [[ -z "${!name:-}" ]] || env_args+=(--from_env "$name:${pair#*=}=${!name}")
done

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

# What only the launcher knows: the paths and the GPU counts.
args=(
    config=verl/configs/config.yaml
    data.config_path="$CONFIG"                    # CONFIG (the data files)
    worker.actor.model.model_path="$MODEL_PATH"   # MODEL_PATH (or the demo's model)
    trainer.nnodes="$NNODES"                      # NNODES: Ray nodes
    trainer.n_gpus_per_node="$N_GPUS"             # N_GPUS: the GPUs detected here (or the CPU demo's 2 processes)
    trainer.experiment_name="$EXP_NAME"           # EXP_NAME: the run's name in the logs
    trainer.save_checkpoint_path="$OUTPUT_PATH"   # OUTPUT_PATH: checkpoints, logs and latest_hf
    "${env_args[@]}"
)
if [[ " $* " == *" --print_config "* ]]; then  # print the resolved configuration and its sources, then stop
    python3 -m verl.trainer.main "${args[@]}" "$@"
    exit
fi

# A bad key, value, data file or model, or a model folder that would train wrong (docs/starting-from-rex-omni.md;
# CHECK_MODEL=0 skips that check), is one line and exit 2 here, before Ray starts.
skip_model_check=()
[[ "${CHECK_MODEL:-1}" -eq 1 ]] || skip_model_check=(--skip_model_check)
python3 -m verl.trainer.main --check "${skip_model_check[@]}" "${args[@]}" "$@"
echo "[grpo] model=$MODEL_PATH config=$CONFIG output=$OUTPUT_PATH device=${DEVICE:-auto} nodes=$NNODES workers/node=$N_GPUS"
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

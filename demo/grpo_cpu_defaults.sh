# shellcheck shell=bash disable=SC2034  # sets variables that the sourcing launcher reads
# The CPU run of scripts/grpo.sh, sourced by it when there is no GPU and no RAY_ADDRESS: 2 worker
# processes, hf rollout, small batches. With no MODEL_PATH it picks the demo's model (the SFT model,
# work_dirs/sft else work_dirs/sft_demo, when it is a complete HF folder, else the demo model) and
# builds the toy data and demo model when missing. It sets only the values that differ from the run's
# defaults (the config dataclasses, listed in verl/configs/config.yaml) on a CPU; every one can still be
# overridden from the environment (${NAME:-value}). grpo.sh passes each set variable as --from_env.

DEVICE=cpu
if [[ -z "${MODEL_PATH:-}" ]]; then
    python tools/make_toy_data.py  # skips when work_dirs/toy_data matches its arguments
    for candidate in work_dirs/sft work_dirs/sft_demo; do
        if is_hf_model "$candidate"; then MODEL_PATH="$candidate"; break; fi
    done
    if [[ -z "${MODEL_PATH:-}" ]]; then
        python tools/make_tiny_model.py --size demo  # skips when up to date
        MODEL_PATH=work_dirs/models/rex-omni-demo
        echo "[grpo] no SFT model found (work_dirs/sft): GRPO on the untrained demo model (reward stays ~0)"
    fi
fi
# CPU demo (the quickstart's GRPO stage; 2 worker processes, one per core). The demo model's coordinate
# distributions are flat over ~100 bins, so answers sampled at T>=0.5 give gradients that mostly cancel:
# 32 prompts x 8 answers per optimizer step, sampled at T=0.3 close to the greedy answer that evaluation
# scores, lr 5e-5 with 3 warm-up steps, 24 steps, vision tower frozen, no reference model (docs/demo.md).
N_GPUS="${N_GPUS:-2}"
ROLLOUT_BATCH_SIZE="${ROLLOUT_BATCH_SIZE:-32}"
GLOBAL_BATCH_SIZE="${GLOBAL_BATCH_SIZE:-32}"
MICRO_UPDATE="${MICRO_UPDATE:-64}"
MICRO_EXPERIENCE="${MICRO_EXPERIENCE:-64}"
MAX_STEPS="${MAX_STEPS:-24}"
if [[ "${LORA:-0}" == 1 && -z "${LR:-}" ]]; then LR=2e-4; fi
LR="${LR:-5e-5}"
WARMUP_RATIO="${WARMUP_RATIO:-0.125}"
KL_COEF="${KL_COEF:-1e-3}"
DISABLE_KL="${DISABLE_KL:-true}"
TEMPERATURE="${TEMPERATURE:-0.3}"
GRADIENT_CHECKPOINTING="${GRADIENT_CHECKPOINTING:-false}"
FREEZE_VISION_TOWER="${FREEZE_VISION_TOWER:-true}"
MAX_PROMPT_LENGTH="${MAX_PROMPT_LENGTH:-1024}"
MAX_RESPONSE_LENGTH="${MAX_RESPONSE_LENGTH:-48}"
SAVE_FREQ="${SAVE_FREQ:--1}"
TP_SIZE="${TP_SIZE:-1}"
ROLLOUT_NAME="${ROLLOUT_NAME:-hf}"
NUM_WORKERS="${NUM_WORKERS:-0}"
LOGGERS="${LOGGERS:-[console]}"

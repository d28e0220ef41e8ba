# shellcheck shell=bash disable=SC2034  # sets variables that the sourcing launcher reads
# The GRPO demo recipe, sourced by scripts/grpo.sh on a CPU (through demo/grpo_cpu_defaults.sh) and on a GPU
# under DEMO_RECIPE=1 (scripts/quickstart.sh sets it): what the demo's SFT model learns from. It sets only the
# values that differ from the run's defaults (verl/configs/config.yaml); every one can still be overridden
# from the environment (${NAME:-value}). grpo.sh passes each set variable as --from_env.

# The demo's GRPO (the quickstart's GRPO stage). The demo model's coordinate
# distributions are flat over ~100 bins, so answers sampled at T>=0.5 give gradients that mostly cancel:
# 32 prompts x 8 answers per optimizer step, sampled at T=0.3 close to the greedy answer that evaluation
# scores, lr 5e-5 with 3 warm-up steps, 24 steps, vision tower frozen, no reference model (docs/demo.md).
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

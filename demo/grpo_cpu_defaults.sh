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
# 2 worker processes, one per core, then the demo recipe (demo/grpo_demo_recipe.sh).
N_GPUS="${N_GPUS:-2}"
source demo/grpo_demo_recipe.sh
TP_SIZE="${TP_SIZE:-1}"
ROLLOUT_NAME="${ROLLOUT_NAME:-hf}"
NUM_WORKERS="${NUM_WORKERS:-0}"
LOGGERS="${LOGGERS:-[console]}"

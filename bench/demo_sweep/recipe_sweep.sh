#!/usr/bin/env bash
# GPU sweep of CPU-demo recipes through the real trainer: position-coded toy data (make_toy_data.py
# --background coded), demo models that differ in init std and rope_theta, learning rates and step
# budgets the CPU quickstart can afford. Each run is scored by tools/evaluate.py (greedy generation,
# 64 held-out images) at every checkpoint. Run on a lent GPU from the repo root (wheels in .whl).
# Results: $OUT/recipe_all.txt as they come, $OUT/recipe_summary.txt sorted at the end. LIMIT seconds per training run (default 240), NTRAIN (2048).
set -uo pipefail
cd "$(dirname "$0")/../.."
export OUT="${OUT:-/tmp/recipe_sweep_out}"; mkdir -p "$OUT"; rm -f "$OUT"/recipe_*.txt
source bench/gpu_env.sh
export OMP_NUM_THREADS=1
LIMIT="${LIMIT:-240}"; NTRAIN="${NTRAIN:-2048}"; DRY="${DRY:-0}"
S=work_dirs/recipe_sweep; rm -rf $S; mkdir -p $S
echo "$(date +%T) data + models"
C="--image_size 112 --background coded --negative_rate 0 --num_train $NTRAIN --num_val 64"
python3 tools/make_toy_data.py --output_dir $S/c1 $C --max_objects 1 --size_range 0.25 0.45 >$S/c1.log 2>&1 &
python3 tools/make_toy_data.py --output_dir $S/c3 $C --max_objects 3 --size_range 0.2 0.4 >$S/c3.log 2>&1 &
python3 tools/make_tiny_model.py --size demo --output_dir $S/m_std002_t1e6 >$S/model.log 2>&1 || { tail -3 $S/model.log; exit 1; }
variant_model() {  # variant_model NAME STD THETA: the builder's demo model re-initialised (bench.probe_localisation)
    python3 bench/demo_sweep/sweep_tools.py reinit $S/m_std002_t1e6 $S/$1 $2 $3 >$S/$1.log 2>&1 || { tail -3 $S/$1.log; exit 1; }
}
variant_model m_std006_t10 0.06 10 &
variant_model m_std006_t1e6 0.06 1e6 &
variant_model m_std002_t10 0.02 10 &
wait
train() {  # train NAME DATA MODEL LR STEPS SAVE
    local name=$1 d=$2 model=$3 lr=$4 steps=$5 save=$6
    [[ "$DRY" == 1 ]] && { steps=2; save=1; }
    sed -e "s#^data_root = .*#data_root = \"$S/$d\"#" configs/sft.py > $S/cfg_$name.py
    timeout "$LIMIT" python3 -m finetuning.train --config $S/cfg_$name.py --model_name_or_path $S/$model \
        --output_dir $S/$name --bf16 False --tune_mm_vision True --tune_mm_mlp True --tune_mm_llm True \
        --num_train_epochs 100 --max_steps "$steps" --per_device_train_batch_size 8 --learning_rate "$lr" \
        --mm_projector_lr "$lr" --vision_tower_lr "$lr" --warmup_ratio 0.05 --weight_decay 0.01 --max_grad_norm 1 \
        --lr_scheduler_type cosine --logging_steps 50 --dataloader_num_workers 1 --save_strategy steps \
        --save_steps "$save" --save_total_limit 20 --report_to none --seed 42 --use_soft_ce_for_coords True \
        --coord_sigma 3 >$S/$name.train.log 2>&1
    for ck in $(ls -d $S/$name/checkpoint-* 2>/dev/null | sort -t- -k2 -n); do
        python3 tools/evaluate.py --model $ck --split $S/$d/toy_grounding_val --task grounding --config $S/cfg_$name.py \
            --output_dir $ck/eval --batch_size 64 --num_visualisations 0 >$ck.eval.log 2>&1
        python3 bench/demo_sweep/sweep_tools.py score $ck $name 2>/dev/null || echo "$name $ck eval failed"
    done | tee "$S/recipe_$name.txt" >>"$OUT/recipe_all.txt"  # one file back, lines as they come
}
echo "$(date +%T) training"
train A_std006_t10_lr2e-3 c1 m_std006_t10 2e-3 1000 250 &
train B_std006_t10_lr1e-3 c1 m_std006_t10 1e-3 1000 250 &
train C_std006_t1e6_lr1e-3 c1 m_std006_t1e6 1e-3 1000 250 &
train D_std002_t1e6_lr1e-3 c1 m_std002_t1e6 1e-3 1000 250 &
train E_std002_t10_lr1e-3 c1 m_std002_t10 1e-3 1000 250 &
train F_std006_t1e6_lr2e-3 c1 m_std006_t1e6 2e-3 1000 250 &
train G_c3_std006_t1e6_lr1e-3 c3 m_std006_t1e6 1e-3 1500 500 &
train H_std006_t1e6_lr1e-3_600 c1 m_std006_t1e6 1e-3 600 200 &
wait
echo "$(date +%T) done"
cat "$S"/recipe_*.txt | tee "$OUT/recipe_summary.txt"
for f in $S/*.train.log; do grep -q -E "Error|Traceback" "$f" && { echo "== $f"; tail -3 "$f"; }; done
exit 0

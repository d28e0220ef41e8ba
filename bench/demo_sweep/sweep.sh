#!/usr/bin/env bash
# GPU sweep of demo recipes (run on a lent GPU from the repo root, wheels in .whl as in bench/gpu_session.sh):
# five toy-data / demo-model variants trained in parallel, each checkpoint scored with tools/evaluate.py.
# Results: $OUT/res_<variant>.txt (step, F1@0.5, parse rate, mean IoU, predictions). TRAIN_LIMIT caps
# each training run in seconds; STEPS, NTRAIN and SAVE set steps, training images and checkpoint spacing.
set -uo pipefail
cd "$(dirname "$0")/../.."
export OUT="${OUT:-/tmp/sweep_out}"; mkdir -p "$OUT"
source bench/gpu_env.sh
export OMP_NUM_THREADS=2
TRAIN_LIMIT="${TRAIN_LIMIT:-210}"; STEPS="${STEPS:-3000}"; NTRAIN="${NTRAIN:-2048}"; SAVE="${SAVE:-400}"
S=work_dirs/sweep; rm -rf $S; mkdir -p $S
echo "$(date +%T) data + models"
python3 tools/make_toy_data.py --output_dir $S/d1 --num_train $NTRAIN --max_objects 1 --negative_rate 0 >$S/d1.log 2>&1 &
python3 tools/make_toy_data.py --output_dir $S/d2 --num_train $NTRAIN --max_objects 1 --negative_rate 0 --background positional --object_alpha 0.6 >$S/d2.log 2>&1 &
python3 tools/make_toy_data.py --output_dir $S/d3 --num_train $NTRAIN --max_objects 2 --negative_rate 0 --background positional --object_alpha 0.6 >$S/d3.log 2>&1 &
python3 tools/make_tiny_model.py --size demo --output_dir $S/m0 >$S/m0.log 2>&1 || { cat $S/m0.log; exit 1; }
python3 bench/demo_sweep/tie_word_variants.py $S/m0 $S/m1 >$S/m1.log 2>&1 || { tail $S/m1.log; exit 1; }
grep tied $S/m1.log
wait
job() {  # name data model max_pixels extra...
  local name=$1 data=$2 model=$3 maxpx=$4; shift 4
  sed -e "s#^data_root = .*#data_root = \"$S/$data\"#" -e "s#^max_pixels = .*#max_pixels = $maxpx#" configs/sft.py > $S/cfg_$name.py
  timeout $TRAIN_LIMIT python3 -m finetuning.train --config $S/cfg_$name.py --model_name_or_path $S/$model --output_dir $S/$name \
    --bf16 False --tune_mm_vision True --tune_mm_mlp True --tune_mm_llm True --num_train_epochs 100 --max_steps $STEPS --per_device_train_batch_size 8 --learning_rate 2e-3 \
    --mm_projector_lr 2e-3 --vision_tower_lr 2e-3 --warmup_ratio 0.05 --weight_decay 0.01 --max_grad_norm 1 \
    --lr_scheduler_type cosine --logging_steps 50 --model_max_length 1024 --dataloader_num_workers 2 \
    --save_strategy steps --save_steps $SAVE --save_total_limit 20 --report_to none --seed 42 --eval_strategy no \
    --use_soft_ce_for_coords True --coord_sigma 3 "$@" > $S/$name.train.log 2>&1
  for ck in $(ls -d $S/$name/checkpoint-* 2>/dev/null | sort -t- -k2 -n); do
    python3 tools/evaluate.py --model $ck --split $S/$data/toy_grounding_val --task grounding --output_dir $ck/eval \
      --batch_size 64 --num_visualisations 0 > $ck.eval.log 2>&1
    python3 bench/demo_sweep/sweep_tools.py score $ck $name 2>/dev/null || echo "$name $ck eval failed"
  done > $OUT/res_$name.txt
  grep -o "'loss': '[0-9.]*'" $S/$name.train.log | sed -n '1p;$p' | tr '\n' ' ' >> $OUT/res_$name.txt; echo >> $OUT/res_$name.txt
}
echo "$(date +%T) training"
job j1_1obj_rand d1 m0 "64 * 28 * 28" &
job j2_1obj_pos d2 m0 "64 * 28 * 28" &
job j3_1obj_pos_copy d2 m1 "64 * 28 * 28" &
job j4_1obj_pos_16tok d2 m0 "16 * 28 * 28" &
job j5_2obj_pos_copy d3 m1 "64 * 28 * 28" &
wait
echo "$(date +%T) done"
cat $OUT/res_*.txt
for f in $S/*.train.log; do echo "== $f"; grep -E "Error|error" $f | tail -3; done

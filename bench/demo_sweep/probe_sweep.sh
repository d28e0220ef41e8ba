#!/usr/bin/env bash
# GPU sweep of the localisation probe (bench/probe_localisation.py): which toy data (position-coded or
# not, object count and size) and which demo-model rope_theta let a randomly initialised demo model learn
# boxes? Two runs of the real trainer + tools/evaluate.py check the probe's answer with free generation.
# Run on a lent GPU from the repo root
# (wheels in .whl, as bench/gpu_session.sh). Every variant runs as its own process on the one GPU; each
# prints a JSON line per window (teacher-forced box IoU>=0.5 rate and its image-blind baseline).
# Results: $OUT/probe_<variant>.jsonl and a summary in $OUT/probe_summary.txt.
#   STEPS (default 3000), LOG_EVERY (250), NTRAIN (2048), LIMIT seconds per run (420), DEVICE (cuda).
set -uo pipefail
cd "$(dirname "$0")/../.."
export OUT="${OUT:-/tmp/probe_sweep_out}"; mkdir -p "$OUT"; rm -f "$OUT"/probe_*.jsonl "$OUT"/train_*.txt
source bench/gpu_env.sh
export OMP_NUM_THREADS=1
STEPS="${STEPS:-3000}"; LOG_EVERY="${LOG_EVERY:-250}"; NTRAIN="${NTRAIN:-2048}"; LIMIT="${LIMIT:-420}"
DEVICE="${DEVICE:-cuda}"
S=work_dirs/probe_sweep; rm -rf $S; mkdir -p $S
echo "$(date +%T) data + model"
data() {  # data NAME make_toy_data-args...
    local name=$1; shift
    python3 tools/make_toy_data.py --output_dir $S/$name --num_train "$NTRAIN" --num_val 64 "$@" >$S/$name.log 2>&1 \
        || { echo "data $name failed"; tail -3 $S/$name.log; }
}
C="--image_size 112 --background coded --negative_rate 0"
data c1 $C --max_objects 1 --size_range 0.25 0.45 &
data c1s $C --max_objects 1 &
data c3 $C --max_objects 3 --size_range 0.2 0.4 &
data c5 $C &
data r1 --image_size 112 --negative_rate 0 --max_objects 1 --size_range 0.25 0.45 &
python3 tools/make_tiny_model.py --size demo --output_dir $S/model >$S/model.log 2>&1 || { tail -3 $S/model.log; exit 1; }
wait
probe() {  # probe NAME DATA extra-args...
    local name=$1 d=$2; shift 2
    timeout "$LIMIT" python3 -m bench.probe_localisation --model $S/model --data $S/$d/toy_grounding_train \
        --steps "$STEPS" --log_every "$LOG_EVERY" --device "$DEVICE" "$@" \
        >"$OUT/probe_$name.jsonl" 2>$S/$name.err || echo "{\"variant\": \"$name\", \"exit\": $?}" >>"$OUT/probe_$name.jsonl"
}
# Trainer-level check: the real trainer (soft-CE, cosine, 43 templates) on a demo model re-initialised
# like the probe (std 0.06, rope_theta 10), scored by tools/evaluate.py (free generation) every SAVE steps.
python3 bench/demo_sweep/sweep_tools.py reinit $S/model $S/model_t10 0.06 10 >$S/model_t10.log 2>&1 \
    || { tail -3 $S/model_t10.log; exit 1; }
TRAIN_STEPS="${TRAIN_STEPS:-2000}"; SAVE="${SAVE:-500}"
train() {  # train NAME DATA
    local name=$1 d=$2
    sed -e "s#^data_root = .*#data_root = \"$S/$d\"#" configs/sft.py > $S/cfg_$name.py
    timeout "$LIMIT" python3 -m finetuning.train --config $S/cfg_$name.py --model_name_or_path $S/model_t10 \
        --output_dir $S/$name --bf16 False --tune_mm_vision True --tune_mm_mlp True --tune_mm_llm True --num_train_epochs 100 --max_steps "$TRAIN_STEPS" \
        --per_device_train_batch_size 8 --learning_rate 2e-3 --mm_projector_lr 2e-3 --vision_tower_lr 2e-3 \
        --warmup_ratio 0.05 --weight_decay 0.01 --max_grad_norm 1 --lr_scheduler_type cosine --logging_steps 50 \
        --dataloader_num_workers 1 --save_strategy steps --save_steps "$SAVE" --save_total_limit 20 --report_to none \
        --seed 42 --use_soft_ce_for_coords True --coord_sigma 3 >$S/$name.train.log 2>&1
    for ck in $(ls -d $S/$name/checkpoint-* 2>/dev/null | sort -t- -k2 -n); do
        python3 tools/evaluate.py --model $ck --split $S/$d/toy_grounding_val --task grounding --config $S/cfg_$name.py \
            --output_dir $ck/eval --batch_size 64 --num_visualisations 0 >$ck.eval.log 2>&1
        python3 bench/demo_sweep/sweep_tools.py score $ck $name 2>/dev/null || echo "$name $ck eval failed"
    done >"$OUT/train_$name.txt"
}
echo "$(date +%T) probes and trainer runs"
T=(--max_pixels 12544 --one_template --reinit_std 0.06)
probe c1_t10 c1 "${T[@]}" --rope_theta 10 &
probe c1_t1e6 c1 "${T[@]}" &
probe c1_t100 c1 "${T[@]}" --rope_theta 100 &
probe c1_t10_templates c1 --max_pixels 12544 --reinit_std 0.06 --rope_theta 10 &
probe c1_t10_std002 c1 --max_pixels 12544 --one_template --reinit_std 0.02 --rope_theta 10 &
probe c1_t10_lr1e-3 c1 "${T[@]}" --rope_theta 10 --lr 1e-3 &
probe c1small_t10 c1s "${T[@]}" --rope_theta 10 &
probe c3_t10 c3 "${T[@]}" --rope_theta 10 &
probe c5_t10_templates c5 --max_pixels 12544 --reinit_std 0.06 --rope_theta 10 &
probe r1_t10 r1 "${T[@]}" --rope_theta 10 &
train tr_c1 c1 &
train tr_c3 c3 &
wait
echo "$(date +%T) done"
for f in "$OUT"/probe_*.jsonl; do
    name=$(basename "$f" .jsonl); name=${name#probe_}
    python3 -c "
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{\"step')]
line = ' '.join('%d:%.3f/%.3f' % (r['step'], r['box_iou50'], r['blind_box_iou50']) for r in rows)
print('%-24s box_iou50/blind per window  %s' % (sys.argv[2], line))
" "$f" "$name"
done | tee "$OUT/probe_summary.txt"
cat "$OUT"/train_*.txt | tee -a "$OUT/probe_summary.txt"
for f in $S/*.err $S/*.train.log; do grep -l -E "Error|Traceback" "$f" >/dev/null && { echo "== $f"; tail -3 "$f"; }; done

#!/usr/bin/env bash
# One prepared call on a GPU machine (15 minutes of device time per session): the realistic axial
# benchmark at full size (96x256x256, every row, with the one-z-step comparison) in four parallel
# processes, and beside it the learned-prior comparisons of issue 13 (Set5 side by side, the stack
# benchmark, quality against adaptation steps) and a CUDA smoke run of train_prior.py. Every part
# has a time cap, so the whole ends before the call's limit; logs and tables go to $OUT as one tar.
#
#   OUT=/tmp/gpu ZSSR_SET5=/path/to/Set5 bash benchmarks/gpu_session3.sh
#   SIZE=48 DEPTH=32 ITERS=20 CAP=60 bash benchmarks/gpu_session3.sh     # a dry run on a CPU
set -u
SIZE=${SIZE:-256} DEPTH=${DEPTH:-96} CAP=${CAP:-480}
IT=${ITERS:+--iters $ITERS}
SET=${ITERS:+--set max_iters=$ITERS}
source "$(dirname "$0")/gpu_parts.sh"

{ nvidia-smi -L; nproc; } >"$W/machine.txt" 2>&1
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" >>"$W/machine.txt" 2>&1

# issue 16: every row of the realistic benchmark, full size, default settings, one-step comparison
for rows in x2-high,x2-mid,x2-low x4-high,x4-mid,x4-low x6-high,x6-mid,x6-low \
            x4-mid-profile0.7,x4-mid-profile1.5,old-x4; do
    part "axial_${rows%%,*}" $PY benchmarks/axial_realistic.py --rows "$rows" --size "$SIZE" --depth "$DEPTH" \
        $IT --profile-run --out "$W/axial_${rows%%,*}.md"
done
# issue 13: the prior against the from-scratch default, the paper preset and fast
part set5_x2 $PY benchmarks/set5.py --scales 2 $SET \
    --presets "default:init='prior',default:init='random',paper,fast" --out "$W/set5_x2.md"
part set5_x4 $PY benchmarks/set5.py --scales 4 $SET --presets "default:init='prior',default:init='random'" \
    --out "$W/set5_x4.md"
part stack bash -c "$PY benchmarks/stack.py --quality --size 128 --planes 1,10 --preset \"default:init='prior'\" \
    --out $W/stack_prior.md; $PY benchmarks/stack.py --quality --size 128 --planes 1,10 \
    --preset \"default:init='random'\" --out $W/stack_random.md"
part curve bash -c "$PY benchmarks/prior_curve.py --images sim,butterfly --steps ${CURVE_STEPS:-0,10,50,100,200,500,1000} --out $W/prior_curve.md; \
    $PY benchmarks/train_prior.py --device cuda --steps 40 --batch 8 --validate-every 20 --out $W/smoke.safetensors"
wait
tar -czf "$OUT/gpu_session3.tgz" -C "$OUT" work
grep -h "^| x\|^| old\|^rc \|Error" "$W"/axial_*.log | head -40
tail -n 3 "$W"/set5_*.log "$W"/stack.log "$W"/curve.log

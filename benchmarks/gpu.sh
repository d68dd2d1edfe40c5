#!/usr/bin/env bash
# The benchmarks on a GPU machine in one prepared call: the parts you name, each capped in time, run
# side by side (they share the GPU; the "s" columns then say nothing about speed) or one after the
# other (SERIAL=1, for timings). Logs and tables go to $OUT/work, and one tarball $OUT/gpu.tgz.
#
#   OUT=/tmp/gpu ZSSR_SET5=/path/to/Set5 bash benchmarks/gpu.sh tests set5 single256 stack compile
#   OUT=/tmp/gpu bash benchmarks/gpu.sh axial-realistic holdout            # full-size realistic rows
#   SIZE=48 DEPTH=32 ITERS=20 CAP=60 bash benchmarks/gpu.sh axial-realistic   # a dry run on a CPU
#
# Parts (no argument: tests set5 single256 stack compile):
#   tests            the engine's tests on CUDA (device "auto" picks it)
#   set5             Set5 x2 and x4, presets default, paper, fast (set5.py)
#   single256        one 256² image to 512² (single256.py)
#   stack            the stack curve, 1 to 60 planes (stack.py)
#   compile          torch.compile on the training step (compile_step.py)
#   roofline         the network's layers at their peak and what inference/training reach (roofline.py, issue 31),
#                    then 1024² -> 2048² with the ensemble and a 2048² x 16-plane chunked run
#   prior            the default against from-scratch runs: Set5, the 10-plane stack, the adaptation curve
#   axial-realistic  every realistic axial row at full size (axial_realistic.py), four groups of rows
#   holdout          held-out estimate beside the truth, every row, one process per pair of rows and
#                    seed, networks and held-out planes saved (holdout_diagnose.py --save)
# Settings (environment): OUT, CAP (seconds per part, 480), SERIAL (1: one part at a time), SEEDS
# ("0 1", holdout), SIZE / DEPTH (256 / 96, the realistic volume), ITERS (a dry run's iterations),
# PYTHON. Earlier one-off calls, kept as they ran: benchmarks/archive/gpu_*.sh.
set -u
OUT=${OUT:-/tmp/zssr-gpu}
W=$OUT/work
mkdir -p "$W"
export PYTHONPATH="$PWD:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
PY=${PYTHON:-python3}
CAP=${CAP:-480} SERIAL=${SERIAL:-0} SEEDS=${SEEDS:-0 1} SIZE=${SIZE:-256} DEPTH=${DEPTH:-96}
IT=${ITERS:+--iters $ITERS}
SET=${ITERS:+--set max_iters=$ITERS}

part() {   # part NAME COMMAND...: capped at $CAP s, output in $W/NAME.log
    local name=$1
    shift
    echo "=== $name: $*"
    if [ "$SERIAL" = 1 ]; then
        t0=$SECONDS; timeout "$CAP" "$@" >"$W/$name.log" 2>&1; echo "rc $? after $((SECONDS - t0)) s" >>"$W/$name.log"
    else
        ( t0=$SECONDS; timeout "$CAP" "$@" >"$W/$name.log" 2>&1; echo "rc $? after $((SECONDS - t0)) s" >>"$W/$name.log" ) &
    fi
}

{ nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version --format=csv; nproc; git rev-parse HEAD; date -u; } \
    >"$W/machine.txt" 2>&1
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
torch.cuda.get_device_name() if torch.cuda.is_available() else '')" >>"$W/machine.txt" 2>&1
cat "$W/machine.txt"

[ $# -eq 0 ] && set -- tests set5 single256 stack compile
for what in "$@"; do
    case $what in
    tests) part tests $PY -m pytest -q -p no:cacheprovider tests/test_engine.py tests/test_resize.py tests/test_kernels.py ;;
    set5)
        part set5_x2 $PY benchmarks/set5.py --presets default,paper,fast --scales 2 $SET --out "$W/set5_x2.md"
        part set5_x4 $PY benchmarks/set5.py --presets default,paper,fast --scales 4 $SET --out "$W/set5_x4.md" ;;
    single256) part single256 $PY benchmarks/single256.py --out "$W/single256.md" ;;
    stack) part stack $PY benchmarks/stack.py --out "$W/stack.md" ;;
    compile) part compile $PY benchmarks/compile_step.py --out "$W/compile_step.md" ;;
    roofline)
        part roofline bash -c "$PY benchmarks/roofline.py --device cuda --sizes 256,512,1024 --batches 1,8 \
            --infer-sizes 256,1024 --tiles 512 --crops 96,128 --out $W/roofline_cuda.md; \
            $PY benchmarks/inference_timing.py --size 1024 --reps 3; \
            $PY benchmarks/big_volume.py --planes 16 --modes lateral --workers 1 --out $W/big_volume_16.md" ;;
    prior)
        part prior_set5_x2 $PY benchmarks/set5.py --scales 2 $SET \
            --presets "default,default:init='random',paper,fast" --out "$W/prior_set5_x2.md"
        part prior_set5_x4 $PY benchmarks/set5.py --scales 4 $SET --presets "default,default:init='random'" \
            --out "$W/prior_set5_x4.md"
        part prior_stack bash -c "$PY benchmarks/stack.py --quality --size 128 --planes 1,10 --out $W/stack_default.md; \
            $PY benchmarks/stack.py --quality --size 128 --planes 1,10 --preset \"default:init='random'\" \
            --out $W/stack_random.md"
        part prior_curve $PY benchmarks/prior_curve.py --images sim,butterfly --steps 0,10,50,100,200,500,1000 \
            --out "$W/prior_curve.md" ;;
    axial-realistic)
        for rows in x2-high,x2-mid,x2-low x4-high,x4-mid,x4-low x6-high,x6-mid,x6-low \
                    x4-mid-profile0.7,x4-mid-profile1.5,old-x4; do
            part "axial_${rows%%,*}" $PY benchmarks/axial_realistic.py --rows "$rows" --size "$SIZE" \
                --depth "$DEPTH" $IT --out "$W/axial_${rows%%,*}.md"
        done ;;
    holdout)
        for seed in $SEEDS; do
            for rows in x2-high,x2-mid x2-low,x4-high x4-mid,x4-low x6-high,x6-mid x6-low,old-x4 \
                        x4-mid-profile0.7,x4-mid-profile1.5; do
                name=s${seed}_${rows//,/_}
                part "$name" $PY benchmarks/holdout_diagnose.py --rows "$rows" --seed "$seed" --size "$SIZE" \
                    --depth "$DEPTH" $IT --save "$W/$name.pt" --out "$W/$name.md"
            done
        done ;;
    *) echo "unknown part: $what (see the comment at the top of $0)" >&2; exit 2 ;;
    esac
done
wait
tar -czf "$OUT/gpu.tgz" -C "$OUT" work
grep -h "^| \|^rc \|passed\|failed\|Error" "$W"/*.log | head -n 120

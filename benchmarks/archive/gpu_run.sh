#!/usr/bin/env bash
# The benchmarks on a GPU machine in one prepared call: the engine's tests on CUDA (device "auto"
# picks it), Set5 x2 and x4 for default/paper/fast, one 256² image, the stack curve and the
# compiled step. Each part has a time cap so the whole fits one 10-minute call; tables go to $OUT.
#
#   OUT=/tmp/gpu ZSSR_SET5=/path/to/Set5 bash benchmarks/gpu_run.sh
set -u
OUT=${OUT:-/tmp/zssr-gpu}
mkdir -p "$OUT"
export PYTHONPATH="$PWD:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
LOG="$OUT/run.log"
SHRINK=${SHRINK:-1}   # divide every cap by this (a dry run on a machine without a GPU)

part() {   # part CAP_SECONDS NAME COMMAND...: run, capped; full output to run.log, its tail to stdout
    local cap=$(( $1 / SHRINK )) name=$2 t0=$SECONDS
    shift 2
    echo "=== $name (cap ${cap} s): $*" | tee -a "$LOG"
    timeout "$cap" "$@" >>"$LOG" 2>&1
    local rc=$?
    echo "=== $name: rc $rc, $((SECONDS - t0)) s" | tee -a "$LOG"
}

{ nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,clocks.sm,memory.used --format=csv; } 2>&1 | tee -a "$LOG"
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
torch.cuda.get_device_name() if torch.cuda.is_available() else '')" 2>&1 | tee -a "$LOG"

part 50 tests $PY -m pytest -q -p no:cacheprovider tests/test_engine.py tests/test_resize.py tests/test_kernels.py
part 140 set5_x2 $PY benchmarks/set5.py --presets default,paper,fast --scales 2 --out "$OUT/set5_x2_cuda.md"
part 120 set5_x4 $PY benchmarks/set5.py --presets default,paper,fast --scales 4 --out "$OUT/set5_x4_cuda.md"
part 45 single256 $PY benchmarks/single256.py --out "$OUT/single256_cuda.md"
part 45 stack $PY benchmarks/stack.py --out "$OUT/stack_cuda.md"
# what more training buys where training is cheap (settings, not presets)
part 60 set5_x2_long $PY benchmarks/set5.py --presets default --scales 2 --set crop_size=128 max_iters=4000 \
    --out "$OUT/set5_x2_long_cuda.md"
part 60 set5_x4_gradual $PY benchmarks/set5.py --presets default --scales 4 --set n_steps=2 \
    --out "$OUT/set5_x4_gradual_cuda.md"
part 45 compile $PY benchmarks/compile_step.py --out "$OUT/compile_step_cuda.md"
grep -E "^(===|x[24] |[ 0-9]+ planes|default |fast |eager |compiled )|passed|failed|Error" "$LOG" | tail -n 80

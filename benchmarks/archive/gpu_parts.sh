# Sourced by the benchmarks/gpu_session3*.sh scripts: the work folder, the environment and
# `part NAME COMMAND...`, which runs a command in the background, capped at $CAP seconds, with its
# output in $W/NAME.log.
OUT=${OUT:-/tmp/zssr-gpu}
W=$OUT/work
mkdir -p "$W"
export PYTHONPATH="$PWD:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
PY=${PYTHON:-python3}

part() {
    local name=$1
    shift
    ( t0=$SECONDS; timeout "$CAP" "$@" >"$W/$name.log" 2>&1; echo "rc $? after $((SECONDS - t0)) s" >>"$W/$name.log" ) &
}

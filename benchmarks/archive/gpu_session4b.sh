#!/usr/bin/env bash
# Second GPU call of 2026-11-30: axial x5 (a factor 96-pixel crops do not divide) with training
# fathers cut to whole low-resolution pixels (now) and as before (96 rows: the son's grid drifted
# by up to 4 pixels), two seeds, beside the held-out estimate (benchmarks/holdout_diagnose.py).
#
#   OUT=/tmp/gpu bash benchmarks/gpu_session4b.sh
set -u
CAP=${CAP:-300}
source "$(dirname "$0")/gpu_parts.sh"
export OMP_NUM_THREADS=1
UNALIGNED="import napari_zssr.engine.examples as e, runpy, sys; e.ExampleSampler._aligned = lambda self, n: n; \
sys.argv = ['holdout_diagnose.py'] + sys.argv[1:]; runpy.run_path('benchmarks/holdout_diagnose.py', run_name='__main__')"
for seed in 0 1; do
    for rows in x5-high x5-mid x5-low; do
        part "now_s${seed}_$rows" $PY benchmarks/holdout_diagnose.py --rows "$rows" --seed $seed --out "$W/now_s${seed}_$rows.md"
        part "before_s${seed}_$rows" $PY -c "$UNALIGNED" --rows "$rows" --seed $seed --out "$W/before_s${seed}_$rows.md"
    done
done
wait
tar -czf "$OUT/logs4b.tgz" -C "$W" $(cd "$W" && ls *.md *.log 2>/dev/null)
for f in "$W"/*.md; do echo "$(basename "$f" .md) $(grep '^| x' "$f")"; done
grep -h "^rc \|Error" "$W"/*.log

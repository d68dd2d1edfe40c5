#!/usr/bin/env bash
# GPU call of 2026-11-30: the realistic axial rows at full size (seeds 0 and 1) with the held-out
# estimate's noise correction by each method's own divergence, beside the truth per direction
# (benchmarks/holdout_diagnose.py); each row's network and held-out planes are saved so that the
# estimator can be studied offline.
#
#   OUT=/tmp/gpu bash benchmarks/gpu_session4.sh
set -u
CAP=${CAP:-420}
source "$(dirname "$0")/gpu_parts.sh"
export OMP_NUM_THREADS=1
for seed in 0 1; do
    for rows in x2-high,x2-mid x2-low,x4-high x4-mid,x4-low x6-high,x6-mid x6-low,old-x4 \
                x4-mid-profile0.7,x4-mid-profile1.5; do
        name=s${seed}_${rows//,/_}
        part "$name" $PY benchmarks/holdout_diagnose.py --rows "$rows" --seed $seed --save "$W/$name.pt" \
            --out "$W/$name.md"
    done
done
wait
mkdir -p "$OUT/caps0" "$OUT/caps1"
tar -czf "$OUT/caps0.tgz" -C "$W" $(cd "$W" && ls s0_*.pt 2>/dev/null)
tar -czf "$OUT/caps1.tgz" -C "$W" $(cd "$W" && ls s1_*.pt 2>/dev/null)
tar -czf "$OUT/logs.tgz" -C "$W" $(cd "$W" && ls *.md *.log 2>/dev/null)
ls -la "$OUT"
grep -h "^| [xo]\|^rc \|Error" "$W"/*.log

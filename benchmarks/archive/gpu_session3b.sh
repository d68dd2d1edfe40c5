#!/usr/bin/env bash
# The second, shorter GPU call of the session: the realistic axial rows under the old default
# (no held-out part, back-projection always, no noise on sons, one z step: the baseline of issue 16
# at full size), the new default with seed 1, and gradual stages for runs from the prior (issue 13:
# at x2 a 400-iteration run is one jump, while the from-scratch default climbs in 4 stages).
#
#   OUT=/tmp/gpu ZSSR_SET5=/path/to/Set5 bash benchmarks/gpu_session3b.sh
set -u
CAP=${CAP:-230}
source "$(dirname "$0")/gpu_parts.sh"

OLD="holdout_fraction=0.0 back_projection_auto=False noise_aware=False"
part old_x4 $PY benchmarks/axial_realistic.py --rows x4 --z-fwhm 1 --set $OLD --out "$W/old_x4.md"
part old_x2x6 $PY benchmarks/axial_realistic.py --rows x2-mid,x6-mid,old-x4 --z-fwhm 1 --set $OLD \
    --out "$W/old_x2x6.md"
part seed1_x4 $PY benchmarks/axial_realistic.py --rows x4 --seed 1 --out "$W/seed1_x4.md"
part seed1_other $PY benchmarks/axial_realistic.py --rows x2-high,x6-high,old-x4 --seed 1 --out "$W/seed1_other.md"
part set5_x2 $PY benchmarks/set5.py --scales 2 \
    --presets "default:init='prior';n_steps=4,default:init='prior';n_steps=4;prior_iters=600" --out "$W/set5_x2.md"
part set5_x4 $PY benchmarks/set5.py --scales 4 --presets "default:init='prior';prior_iters=600" --out "$W/set5_x4.md"
part stack bash -c "for p in \"default:init='prior';n_steps=4\" \"default:init='prior';n_steps=4;prior_iters=600\"; do \
    $PY benchmarks/stack.py --quality --size 128 --planes 1,10 --preset \"\$p\" --out $W/stack_\${#p}.md; done"
wait
tar -czf "$OUT/gpu_session3b.tgz" -C "$OUT" work
grep -h "^| x\|^| old\|^rc \|Error" "$W"/*.log | head -60
grep -h "mean\|^| [0-9]" "$W"/set5_*.md "$W"/stack_*.md

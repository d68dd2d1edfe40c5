"""Diagnostic: the expected gain measured on the data's own z lines, one scale down (degrade the
input in z once more, restore with the run's network, compare with the input), against the
xy-plane test (issue 32; results/real/z_self_test.md).

    PYTHONPATH=.:benchmarks python benchmarks/archive/z_self_test.py iso-x2-p1-brain-a,iso-x2-p1-wf
"""
import json
import sys
import time

import torch
from axial import interp_z
from axial_real import degrade_z, iso_sigma, load_volumes, reference
from realistic_rows import metrics

from napari_zssr.engine import ZSSRConfig
from napari_zssr.nd import super_resolve_nd
from napari_zssr.testing.estimates import axial_with_estimate

torch.set_num_threads(1)

vols = load_volumes()
cfg = ZSSRConfig.from_preset("default", num_threads=1)
for row in sys.argv[1].split(","):
    ref_kind, fs, ps, vname = row.split("-", 3)
    f, p = int(fs[1:]), float(ps[1:])
    vol = vols[vname]
    ref = reference(vol, ref_kind, iso_sigma(vol))
    raw = degrade_z(ref, f, p)
    t = time.process_time()
    run = axial_with_estimate(raw, scale=f, config=cfg)
    q = (run.result.params.get("quality") or [None])[0] or {}
    prof = run.result.params.get("z_fwhm_estimate") or {}
    pu = prof.get("z_fwhm_steps") if prof.get("used") else 1.0
    bp = (q.get("back_projection") or {}).get("used", True)
    true_gain = metrics(ref, run.result.data)[0] - metrics(ref, interp_z(raw, f, "cubic"))[0]
    res = {"row": row, "true": round(true_gain, 2), "xy_est": q.get("expected_gain_db"), "p_used": pu,
           "z_in": raw.shape[0]}
    son = degrade_z(raw, f, pu)
    if son.shape[0] >= 4:
        icfg = cfg.replace(back_projection_auto=False, holdout_fraction=0.0,
                           back_projection_iters=cfg.back_projection_iters if bp else 0)
        out = super_resolve_nd(son, "ZYX", mode="axial", scale=f, config=icfg, model=run.result.models, z_fwhm=pu)
        cub = interp_z(son, f, "cubic")
        # the son's planes map onto the input's planes as the input's onto the truth's
        res["z_est"] = round(metrics(raw, out.data)[0] - metrics(raw, cub)[0], 2)
        res["son_z"] = son.shape[0]
    res["s"] = round(time.process_time() - t)
    print(json.dumps(res), flush=True)

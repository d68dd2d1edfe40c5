"""Why the axial expected gain misses on real volumes (issue 32): sampling or content?

    python benchmarks/holdout_real_diagnose.py --rows iso-x4-p1-conf,iso-x4-p1-brain-a

For each row of `axial_real.py` (same volumes, references and degradation) it runs the default
once and puts side by side:
- true: the run's gain over cubic on the whole volume (and per direction: xz only, yz only);
- estimate: the run's expected gain (held-out LR xy planes, de-averaged, noise- and fusion-corrected);
- xy-all: the same network's gain on every xy plane of the reference (none of them is a training
  plane: the LR planes are slice-profile averages between them), degraded along y and along x as z
  was -- what the estimate would say with perfect sampling of the volume's xy planes;
- xy-held: the same on the reference planes nearest the run's held-out planes.
If xy-all is near the truth the miss is sampling (which planes, how few); if it is near the
estimate, xy planes and z lines differ in content and no test on xy planes can see it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from axial_real import degrade_z, iso_sigma, load_volumes, reference
from axial import interp_z
from realistic_rows import metrics


def psnr_gain(ref, out, cubic):
    return metrics(ref, out)[0] - metrics(ref, cubic)[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="iso-x4-p1-conf,iso-x4-p1-brain-a")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--out", default=None, help="append one JSON line per row here")
    args = ap.parse_args(argv)
    import torch
    from report import append_record, describe_device

    from napari_zssr.engine import ZSSRConfig
    from napari_zssr.quality.gain import held_out_gain
    from napari_zssr.nd import super_resolve_nd
    from napari_zssr.nd.intensity import Normalizer
    from napari_zssr.testing.estimates import axial_with_estimate
    torch.set_num_threads(args.threads)
    print(describe_device(), flush=True)
    vols = load_volumes()
    cfg = ZSSRConfig.from_preset("default", num_threads=args.threads, max_iters=args.iters)
    for name in args.rows.split(","):
        kind, fs, ps, vname = name.split("-", 3)
        f, p = int(fs[1:]), float(ps[1:])
        vol = vols[vname]
        ref = reference(vol, kind, iso_sigma(vol) if kind == "iso" else 0.0)
        raw = degrade_z(ref, f, p)
        c0 = time.process_time()
        run = axial_with_estimate(raw, scale=f, config=cfg)
        q = run.result.params["quality"][0]
        model = run.result.models[0]
        bp_used = q.get("back_projection", {}).get("used", True)
        icfg = cfg.replace(ensemble=False, back_projection_auto=False,
                           back_projection_iters=cfg.back_projection_iters if bp_used else 0, holdout_fraction=0.0)
        prof = run.result.params.get("z_fwhm_estimate") or {}
        z_fwhm = prof.get("z_fwhm_steps") if prof.get("used") else None
        cubic = interp_z(raw, f, "cubic")
        true = psnr_gain(ref, run.result.data, cubic)
        # one direction at a time: the same network, its fusion replaced by one side (frozen code:
        # the in-memory runner's `fuse`)
        from napari_zssr.nd import in_memory as plan
        per_dir, fuse = {}, plan.fuse
        for how, pick in (("xz", lambda a, b, h: a), ("yz", lambda a, b, h: b)):
            plan.fuse = pick
            try:
                out = super_resolve_nd(raw, "ZYX", mode="axial", scale=f, config=icfg, model=run.result.models,
                                       z_fwhm=z_fwhm)
                per_dir[how] = psnr_gain(ref, out.data, cubic)
            finally:
                plan.fuse = fuse
        norm = Normalizer.fit(raw)
        planes = norm.forward(ref)[:, None]                                  # (Z, 1, Y, X)
        fathers = [pl for pl in planes] + [np.ascontiguousarray(np.swapaxes(pl, -1, -2)) for pl in planes]
        allxy = held_out_gain(model, fathers, config=icfg).gain_db
        held = q.get("held_out", {}).get("planes", [])
        near = sorted({min(int(round((f - 1) / 2 + f * i)), ref.shape[0] - 1) for i in held})
        hf = [planes[i] for i in near] + [np.ascontiguousarray(np.swapaxes(planes[i], -1, -2)) for i in near]
        heldxy = held_out_gain(model, hf, config=icfg).gain_db if hf else None
        # per z-slab: where along z does the truth come from?
        thirds = np.array_split(np.arange(min(ref.shape[0], run.result.data.shape[0])), 3)
        slabs = [psnr_gain(ref[t], run.result.data[t], cubic[t]) for t in thirds]
        rec = {"row": name, "true": true, "estimate": q["expected_gain_db"],
               "single_direction": q.get("single_direction_gain_db"), "per_direction": per_dir,
               "xy_all": allxy, "xy_held": heldxy, "held_planes": held, "ref_planes_near_held": near,
               "z_thirds": slabs, "cpu_s": time.process_time() - c0}
        print(json.dumps(rec, default=float), flush=True)
        if args.out:
            append_record(args.out, rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())

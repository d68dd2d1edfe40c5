"""Why the expected gain misses on real volumes (issue 32): the held-out measure's variants on the
same trained networks, beside the true gain.

    python benchmarks/holdout_real.py --rows iso-x4-p1,acq-x2-p1-wf

Each row (benchmarks/axial_real.py's protocol and names) is restored once with the default; the
network, its held-out planes and its xz / yz results are taken from inside the run
(`run_spy.py`), and the held-out measure is repeated: as the run did; without de-averaging; with the
held-out planes blurred laterally by the width the z lines have beyond the slice profile in use
(`holdout.z_extra_blur`, from the data's own profile estimate, reliable or not); both. Each
estimate gets the run's fusion correction. Records go to results/real/holdout_real.jsonl.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import axial_real as real
from run_spy import spy_axial_runs

HERE = Path(__file__).resolve().parent


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="iso-x4-p1,acq-x4-p1")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--out", default=str(HERE / "results" / "real" / "holdout_real.jsonl"))
    args = ap.parse_args(argv)
    vols = real.load_volumes()
    if not vols:
        print(f"no real volumes at {real.REAL}: skipped")
        return 0
    from napari_zssr.engine import ZSSRConfig
    from napari_zssr.nd import holdout, plan
    from napari_zssr.nd.profile_estimate import profile_record
    from napari_zssr.nd.quality import axial_with_estimate

    cfg = ZSSRConfig.from_preset("default", num_threads=args.threads, max_iters=args.iters)
    seen = spy_axial_runs()
    wanted = [w for w in args.rows.split(",") if w]
    for name in real.row_names(vols):
        if not any(name.startswith(w) for w in wanted):
            continue
        ref_kind, fs, ps, vname = name.split("-", 3)
        f, p = int(fs[1:]), float(ps[1:])
        sigma = real.iso_sigma(vols[vname])
        ref = real.reference(vols[vname], ref_kind, sigma)
        raw = real.degrade_z(ref, f, p)
        seen.clear()
        c0 = time.process_time()
        run = axial_with_estimate(raw, scale=f, config=cfg)
        cubic = real.metrics(ref, real.cubic_z(raw, f))[0]
        true = real.metrics(ref, run.result.data)[0] - cubic
        prof = run.result.params.get("z_fwhm_estimate") or profile_record(raw, f) or {}
        used_px = (prof.get("z_fwhm_px") if prof.get("used") else f)
        extra = holdout.z_extra_blur(prof.get("z_fwhm_px"), used_px)
        sums = holdout.fusion_sums(seen["xz"], seen["yz"], plan.fuse(seen["xz"], seen["yz"], "geometric"),
                                   holdout.fusion_z_range(seen["xz"].shape[1], f))
        edge = seen["record"].get("edge_share")
        rec = {"row": name, "true_gain": true, "fwhm_est_steps": prof.get("z_fwhm_steps"),
               "reliable": prof.get("reliable"), "used": prof.get("used"), "extra_blur_px": extra,
               "run": seen["record"]["expected_gain_db"]}
        icfg = seen["icfg"]
        for key, kw in (("as_run", {}), ("no_deaverage", {"deaverage_planes": False}),
                        ("blur", {"extra_blur": extra}), ("blur_no_deaverage", {"extra_blur": extra,
                                                                                 "deaverage_planes": False})):
            r, _ = holdout.measure(seen["model"], seen["hold"], icfg, noisy=True, edge=edge, **kw)
            rec[key] = holdout.with_fusion(r, sums, "geometric")["expected_gain_db"]
            rec[key + "_1dir"] = r["expected_gain_db"]
        rec["cpu_s"] = time.process_time() - c0
        print(json.dumps(rec), flush=True)
        with Path(args.out).open("a") as fh:
            fh.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

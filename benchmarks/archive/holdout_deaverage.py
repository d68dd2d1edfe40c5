"""The axial held-out estimate with and without de-averaged held-out planes (quality/deaverage.py),
beside the true gain, on networks saved by holdout_diagnose.py --save (issue 16).

    python benchmarks/holdout_diagnose.py --rows x6-mid --size 128 --depth 96 --save caps/s0_x6-mid.pt \
        --out caps/s0_x6-mid.md
    python benchmarks/holdout_deaverage.py caps/*.pt

No training: each saved network is measured on its saved held-out planes twice (the engine's
`quality.holdout.measure`, back-projection as the run chose), then corrected for the fusion of the xz
and yz results with the run's own fusion record. CPU, fp32, 1 thread.
"""
from __future__ import annotations

import argparse
import math
import sys

import numpy as np
import torch


def estimates(cap):
    from napari_zssr.engine import ZSSRConfig
    from napari_zssr.quality.gain import GainEstimate, fused_estimate
    from napari_zssr.engine.zssr import TrainedModel, new_net
    from napari_zssr.quality.holdout import Holdout, measure

    cfg = ZSSRConfig(**cap["config"])
    icfg = ZSSRConfig(**cap["icfg"]).replace(back_projection_auto=False)
    net = new_net(cap["channels"], cfg, torch.device("cpu"))
    net.load_state_dict({k: v.float() for k, v in cap["state"].items()})
    net.eval()
    model = TrainedModel(net, tuple(cap["sf"]), cap["channels"], cap["kernel"], cfg.replace(precision="fp32"),
                         torch.device("cpu"), "fp32")
    hold = Holdout([], [h.astype(np.float32) for h in cap["held"]], True)
    fz = (cap["record"] or {}).get("fusion") or {}
    out = {}
    for name, flag in (("plain", False), ("deaveraged", True)):
        rec, _ = measure(model, hold, icfg, noisy=True, deaverage_planes=flag)
        one = rec["expected_gain_db"]
        fused = one
        if fz:
            est = fused_estimate(GainEstimate.from_dict(rec), fz["disagreement_mse"],
                                 fz["excess_mse"] if fz.get("how") != "arithmetic" else 0.0)
            fused = est.gain_db
        out[name] = (one, fused, rec.get("deaveraged", {}))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("caps", nargs="+", help=".pt files written by holdout_diagnose.py --save")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print("| row | true fused | est. fused before | error | **est. fused de-averaged** | **error** "
          "| true one direction | est. one before | est. one de-averaged | slice sigma px | noise gain |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    errs = {"plain": [], "deaveraged": []}
    for path in args.caps:
        for cap in torch.load(path, weights_only=False):
            m = cap["mse_true"]
            true_fused = 10 * math.log10(m["cubic"] / m["fused"])
            true_one = 10 * math.log10(m["cubic"] / ((m["xz"] + m["yz"]) / 2))
            e = estimates(cap)
            for k in errs:
                errs[k].append(e[k][1] - true_fused)
            d = e["deaveraged"][2]
            print(f"| {cap['row']} | {true_fused:+.2f} | {e['plain'][1]:+.2f} | {e['plain'][1] - true_fused:+.2f} | "
                  f"{e['deaveraged'][1]:+.2f} | {e['deaveraged'][1] - true_fused:+.2f} | {true_one:+.2f} | "
                  f"{e['plain'][0]:+.2f} | {e['deaveraged'][0]:+.2f} | {d.get('slice_sigma_px', 0):.2f} | "
                  f"{d.get('noise_gain', 1):.2f} |", flush=True)
    for k, v in errs.items():
        v = np.asarray(v)
        print(f"{k}: within 0.5 dB on {int(np.sum(np.abs(v) <= 0.5))} of {v.size} rows, mean |error| "
              f"{np.mean(np.abs(v)):.2f} dB, from {v.min():+.2f} to {v.max():+.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Offline study of the held-out estimate on networks saved by holdout_diagnose.py (issue 16).

For each saved row it rebuilds the row's noise-free acquisition (the simulation is deterministic),
finds the held-out planes' normalisation, and prints, beside the true gain of one direction on the
volume (from the diagnose table next to the .pt file):
  - "engine": the estimate of `quality.holdout.measure` on the saved network (no back-projection choice);
  - "oracle": the same held-out sons judged against the noise-free father (the best any noise
    correction could do; what is left is the xy planes' own bias);
  - with --sons, the oracle for three ways to give sons noise: like a real acquisition (noise-free
    son + white Poisson-Gaussian noise), signal-dependent from a local variance map, one level.

    python benchmarks/holdout_diagnose.py --rows x2-high,x4-mid --save caps/s0_a.pt --out caps/s0_a.md
    python benchmarks/holdout_study.py caps --seed 0 [--rows x2-high] [--sons]

CPU, fp32, 1 thread; ~15 s per row at 96x256x256 (x2-x6).
"""
from __future__ import annotations

import argparse
import glob
import math
import sys
from pathlib import Path

import numpy as np
import torch
from realistic_rows import make_row, select
from scipy import ndimage


def noise_free_raw(row, seed):
    """(raw, the same acquisition without noise in ADU) of a benchmark row."""
    import napari_zssr.testing.simulate as sim
    got, camera = {}, sim.camera

    def spy(electrons, gain=2.0, offset=100.0, read_noise=2.0, rng=None):
        got["clean"] = offset + gain * np.asarray(electrons, np.float64)
        return camera(electrons, gain, offset, read_noise, rng)

    sim.camera = spy
    try:
        raw, _ = make_row(row, 256, 96, seed)
    finally:
        sim.camera = camera
    return raw, got["clean"]


def true_one_direction(folder: Path, seed: int) -> dict:
    out = {}
    for md in glob.glob(str(folder / f"s{seed}_*.md")):
        for line in open(md):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) > 4 and cells[0][:1] in "xo" and cells[3][:1] in "+-":
                out[cells[0]] = float(cells[3])
    return out


def study(cap, seed, truth, sons: bool):
    from napari_zssr.engine import ZSSRConfig
    from napari_zssr.engine.infer import super_resolve_tensor
    from napari_zssr.engine.kernels import downscale
    from napari_zssr.engine.noise import local_signal
    from napari_zssr.quality.gain import aligned_length, noise_kept
    from napari_zssr.engine.resize import imresize
    from napari_zssr.engine.zssr import TrainedModel, new_net
    from napari_zssr.quality.holdout import Holdout, holdout_planes, measure

    row = select(cap["row"])[0]
    raw, clean = noise_free_raw(row, seed)
    cfg, icfg = ZSSRConfig(**cap["config"]), ZSSRConfig(**cap["icfg"]).replace(back_projection_auto=False)
    idx = holdout_planes(raw.shape[0], cfg.holdout_fraction)
    held = [h.astype(np.float32) for h in cap["held"]]
    a, c = np.polyfit(np.concatenate([raw[i].ravel() for i in idx]).astype(float),
                      np.concatenate([h.ravel() for h in held]).astype(float), 1)
    cleans = [(a * clean[i] + c)[None].astype(np.float32) for i in idx]
    net = new_net(cap["channels"], cfg, torch.device("cpu"))
    net.load_state_dict({k: v.float() for k, v in cap["state"].items()})
    net.eval()
    sf, kernel = tuple(cap["sf"]), cap["kernel"]
    model = TrainedModel(net, sf, cap["channels"], kernel, cfg.replace(precision="fp32"), torch.device("cpu"), "fp32")
    hold = Holdout([], held, True)
    nv = hold.noise_variance()
    nm = hold.noise_model(nv)
    engine, _ = measure(model, hold, icfg, noisy=True)

    def sr(lr):
        with torch.no_grad():
            return super_resolve_tensor(net, lr, sf, kernel, "fp32", ensemble=icfg.ensemble,
                                        bp_iters=icfg.back_projection_iters, clip=icfg.clip, tile=icfg.tile,
                                        channels_last=icfg.channels_last)

    g = torch.Generator().manual_seed(0)

    def oracle(son_of):
        se_m = se_c = 0.0
        for k, i in enumerate(idx):
            for tr in (False, True):
                noisy, cf = held[k][0], cleans[k][0]
                if tr:
                    noisy, cf = noisy.T, cf.T
                h, w = aligned_length(cf.shape[0], sf[0]), aligned_length(cf.shape[1], sf[1])
                noisy, cf = np.ascontiguousarray(noisy[:h, :w]), np.ascontiguousarray(cf[:h, :w])
                lr = son_of(noisy, cf, i, tr)
                out, cub = sr(lr[0])[0].numpy(), imresize(lr, sf, output_shape=(h, w))[0, 0].numpy()
                s = math.ceil(sf[0])
                inner = (slice(s, h - s), slice(1, w - 1))
                se_m += np.sum((out[inner] - cf[inner]) ** 2)
                se_c += np.sum((cub[inner] - cf[inner]) ** 2)
        return 10 * np.log10(se_c / se_m)

    def t4(x):
        return torch.as_tensor(np.ascontiguousarray(x)[None, None].astype(np.float32))

    def down(x):
        return downscale(x, (1 / sf[0], 1 / sf[1]), kernel=kernel)

    def engine_son(noisy, cf, i, tr):
        """As the engine makes a held-out son: signal-dependent noise from the fitted model."""
        f = t4(noisy)
        var = nm.variance(local_signal(f))
        kept = noise_kept(f.shape[-2:], sf, kernel)
        lr_var = (1 - kept) * down(var).clamp(min=0)
        return down(f) + torch.sqrt(lr_var) * torch.randn(lr_var.shape, generator=g)

    line = (f"| {cap['row']} | {truth.get(cap['row'], float('nan')):+.2f} | {engine['expected_gain_db']:+.2f} | "
            f"{oracle(engine_son):+.2f} |")
    if sons:
        def acquisition_son(noisy, cf, i, tr):
            var = a * a * (2.0 * np.clip(clean[i] - 100.0, 0, None) + 16.0)   # Poisson-Gaussian, gain 2, read 2 e-
            var = var.T if tr else var
            lr_var = down(t4(np.ascontiguousarray(var[:cf.shape[0], :cf.shape[1]]))).clamp(min=0)
            return down(t4(cf)) + torch.sqrt(lr_var) * torch.randn(lr_var.shape, generator=g)

        def map_son(noisy, cf, i, tr):
            checker = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64) / 6.0
            r = ndimage.convolve(noisy.astype(np.float64), checker, mode="reflect")
            local = ndimage.gaussian_filter(r * r, 4.0, mode="reflect")
            kept = noise_kept(noisy.shape, sf, kernel)
            return down(t4(noisy)) + torch.sqrt((1 - kept) * down(t4(local)).clamp(min=0)) * torch.randn(
                down(t4(noisy)).shape, generator=g)

        def flat_son(noisy, cf, i, tr):
            kept = noise_kept(noisy.shape, sf, kernel)
            son = down(t4(noisy))
            return son + math.sqrt((1 - kept) * nv) * torch.randn(son.shape, generator=g)

        line += f" {oracle(acquisition_son):+.2f} | {oracle(map_son):+.2f} | {oracle(flat_son):+.2f} |"
    return line


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", help="where holdout_diagnose.py --save put s{seed}_*.pt (and its .md tables)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rows", default=None, help="comma-separated row names (default: every noisy row saved)")
    ap.add_argument("--sons", action="store_true", help="also the oracle for three ways to give sons noise")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    folder = Path(args.folder)
    truth = true_one_direction(folder, args.seed)
    wanted = set(args.rows.split(",")) if args.rows else None
    head = "| row | true, one direction | engine estimate | oracle (engine's sons) |"
    sep = "|---|---|---|---|"
    if args.sons:
        head += " oracle: acquisition-like sons | local variance map | one level |"
        sep += "---|---|---|"
    print(head)
    print(sep)
    for p in sorted(glob.glob(str(folder / f"s{args.seed}_*.pt"))):
        for cap in torch.load(p, weights_only=False):
            if cap["row"] == "old-x4" or (wanted and cap["row"] not in wanted):
                continue                     # the old row has no camera to take the noise out of
            print(study(cap, args.seed, truth, args.sons), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The benchmarks' smoke rows, small and deterministic: proof that a refactoring changed no number.

    python benchmarks/smoke_rows.py                         # prints JSON, writes results/smoke_rows.json
    python benchmarks/smoke_rows.py --out before.json
    python benchmarks/smoke_rows.py --compare a.json b.json # exit 1 if any number or hash differs

Rows (each a shrunken copy of a benchmark, run the way that benchmark runs it):
  set5_x2      Set5 x2, the first image, engine train + apply (benchmarks/set5.py); skipped without Set5
  stack        benchmarks/stack.py --quality: 1 and 6 planes of a simulated 96x96 stack, x2 shared
  axial        benchmarks/axial.py: a 20x64x64 ground truth every 4th plane, isotropic, both fusions
  chunked_*    one axial and one two-channel lateral run block by block into OME-Zarr (nd.chunked)

One torch thread, fixed seeds, the CPU: every number is recorded at full precision, and every output
array as a sha256 of its bytes, so two runs compare bit for bit (--compare).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

import napari_zssr  # noqa: E402

HERE = Path(__file__).resolve().parent
# the benchmarks' helpers (stack._psnr, axial.make_data, ...) from the tree of the package under test,
# so that a run against an older commit (PYTHONPATH=...) uses that commit's helpers too
TREE = Path(napari_zssr.__file__).resolve().parents[1] / "benchmarks"
sys.path[:0] = [str(TREE), str(HERE)]
from report import describe_device  # noqa: E402

ITERS = dict(max_iters=120, prior_iters=60, test_every=30, crop_size=48, crop_size_beyond_x2=48)


def simulation():
    """The simulator module (napari_zssr.testing.simulate since issue 29; napari_zssr.simulate before)."""
    try:
        from napari_zssr.testing import simulate
    except ImportError:
        from napari_zssr import simulate
    return simulate


def digest(a) -> dict:
    a = np.ascontiguousarray(np.asarray(a))
    return {"sha256": hashlib.sha256(a.tobytes()).hexdigest(), "shape": list(a.shape), "dtype": str(a.dtype)}


def config(**extra):
    from napari_zssr.engine import ZSSRConfig
    return ZSSRConfig.from_preset("fast", seed=0, device="cpu", precision="fp32", num_threads=1,
                                  **{**ITERS, **extra})


def run_record(params: dict) -> dict:
    """The numbers of a run's record that a refactoring must not move."""
    keys = ("factors", "iterations", "started_from", "rec_error", "cubic_rec_error", "quality",
            "expected_gain_db", "normalisation", "noise_on_sons_model", "clipped_values", "z_fwhm",
            "z_fwhm_unit", "z_fwhm_estimate", "training_subset", "notices")
    return {k: params[k] for k in keys if k in params}


def set5_row() -> dict:
    from set5_common import set5_pairs, y_psnr

    from napari_zssr.engine import apply, train
    pairs = set5_pairs(2)
    if not pairs:
        return {"skipped": "Set5 not found (../shared/data/Set5 or $ZSSR_SET5)"}
    name, hr, lr = pairs[0]
    x = np.moveaxis(lr.astype(np.float32) / 255.0, -1, 0)
    model = train([x], 2, config())
    out = apply(model, x).cpu().numpy()
    sr = np.moveaxis(out, 0, -1)[: hr.shape[0], : hr.shape[1]]
    return {"image": name, "y_psnr": y_psnr(sr, hr, 2), "iterations": model.iterations,
            "rec_error": model.rec_error, "output": digest(out)}


def stack_row() -> dict:
    from stack import _psnr

    from napari_zssr.engine.resize import imresize
    from napari_zssr.nd import super_resolve_nd
    simulate_volume = simulation().simulate_volume
    vol = simulate_volume((6, 96, 96), seed=0)
    truth = vol * 3000 + 100
    vol = imresize(torch.from_numpy(truth.astype(np.float32)), 0.5).numpy()
    vol = np.clip(np.round(vol), 0, 65535).astype(np.uint16)
    rows = {}
    for n in (1, 6):
        data, axes = (vol[0], "YX") if n == 1 else (vol[:n], "ZYX")
        res = super_resolve_nd(data, axes, scale=2, config=config())
        ref = truth[0] if n == 1 else truth[:n]
        rows[f"planes_{n}"] = {"psnr": _psnr(res.data.astype(np.float64), ref), "output": digest(res.data),
                               "pixel_sizes": res.pixel_sizes, "record": run_record(res.params)}
    return rows


def axial_row() -> dict:
    from axial import make_data, metrics

    from napari_zssr.nd import super_resolve_nd
    gt, lr = make_data((20, 64, 64), 4, 0)
    rows, models = {}, None
    for fusion in ("geometric", "arithmetic"):
        res = super_resolve_nd(lr, "ZYX", mode="axial", scale=4.0, config=config(), axial_method="isotropic",
                               fusion=fusion, model=models)
        models = models or res.models               # as axial.py: the second fusion reuses the network
        psnr, ssim = metrics(gt, res.data)
        rows[fusion] = {"psnr": psnr, "ssim": ssim, "output": digest(res.data), "record": run_record(res.params)}
    return rows


def _chunked(source, output, **kw):
    """One chunked run through whichever API this commit has (the row must run before and after)."""
    import napari_zssr.nd.chunked as chunked
    from napari_zssr.nd.spec import RunSpec
    spec = RunSpec(**{k: kw.pop(k) for k in list(kw) if k in ("mode", "factors", "z_fwhm", "channels", "out_dtype")})
    if hasattr(chunked, "run_chunked"):          # since issue 29: typed options
        from napari_zssr.nd.chunked import BlockLayout, ClusterOptions, TrainingSample
        layout = BlockLayout(**{k: kw.pop(k) for k in list(kw) if k in ("slab", "tile", "zband")})
        return chunked.run_chunked(source, output, spec, kw.pop("config"), layout=layout,
                                   cluster=ClusterOptions(n_workers=1, processes=False),
                                   sample=TrainingSample(kw.pop("train_planes")))
    return chunked.run_big_volume(source, output, spec, n_workers=1, processes=False, **kw)


def chunked_rows(tmp: Path) -> dict:
    from napari_zssr.io.ome_zarr import read_ome_zarr, write_ome_zarr
    degrade, simulate_volume = simulation().degrade, simulation().simulate_volume
    rows = {}
    gt = simulate_volume((24, 40, 44), seed=1)
    lr = degrade(gt, z_step=4, xy_sigma=0.0, photons=None, read_noise=0.0, seed=1)
    lr = np.clip(np.round(lr * 3000 + 100), 0, 65535).astype(np.uint16)
    src = write_ome_zarr(tmp / "axial_in.zarr", lr, "ZYX", pixel_sizes={"z": 1.6, "y": 0.4, "x": 0.4},
                         chunks=(1, 20, 22))
    cases = {"chunked_axial": dict(source=src, mode="axial", config=config(), train_planes=8, slab=8, tile=16,
                                   zband=8)}
    two = simulate_volume((6, 36, 40), seed=2)
    two = np.stack([two, two[:, ::-1]]) * 2000 + 50                      # C, Z, Y, X
    src2 = write_ome_zarr(tmp / "lateral_in.zarr", np.round(two).astype(np.uint16), "CZYX",
                          pixel_sizes={"z": 1.0, "y": 0.3, "x": 0.3}, chunks=(1, 1, 36, 40))
    cases["chunked_lateral"] = dict(source=src2, factors=2, config=config(), train_planes=6, out_dtype="input")
    for name, kw in cases.items():
        out = tmp / f"{name}.zarr"
        res = _chunked(kw.pop("source"), out, **kw)
        img = read_ome_zarr(out)
        rows[name] = {"blocks": res.blocks, "shape": list(res.shape), "pixel_sizes": img.pixel_sizes,
                      "translate": img.translate, "output": digest(img.data.compute()),
                      "record": run_record(res.params)}
    return rows


def compare(a_path, b_path) -> int:
    """Every number and output hash of two runs: exit 1 if any value differs or a row's entry is
    gone; entries only the second run records (e.g. a record that gained fields) are listed."""
    a, b = (json.loads(Path(p).read_text())["rows"] for p in (a_path, b_path))
    changed, added = [], []

    def walk(x, y, where):
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                if k not in x:
                    added.append(f"{where}.{k}")
                else:
                    walk(x[k], y.get(k, "<missing>"), f"{where}.{k}")
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for i, (u, v) in enumerate(zip(x, y)):
                walk(u, v, f"{where}[{i}]")
        elif x != y:
            changed.append(f"{where}: {x!r} != {y!r}")
    walk(a, b, "rows")
    same = f"identical: every number and output hash of {a_path} is the same in {b_path}"
    print("\n".join(changed) if changed else same)
    if added:
        print(f"recorded only by {b_path} ({len(added)}): " + ", ".join(added))
    return 1 if changed else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(HERE / "results" / "smoke_rows.json"))
    ap.add_argument("--rows", default="set5,stack,axial,chunked")
    ap.add_argument("--compare", nargs=2, metavar="JSON")
    args = ap.parse_args(argv)
    if args.compare:
        return compare(*args.compare)
    torch.set_num_threads(1)
    import subprocess

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(napari_zssr.__file__).parent,
                            capture_output=True, text=True).stdout.strip()
    rows, wanted = {}, args.rows.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        makers = {"set5": lambda: {"set5_x2": set5_row()}, "stack": lambda: {"stack": stack_row()},
                  "axial": lambda: {"axial": axial_row()}, "chunked": lambda: chunked_rows(Path(tmp))}
        for key in wanted:
            rows.update(makers[key]())
            print(json.dumps({k: rows[k] for k in rows}, default=str)[-400:], flush=True)
    out = {"package": napari_zssr.__file__, "commit": commit, "device": describe_device("cpu"),
           "rows": json.loads(json.dumps(rows, default=str))}
    text = json.dumps(out, indent=1, default=str)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

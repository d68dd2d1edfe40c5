"""bioimage.io export end to end (issue 30): train on the bundled samples, export, validate, test, apply.

    python benchmarks/bioimageio_roundtrip.py                 # lateral x2, RGB x2, axial x4; 60 iterations
    python benchmarks/bioimageio_roundtrip.py --iters 400 --cases lateral --keep out/

For each case: `zssr IN -o trained.tif --save-model NAME.zip` (the package), bioimageio.core's
test of the package (both weight formats, several input sizes), `zssr IN -o applied.tif --model
NAME.zip`, and bioimageio.core's prediction on the whole training image compared with that
output (max |difference| over the normalisation span: the criterion is <= 1e-4). Needs the
[bioimageio] extra. Prints one table; nothing is downloaded.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from napari_zssr.cli import main as zssr
from napari_zssr.engine.model_package import package_info
from napari_zssr.io import read_image, write_image

SAMPLES = Path(__file__).resolve().parents[1] / "napari_zssr" / "sample_data"


def make_inputs(d: Path) -> dict:
    fl = read_image(SAMPLES / "fluorescence_2d.tif")
    write_image(d / "fluorescence_2d.tif", fl.data, "YX", fl.pixel_sizes)
    lo, hi = np.percentile(fl.data, [1, 99.5])
    u = np.clip((fl.data - lo) / (hi - lo), 0, 1)
    rgb = (np.stack([u, u[::-1], u[:, ::-1]], axis=-1) * 255).astype(np.uint8)
    write_image(d / "fluorescence_rgb.tif", rgb, "YXS", fl.pixel_sizes)
    st = read_image(SAMPLES / "anisotropic_zstack.tif")                    # ZCYX: the nuclei channel
    write_image(d / "zstack_nuclei.tif", st.data[:, 0, 48:144, 48:144], "ZYX", st.pixel_sizes)
    return {"lateral": ("fluorescence_2d.tif", ["--scale", "2"]),
            "rgb": ("fluorescence_rgb.tif", ["--scale", "2"]),
            "axial": ("zstack_nuclei.tif", ["--axial", "4"])}


def run_case(d: Path, name: str, src: str, opts: list, iters: int) -> dict:
    from bioimageio.core import create_prediction_pipeline, load_description, predict, test_model
    common = ["--max-iters", str(iters), "--seed", "0", "-q", "--dtype", "float32", *opts]
    pkg = d / f"{name}.zip"
    t0 = time.perf_counter()
    assert zssr([str(d / src), "-o", str(d / f"{name}_trained.tif"), "--save-model", str(pkg), *common]) == 0
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    summary = test_model(pkg)
    t_test = time.perf_counter() - t0
    assert zssr([str(d / src), "-o", str(d / f"{name}_applied.tif"), "--model", str(pkg), *common]) == 0
    applied = read_image(d / f"{name}_applied.tif").data
    same = bool(np.array_equal(applied, read_image(d / f"{name}_trained.tif").data))
    img = read_image(d / src)
    x = img.data.astype(np.float32)
    x = np.moveaxis(x, -1, 0)[None] if img.axes.endswith("S") else x[None, None]
    t0 = time.perf_counter()
    out = predict(model=create_prediction_pipeline(load_description(pkg), weight_format="torchscript"),
                  inputs={"input": x})
    t_pred = time.perf_counter() - t0
    y = out.members["output"].data.values[0]
    want = np.moveaxis(applied, -1, 0) if img.axes.endswith("S") else applied[None]
    span = max(n["hi"] - n["lo"] for n in package_info(pkg)["normalisation"])
    return {"case": name, "input": f"{src} {img.axes} {tuple(img.data.shape)}", "MB": pkg.stat().st_size / 2 ** 20,
            "core test": summary.status, "--model = trained": same,
            "max|pkg - zssr --model|/span": float(np.abs(y - want).max() / span) if y.shape == want.shape else None,
            "train+export s": t_train, "core test s": t_test, "predict s": t_pred}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=60, help="training iterations per network")
    ap.add_argument("--cases", default="lateral,rgb,axial")
    ap.add_argument("--keep", default=None, help="write the packages and images here (default: a temp dir)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    d = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="zssr-bmz-"))
    d.mkdir(parents=True, exist_ok=True)
    cases = make_inputs(d)
    rows = [run_case(d, c, *cases[c], args.iters) for c in args.cases.split(",")]
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in r.values()) + " |")
    print(f"packages in {d}" if args.keep else "")
    if not args.keep:
        shutil.rmtree(d, ignore_errors=True)
    ok = all(r["core test"] == "passed" and r["--model = trained"] and r["max|pkg - zssr --model|/span"] is not None
             and r["max|pkg - zssr --model|/span"] <= 1e-4 for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""How close nd.memory's estimate of an in-memory run's peak is to the measured peak RSS (issue 28).

Each case runs nd.super_resolve_nd in a fresh process with the network mocked (training returns
at once, inference returns ones of the right shape), so what is measured is exactly what the
estimate models besides the engine: the input and every copy nd.in_memory makes of it and of the
result. measured = peak RSS - RSS before the input was made; estimate = nd.memory.estimate(...)
less ENGINE_BYTES. The estimate should be above the measurement (it plans the worst case).

    python benchmarks/memory_plan.py            # a table; JSON lines with --json
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CASES = [  # (mode, shape, dtype, factors, axes)
    ("axial", (16, 512, 512), "uint16", {"z": 4.0}, "ZYX"),
    ("axial", (24, 384, 384), "float32", {"z": 2.5}, "ZYX"),
    ("lateral", (8, 1024, 1024), "uint16", {"y": 2.0, "x": 2.0}, "ZYX"),
    ("lateral", (2048, 2048), "float32", {"y": 3.0, "x": 3.0}, "YX"),
    ("lateral", (2, 4, 512, 512), "uint8", {"y": 2.0, "x": 2.0}, "CZYX"),
]

CHILD = r"""
import json, resource, sys, types
import numpy as np, psutil, torch
import napari_zssr.nd.in_memory as plan
from napari_zssr.engine.infer import output_shape
from napari_zssr.nd import super_resolve_nd
from napari_zssr.nd.spec import RunSpec

mode, shape, dtype, factors, axes = json.loads(sys.argv[1])

def fake_train(planes, run, cfg, icfg, prog, cancel, **kw):
    m = types.SimpleNamespace(sf=run.sf, iterations=0, rec_error=None, cubic_rec_error=None, init="random",
                              net=types.SimpleNamespace(depth=8, width=32), config=cfg, notices=[])
    return m, icfg, None

def fake_apply(model, batch, cancel=None, config=None):
    n, c, h, w = batch.shape
    return torch.ones((n, c, *output_shape((h, w), model.sf)), dtype=torch.float32)

plan.train_checked = fake_train
plan.apply = fake_apply
rss0 = psutil.Process().memory_info().rss
rng = np.random.default_rng(0)
data = (rng.integers(0, 200, size=shape, dtype=np.uint8).astype(dtype) if dtype != "uint8"
        else rng.integers(0, 200, size=shape, dtype=np.uint8))
f = tuple(factors.values()) if mode == "lateral" else (factors["z"],)
spec = RunSpec(mode=mode, factors=f, z_fwhm=1.0 if mode == "axial" else None, out_dtype="input")
res = super_resolve_nd(data, axes, spec)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"measured": peak - rss0, "out_shape": list(res.data.shape)}))
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    from napari_zssr.nd.memory import ENGINE_BYTES, estimate

    rows = []
    for mode, shape, dtype, factors, axes in CASES:
        out = subprocess.run([sys.executable, "-c", CHILD, json.dumps([mode, shape, dtype, factors, axes])],
                             capture_output=True, text=True, check=True)
        got = json.loads(out.stdout.strip().splitlines()[-1])
        est = estimate(shape, dtype, mode, factors).peak - ENGINE_BYTES
        rows.append({"mode": mode, "shape": list(shape), "dtype": dtype, "factors": factors,
                     "measured_mib": round(got["measured"] / 2**20, 1), "estimate_mib": round(est / 2**20, 1),
                     "ratio": round(est / got["measured"], 2)})
    for r in rows:
        if args.json:
            print(json.dumps(r))
        else:
            print(f"{r['mode']:8s} {'x'.join(map(str, r['shape'])):>16s} {r['dtype']:8s} "
                  f"{'/'.join(f'{v:g}' for v in r['factors'].values()):8s} measured {r['measured_mib']:8.1f} MiB"
                  f"  estimate {r['estimate_mib']:8.1f} MiB  estimate/measured {r['ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

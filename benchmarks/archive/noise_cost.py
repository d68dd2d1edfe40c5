"""What signal-dependent noise on sons costs per training iteration (issue 16), CPU, 1 thread.

    python benchmarks/noise_cost.py

Trains 150 iterations on 16 xy planes of a simulated 128x128 acquisition (x4, Gaussian kernel,
96² crops) with one global noise level and with the signal-dependent model, twice each,
and prints CPU seconds (2026-11-30, AVX2 EPYC: 44.2 vs 48.0 s, +9 %).
"""
import time

import numpy as np
import torch
from report import cpu_name

from napari_zssr.engine import ZSSRConfig
from napari_zssr.engine.kernels import fwhm_to_sigma, gaussian_kernel
from napari_zssr.engine.zssr import train
from napari_zssr.testing.simulate import simulate_acquisition

torch.set_num_threads(1)
print(f"CPU: {cpu_name()}, torch {torch.__version__}, 1 thread")
raw = simulate_acquisition((48, 128, 128), z_step=1, seed=0, photons=200.0, z_fwhm_px=0.0).raw.astype(np.float32)
raw = (raw - raw.min()) / (raw.max() - raw.min())
planes = [raw[z][None] for z in range(0, 48, 3)]
k = gaussian_kernel(fwhm_to_sigma(4.0), 0.0)
base = ZSSRConfig(max_iters=150, num_threads=1, precision="fp32", holdout_fraction=0.0, allow_rotation=True)
runs = (("one global level", base.replace(noise_std=0.03)),
        ("signal-dependent", base.replace(noise_slope=0.004, noise_intercept=1e-4)))
for name, cfg in runs * 2:
    t = time.process_time()
    train(planes, (4.0, 1.0), cfg, kernel=k)
    print(f"{name}: {time.process_time() - t:.1f} CPU s for 150 iterations", flush=True)

"""Learn the starting weights ("prior") that ZSSR's per-image training starts from.

    python tools/train_prior.py --family lateral --channels 1 --steps 9000
    python tools/train_prior.py --family lateral --channels 3 --steps 9000
    python tools/train_prior.py --family axial --channels 1 --steps 6000

Each step is a batch of ZSSR tasks: a training image, a scale factor and a downscaling kernel,
drawn at random; each task gives one father/son pair made by the engine's own `ExampleSampler`
(the same crops, affine/rotation/mirror augmentations, kernel-aware downscaling and cubic upscaling
as a run on a user's image). The network learns son -> father across all of them (multi-task
pre-training, as MZSR's first phase), optionally followed by first-order meta-learning (Reptile:
a few adaptation steps on one task, then a move of the weights towards the adapted ones), so that
a short ZSSR run on a new image starts close to where a long one would end.

Families (one set of weights each, for 1 and 3 channels):
- lateral: both axes upscaled (x1.05 .. x4, also anisotropic pixels), MATLAB bicubic or Gaussian
  PSF kernels of several widths;
- axial: one axis upscaled (x1.5 .. x8) with a Gaussian slice profile (FWHM 0.5..1.5 new steps)
  or bicubic, along y or x.

Training data (offline, nothing used for evaluation): scikit-image's bundled images (photos and
scientific images; `coins` and `coffee` are held out for validation) and the project's
fluorescence simulator (nuclei, filaments, beads; seeds >= 100, never the samples' or the
benchmarks' seeds 0..3), with and without camera noise. Deterministic for a given --seed.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))   # benchmarks/report.py
from report import cpu_name  # noqa: E402

from napari_zssr.engine.config import ZSSRConfig
from napari_zssr.engine.device import autocast, cpu_has_fast_bf16, train_channels_last
from napari_zssr.engine.examples import ExampleSampler, Source, make_son
from napari_zssr.engine.kernels import fwhm_to_sigma, gaussian_kernel
from napari_zssr.engine.network import ZSSRNet
from napari_zssr.engine.noise import NoiseModel
from napari_zssr.engine.prior import PRIOR_DIR, prior_filename, save_prior
from napari_zssr.engine.resize import imresize
from napari_zssr.engine.training import train_step
from napari_zssr.nd.pipeline import data_noise, lost_to_son

GRAY_SKIMAGE = ["camera", "brick", "cell", "clock", "grass", "gravel", "moon", "page", "text",
                "microaneurysms", "shepp_logan_phantom"]
RGB_SKIMAGE = ["astronaut", "chelsea", "hubble_deep_field", "immunohistochemistry", "retina", "rocket"]
VALIDATION = {"gray": "coins", "rgb": "coffee"}
SIM_KINDS = ["nuclei+filaments", "nuclei", "filaments", "beads", "nuclei+beads"]


def _skimage(name: str) -> np.ndarray:
    import skimage.data
    a = np.asarray(getattr(skimage.data, name)(), dtype=np.float32)
    if a.max() > 1.5:
        a = a / 255.0
    return a


def _gray(a: np.ndarray) -> np.ndarray:
    return a if a.ndim == 2 else (a[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32))


def _simulated(n: int, seed: int) -> list:
    """n (image, has camera noise) pairs of simulated fluorescence, every other one noisy."""
    from napari_zssr.testing.simulate import add_noise, simulate_image_2d
    rng = np.random.default_rng([seed, 11])
    out = []
    for i in range(n):
        s = 100 + seed * 1000 + i                    # never the samples' or benchmarks' seeds (0..3)
        kind = SIM_KINDS[i % len(SIM_KINDS)]
        img = simulate_image_2d((256, 256), seed=s, kind=kind, psf_sigma=float(rng.uniform(0.8, 2.0)))
        if i % 2:                                     # half of them as a camera sees them
            img = add_noise(img, photons=float(rng.choice([50, 200, 1000])), read_noise=2.0, seed=s)
            lo, hi = np.percentile(img, [0.1, 99.9])  # as nd normalises user data
            img = (img - lo) / max(hi - lo, 1e-6)
        out.append((img.astype(np.float32), bool(i % 2)))
    return out


def training_images(channels: int, seed: int, n_sim: int = 40):
    """((C, H, W) float32 tensors roughly in [0, 1], the indices of those with camera noise)."""
    if channels == 3:
        imgs, noisy = [np.moveaxis(_skimage(n)[..., :3], -1, 0) for n in RGB_SKIMAGE], set()
    else:
        imgs = [_gray(_skimage(n))[None] for n in GRAY_SKIMAGE + RGB_SKIMAGE]
        sims = _simulated(n_sim, seed)
        noisy = {len(imgs) + i for i, (_, has_noise) in enumerate(sims) if has_noise}
        imgs += [img[None] for img, _ in sims]
    return [torch.from_numpy(np.ascontiguousarray(i)) for i in imgs], noisy


def validation_pairs(channels: int, family: str) -> list:
    """(son, father) pairs from held-out images at a few factors: watched, never trained on."""
    name = VALIDATION["rgb" if channels == 3 else "gray"]
    a = _skimage(name)
    imgs = [np.moveaxis(a[..., :3], -1, 0) if channels == 3 else _gray(a)[None]]
    if channels == 1:
        from napari_zssr.testing.simulate import simulate_image_2d
        imgs.append(simulate_image_2d((256, 256), seed=999_999, kind="nuclei+filaments")[None])
    pairs = []
    for img in imgs:
        t = torch.from_numpy(np.ascontiguousarray(img))[None]
        for sf, k in _validation_tasks(family):
            pairs.append((make_son(t, sf, k), t))
    return pairs


def _validation_tasks(family: str):
    if family == "axial":
        return [((4.0, 1.0), gaussian_kernel(fwhm_to_sigma(4.0), 0.0)),
                ((2.0, 1.0), gaussian_kernel(fwhm_to_sigma(2.0), 0.0))]
    return [((2.0, 2.0), None), ((1.19, 1.19), None), ((4.0, 4.0), None), ((2.0, 2.0), gaussian_kernel(1.0, 1.0))]


def draw_task(family: str, rng: np.random.Generator):
    """(sf, kernel, allow_rotation) of one random ZSSR task of the family."""
    if family == "axial":
        f = float(np.exp(rng.uniform(math.log(1.5), math.log(8.0))))
        if rng.random() < 0.7:
            k = gaussian_kernel(fwhm_to_sigma(f * rng.uniform(0.5, 1.5)), 0.0)
        else:
            k = None
        return (f, 1.0), k, False
    # lateral: half in the gradual-stage range (x1.05 .. x1.25), half one jump (x1.25 .. x4)
    if rng.random() < 0.5:
        s = float(rng.uniform(1.05, 1.25))
    else:
        s = float(np.exp(rng.uniform(math.log(1.25), math.log(4.0))))
    sf = (s, s)
    if rng.random() < 0.15:                             # non-square pixels
        sf = (s, float(max(1.05, s * rng.uniform(0.5, 0.9))))
        if rng.random() < 0.5:
            sf = sf[::-1]
    if rng.random() < 0.6:
        return sf, None, True
    sig = [max(0.3, v * rng.uniform(0.3, 0.7)) for v in sf]
    return sf, gaussian_kernel(sig[0], sig[1]), True


class TaskStream:
    """One father/son pair per task, made by the engine's sampler on a randomly rescaled image.
    noisy_sons: sons get back the noise their downscaling removed, at the level measured in the
    image, as a noise-aware axial run gives them (so the prior starts from a net that does not
    sharpen noise, which is what a run on a noisy volume would otherwise spend its steps learning)."""

    def __init__(self, images, family: str, crop: int, rng: np.random.Generator, noisy=()):
        self.images, self.family, self.rng = images, family, rng
        self.cfg = ZSSRConfig(crop_size=crop, source_sized_crops=False)
        # only images with real camera noise: a photo's finest detail, in the spectrum's corner,
        # would read as noise (a microscope's xy sampling leaves only noise there)
        self.noise = {i: data_noise(images[i].numpy().reshape((-1,) + tuple(images[i].shape[-2:])))
                      for i in noisy}

    def _image(self):
        i = int(self.rng.integers(len(self.images)))
        img = self.images[i]
        noise = self.noise.get(i)
        # random content scale (antialiased), contrast and offset: more variety from few images
        s = float(self.rng.uniform(0.5, 1.0))
        h, w = img.shape[-2:]
        # an image with noisy sons keeps its pixels: rescaling would change its noise's statistics
        if s < 0.95 and min(h, w) * s > 2 * self.cfg.crop_size and noise is None:
            img = imresize(img[None], (s, s))[0]
        a, b = float(self.rng.uniform(0.6, 1.2)), float(self.rng.uniform(-0.05, 0.1))
        img = img * a + b
        if noise is not None:       # variance a^2 (slope s + c) at s = (s' - b) / a
            noise = NoiseModel(a * noise.slope, a * a * noise.intercept - a * b * noise.slope)
        if self.family == "axial" and self.rng.random() < 0.5:
            img = img.transpose(-1, -2)                   # the profile along x as often as along y
        return img.contiguous(), noise

    def pair(self, task=None):
        sf, k, rot = task or draw_task(self.family, self.rng)
        img, noise = self._image()
        cfg = self.cfg
        if noise is not None:
            son = lost_to_son(noise, sf, k)         # as nd.pipeline.noise_on_sons gives a run's sons
            cfg = cfg.replace(noise_slope=son.slope, noise_intercept=son.intercept)
        sampler = ExampleSampler([Source(img, 1.0)], sf, k, cfg, self.rng, rot)
        return sampler.batch(1)

    def batch(self, n: int, same_task: bool = False):
        task = draw_task(self.family, self.rng) if same_task else None
        xs, ys = zip(*(self.pair(task) for _ in range(n)))
        # a kernel's fathers are whole low-resolution pixels, so their size differs by task (62 at
        # x2.3, 31 on a short axis): batch them at the smallest common size, cut from the top left
        # where the kernel's grid starts
        h = min(x.shape[-2] for x in xs)
        w = min(x.shape[-1] for x in xs)
        return torch.cat([x[..., :h, :w] for x in xs]), torch.cat([y[..., :h, :w] for y in ys])


@torch.no_grad()
def validate(net, pairs, precision, dev="cpu") -> float:
    """Mean PSNR gain (dB) over cubic on the held-out pairs."""
    gains = []
    for son, father in pairs:
        son, father = son.to(dev), father.to(dev)
        with autocast(dev, precision):
            out = net(son).float()
        mse_net = torch.mean((out - father) ** 2).item()
        mse_cub = torch.mean((son - father) ** 2).item()
        gains.append(10 * math.log10(mse_cub / max(mse_net, 1e-12)))
    return float(np.mean(gains))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--family", choices=["lateral", "axial"], default="lateral")
    ap.add_argument("--channels", type=int, choices=[1, 3], default=1)
    ap.add_argument("--steps", type=int, default=9000, help="multi-task pre-training steps")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--width", type=int, default=ZSSRConfig.width, help="channels of the hidden layers")
    ap.add_argument("--depth", type=int, default=ZSSRConfig.depth, help="conv layers")
    ap.add_argument("--noisy-sons", action="store_true",
                    help="sons of camera-noisy images get the noise their downscaling removed (as noise-aware "
                         "axial runs make them)")
    ap.add_argument("--reptile-steps", type=int, default=0, help="meta-learning outer steps after pre-training")
    ap.add_argument("--inner", type=int, default=8, help="Reptile: adaptation steps per task")
    ap.add_argument("--inner-lr", type=float, default=3e-4)
    ap.add_argument("--meta-lr", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--validate-every", type=int, default=500)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (examples are made on the CPU either way)")
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="stop pre-training after this long (the card records the step reached)")
    ap.add_argument("--out", type=Path, default=None, help=f"default: {PRIOR_DIR}/<family>_<c>ch.safetensors")
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng([args.seed, args.channels, 0 if args.family == "lateral" else 1])
    dev = torch.device(args.device)
    precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp32") if dev.type == "cuda" else \
        ("bf16" if cpu_has_fast_bf16() else "fp32")
    images, noisy = training_images(args.channels, args.seed)
    stream = TaskStream(images, args.family, args.crop, rng, noisy if args.noisy_sons else ())
    val = validation_pairs(args.channels, args.family)
    cfg = ZSSRConfig()
    net = ZSSRNet(args.channels, args.depth, args.width, cfg.init_std_factor, seed=args.seed)
    # the engine's layout rule (fp32 on a CPU trains fastest in the plain layout)
    mem = torch.channels_last if train_channels_last(dev, precision, True) else torch.contiguous_format
    net = net.to(dev, memory_format=mem)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    print(f"# {args.family} prior, {args.channels} channel(s), {len(images)} training images, "
          f"{cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} threads, {precision}", flush=True)
    print(f"step 0 val_gain_db {validate(net, val, precision, dev):.3f}", flush=True)
    t0 = time.perf_counter()
    log = []
    warm = min(200, args.steps // 10 + 1)
    for it in range(args.steps):
        lr = 1e-6 + 0.5 * (args.lr - 1e-6) * (1 + math.cos(math.pi * it / args.steps))
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (it + 1) / warm)
        x, y = stream.batch(args.batch)
        loss = train_step(net, opt, x.to(dev).contiguous(memory_format=mem), y.to(dev), dev,
                          precision)
        over = args.max_minutes is not None and time.perf_counter() - t0 > 60 * args.max_minutes
        if (it + 1) % args.validate_every == 0 or it + 1 == args.steps or over:
            v = validate(net, val, precision, dev)
            log.append((it + 1, v))
            print(f"step {it + 1} loss {loss.item():.4f} val_gain_db {v:.3f} "
                  f"{time.perf_counter() - t0:.0f}s", flush=True)
        if over:
            stopped = it + 1
            break
    else:
        stopped = args.steps
    # Reptile (first order): adapt a copy to one task for `inner` steps, move towards it
    for it in range(args.reptile_steps):
        start = {k: v.detach().clone() for k, v in net.state_dict().items()}
        inner = torch.optim.Adam(net.parameters(), lr=args.inner_lr)
        task = draw_task(args.family, rng)
        for _ in range(args.inner):
            xs, ys = zip(*(stream.pair(task) for _ in range(max(1, args.batch // 2))))
            train_step(net, inner, torch.cat(xs).to(dev).contiguous(memory_format=mem),
                       torch.cat(ys).to(dev), dev, precision)
        eps = args.meta_lr * (1 - it / args.reptile_steps)
        net.load_state_dict({k: start[k] + eps * (v - start[k]) for k, v in net.state_dict().items()})
        if (it + 1) % max(1, args.validate_every // args.inner) == 0 or it + 1 == args.reptile_steps:
            v = validate(net, val, precision, dev)
            log.append((args.steps + it + 1, v))
            print(f"reptile {it + 1} val_gain_db {v:.3f} {time.perf_counter() - t0:.0f}s", flush=True)
    out = args.out or PRIOR_DIR / prior_filename(args.family, args.channels)
    card = {"family": args.family, "channels": args.channels, "steps": stopped, "batch": args.batch,
            "crop": args.crop, "lr": args.lr, "width": args.width, "depth": args.depth,
            "reptile_steps": args.reptile_steps, "noisy_sons": args.noisy_sons, "inner": args.inner,
            "inner_lr": args.inner_lr, "meta_lr": args.meta_lr, "seed": args.seed,
            "training_images": len(images), "validation": log[-3:], "seconds": round(time.perf_counter() - t0),
            "device": torch.cuda.get_device_name() if dev.type == "cuda" else cpu_name(), "precision": precision,
            "schedule_steps": args.steps,
            "command": " ".join(["python", "tools/train_prior.py"] + (argv if argv is not None else sys.argv[1:]))}
    save_prior(net, out, card)
    print(f"wrote {out}\n{json.dumps(card)}", flush=True)


if __name__ == "__main__":
    main()

"""Every knob of ZSSR in one dataclass, with named presets.

`paper` reproduces the authors' code (fp32, one jump, their schedule); `default` is this project's
faster schedule at the same or better quality; `fast` is for previews.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional, Tuple


@dataclass
class ZSSRConfig:
    # network
    depth: int = 8
    width: int = 64
    init_std_factor: float = 0.1          # std = sqrt(factor / (9 * C_in)), smaller than He for the residual
    # examples
    crop_size: int = 96                   # the paper's 128 at 0.56x the cost per step: see PRESETS
    crop_size_beyond_x2: int = 128        # gradual runs past x2: sons of 32 pixels at x4
    small_crop_fraction: float = 0.0      # this fraction of the iterations first, on crop_size // 2 crops
    batch_size: int = 1
    prob_as_is: float = 0.05
    prob_no_interp: float = 0.45          # the rest (0.5) is the affine mode
    no_interp_from_pool: bool = True      # "no interpolation" fathers also from earlier stage outputs
    source_sized_crops: bool = True       # fathers up to crop_size from any source big enough (batch 1)
    min_father_scale: float = 0.5
    scale_diff_sigma: float = 0.25
    shear_sigma: float = 0.1
    allow_rotation: Optional[bool] = None  # None: only when the kernel is symmetric
    noise_std: float = 0.0
    # axial runs: when noise_std is 0, sons get back the noise their downscaling removed, at the level
    # measured in the data (ZSSR's noise on sons), so the net does not learn to sharpen noise: on the
    # realistic benchmark's x2 at 200 photons -3.1 dB -> +2.3 dB over cubic (nd/pipeline.train_checked)
    noise_aware: bool = True
    # signal-dependent part of the sons' noise, variance = noise_slope * signal + noise_intercept on top
    # of noise_std^2 (engine/noise.py): shot noise grows with the signal, so one global level gives dim
    # parts too much and bright ones too little. Set from the data by noise-aware axial runs.
    noise_slope: float = 0.0
    noise_intercept: float = 0.0
    # optimisation
    learning_rate: float = 1e-3          # the paper's; 2e-3 killed the net on Set5 butterfly even with warm-up
    lr_drop_factor: float = 10.0
    min_learning_rate: float = 9e-6
    max_iters: int = 2000                 # the whole run's, shared by gradual stages; plateau: a cap
    budget_growth: float = 3.0            # gradual past x2: max_iters x this per further doubling (x4: 3x)
    min_iters_between_drops: int = 128
    test_every: int = 50
    lr_policy_every: int = 30
    lr_slope_range: int = 128
    lr_change_ratio: float = 1.5
    # "2018": numpy.polyfit covariance as in 2018 (residuals / (N - 4)); "unbiased": / (N - 2)
    slope_std: str = "2018"
    warmup_iters: int = 100               # cosine only: linear lr warm-up
    divergence_ratio: float = 3.0         # roll back when the test error exceeds this x the best; 0: off
    lr_schedule: str = "cosine"           # "cosine" (fixed length) or "plateau" (the paper's rule)
    test_max_pixels: int = 512 * 512      # reconstruction tests on a central crop at most this big
    # gradual SR and post-processing
    n_steps: int = 0                      # gradual scale increases; 1 = one jump, 0 = auto (see resolve_steps)
    gradual_ensemble: bool = True         # self-ensemble for the stage outputs that become fathers
    gradual_father_pixels: int = 512 * 512  # stage outputs (of a central crop of the input): at most this big
    back_projection_iters: int = 10       # 0 disables back-projection
    # keep back-projection only where it does better on held-out examples (quality/holdout.py; axial: unless
    # it costs more than AXIAL_BP_MARGIN_DB there): it is an unregularised deconvolution that amplifies
    # noise (simulated axial x4 at 200 photons: -1.5 dB with it, +0.4 without), while on real volumes
    # it helped on every row (benchmarks/results/real/); False: always use it
    back_projection_auto: bool = True
    ensemble: bool = True
    # self-ensemble for every plane of a stack, and an axial run's slices, too (8x inference, 4x for
    # axial slices): on the real confocal nucleus at x4 it changed the result by 0.001 dB
    stack_ensemble: bool = False
    # the quality estimate: this fraction of a stack's planes (or a band of a single image) is never
    # trained on; degraded as the input was, it measures the expected gain over cubic (testing/estimates.py).
    # 0: train on everything, no estimate (the paper preset)
    holdout_fraction: float = 0.1
    # starting point: "prior" loads the shipped learned weights that fit the run (engine/prior.py)
    # and trains with the short `prior_*` schedule below; "random" is the paper's start and schedule;
    # "auto" (default): the prior where it measured no worse than from scratch -- one plane, lateral
    # (its 32-wide network: Set5 x2 37.10 dB in 1000 iterations, each image within 0.1 dB of the
    # authors' code), and axial runs (the noise-aware axial prior, 2000 iterations: within 0.1 dB
    # of the 64-wide net from scratch on every simulated row, clean or at 50 photons, in ~0.3x its
    # CPU time) -- and random weights for a lateral stack (on a stack_width network: the lateral
    # prior lost 0.17 dB on the 10-plane simulated stack, four seeds).
    # benchmarks/results/prior/session9/, engine/priors/MODEL_CARD.md
    init: str = "auto"
    # the most channels of the network that "auto" trains from random weights for a lateral stack (several
    # planes, one network): on the 10-plane simulated stack (benchmarks/stack.py --planes 10
    # --size 128 --quality, seeds 0-3, 2000 iterations) 32 wide gave 46.79 / 48.00 / 47.34 / 48.63 dB
    # against 46.83 / 47.53 / 47.10 / 48.57 for 64 wide (+0.18 mean) in 0.31x the CPU time; from the
    # lateral prior (1000 iterations) 46.65 / 47.61 / 46.70 / 48.39 (-0.17); 32 wide, 1000
    # iterations 46.43 / 47.64 / 47.04 / 48.21 (-0.18). benchmarks/results/prior/session9/
    stack_width: int = 32
    # iterations of a run that starts from the prior (never more than max_iters); up to x2 in
    # gradual stages of at least PRIOR_STAGE_ITERS (x2: 4 stages of 250; one jump of 400 lost
    # 0.1-0.6 dB on Set5 and 2.7 dB on the stack benchmark). The shipped prior's network is 32
    # wide: a step costs ~0.4x a 64-wide one, so 1000 of them (Set5 x2 37.05 dB with the 4000-step
    # prior in 100.6 CPU s per image on an AVX2 CPU) beat 600 of the 64-wide prior (37.09 in
    # 162.8); 600 of them lost butterfly 0.33 dB
    prior_iters: int = 1000
    # budget_growth of a prior run past x2: x4 from the 32-wide prior with 3000 iterations gave
    # 30.76 dB, with 4000 (growth 4) 30.86 (the 64-wide prior's 1800: 30.85)
    prior_budget_growth: float = 4.0
    # an axial run from the axial prior trains prior_iters x this (never more than max_iters): as
    # many as from scratch, on the prior's 32-wide net. Same session, 1 thread of an AVX512-BF16
    # Xeon, from the prior with 1500 / 2000 iterations vs from scratch: clean simulated benchmark
    # (32x128x128, z x4) 36.83 / 36.79 dB vs 36.68; gain over cubic on the realistic rows at 50
    # photons x2 +5.45 / +5.65 vs +5.75, x4 +6.77 / +6.96 vs +6.97, x6 +6.41 / +6.55 vs +6.56;
    # 2000 iterations cost 107-116 CPU s per row against 349-363 (benchmarks/results/prior/session9/)
    prior_axial_growth: float = 2.0
    # the paper's lr from the prior too: on the prior's held-out images (coins, coffee; x2, 400
    # iterations) 1e-3 gave 30.04 / 32.94 dB, 5e-4 30.01 / 32.87, 2e-4 29.96 / 32.75
    prior_learning_rate: float = 1e-3
    prior_warmup_iters: int = 20
    # compute
    device: str = "auto"                  # "auto" (cuda, mps, cpu) or a torch device string
    precision: str = "auto"               # "auto", "fp32", "bf16"
    channels_last: bool = True
    num_threads: Optional[int] = None     # None: all cores
    seed: int = 0
    tile: Optional[int] = None            # inference tile edge (output pixels); None: from memory
    clip: Optional[Tuple[float, float]] = None  # valid data range (normalised), None: no clipping

    def replace(self, **changes) -> "ZSSRConfig":
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown ZSSR setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def from_prior(self, one_axis: bool = False) -> "ZSSRConfig":
        """The schedule of a run that starts from a learned prior (iterations, lr, warm-up);
        one_axis: one axis upscaled (axial), which trains prior_axial_growth times longer."""
        iters = int(round(self.prior_iters * (self.prior_axial_growth if one_axis else 1.0)))
        return self.replace(max_iters=min(self.max_iters, iters), learning_rate=self.prior_learning_rate,
                            warmup_iters=self.prior_warmup_iters, budget_growth=self.prior_budget_growth)

    @classmethod
    def from_preset(cls, name: str = "default", **overrides) -> "ZSSRConfig":
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
        return cls(**PRESETS[name]).replace(**{k: v for k, v in overrides.items() if v is not None})


# The dataclass defaults are the "default" preset: bf16 where the hardware has it (first layer in
# fp32), a cosine learning-rate decay from 1e-3 over max_iters (on Set5 x2 it beats the paper's
# plateau rule at equal iterations: benchmarks/results/archive/set5.md), and reconstruction tests
# (now only reported and watched for divergence) on at most 512x512 of the input.
# Crops are 96x96 for 2000 iterations: 0.74x the pixel updates of 1500 on 128x128. On Set5 x2
# (1 thread, seed 0) 96x2000 gave a mean of 36.99 dB, 96x2700 37.04 and 128x1500 37.02, while one
# image's result moves by up to 0.5 dB from seed to seed (butterfly 96x2700: 33.54 / 33.27 / 33.01),
# so the smaller crops cost nothing measurable and save a quarter of the time; longer runs did not
# help (96x4000: bird -0.06, woman -0.10 against 96x2700).
# Gradual SR is automatic (n_steps=0): up to x2 the 2000 iterations are shared by stages of at
# most x1.19 (x2: 4 stages of 500), each stage's output joining the fathers. At the same budget
# (1 thread, seed 0) Set5 x2 went from 36.99 dB (one jump) to 37.06 (2 steps) and 37.11 (4 steps).
# "No interpolation" fathers are drawn from those outputs too (as the original's augmentation
# picks its image by the drawn scale): x2 37.11 -> 37.19, x4 30.48 -> 30.64.
# Past x2 a run needs more (benchmarks/results/archive/x4_study/): Set5 x4 at 2000 iterations 30.64,
# 4000 30.89, 6000 on 24 stages about +0.13 more, 128x128 crops about +0.08 at 4000. So a gradual
# run past x2 trains budget_growth (3) times max_iters at most, in stages of 250 iterations, on
# crop_size_beyond_x2 crops (the paper's 128: the son of a x4 father keeps 32 pixels).
PRESETS = {
    # The authors' code: fp32, one jump, their lr rule and time scale with 2018 polyfit scaling,
    # tests on the whole input. channels_last is only a memory layout (same fp32 arithmetic).
    "paper": dict(init="random", precision="fp32", crop_size=128, slope_std="2018", lr_schedule="plateau",
                  learning_rate=1e-3,
                  max_iters=3000, test_every=50,
                  lr_policy_every=60, min_iters_between_drops=256, lr_slope_range=256,
                  test_max_pixels=10 ** 9, ensemble=True, back_projection_iters=10, divergence_ratio=0.0,
                  n_steps=1, holdout_fraction=0.0, back_projection_auto=False, noise_aware=False),
    "default": dict(),
    # Previews: 1600 iterations on 64x64 crops (a quarter of the pixels of 400 full ones, and a
    # 64^2 step runs 5x faster than a 128^2 one on a CPU), no self-ensemble; from the 32-wide prior
    # 500 (Set5 x2 36.65 dB in 24.3 CPU s per image on a 2-core AVX2 CPU, fp32, 1 thread; the
    # 64-wide prior's 300 gave 36.71 in 36.1)
    "fast": dict(crop_size=64, crop_size_beyond_x2=64, max_iters=1600, prior_iters=500, test_every=200,
                 ensemble=False),
}

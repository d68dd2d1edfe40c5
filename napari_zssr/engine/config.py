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
    # axial runs: sons get back the noise their downscaling removed (ZSSR's noise on sons), so the
    # net does not learn to sharpen noise (docs/defaults.md)
    noise_aware: bool = True
    # the signal-dependent part of the sons' noise (engine/noise.py), set from the data by axial runs
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
    # back-projection only where held-out examples say it helps (quality/holdout.py): it amplifies
    # noise; False: always (docs/defaults.md)
    back_projection_auto: bool = True
    ensemble: bool = True
    # the self-ensemble for every plane of a stack and an axial run's slices too (8x inference)
    stack_ensemble: bool = False
    # never trained on, the part that measures the expected gain over cubic; 0: no estimate (paper)
    holdout_fraction: float = 0.1
    # "prior": the shipped learned weights and the short prior_* schedule; "random": the paper's;
    # "auto": the prior where it measured no worse (one plane, axial), random for lateral stacks
    init: str = "auto"
    # the widest network "auto" trains from random weights for a lateral stack (docs/defaults.md)
    stack_width: int = 32
    # iterations of a run from the prior (at most max_iters), in gradual stages (docs/defaults.md)
    prior_iters: int = 1000
    # a prior run past x2 trains up to this x prior_iters
    prior_budget_growth: float = 4.0
    # an axial run from the axial prior trains prior_iters x this (at most max_iters)
    prior_axial_growth: float = 2.0
    # the paper's lr, from the prior too (docs/defaults.md)
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


# The dataclass defaults are the "default" preset: bf16 where the hardware has it, a cosine lr
# decay over max_iters, 96x96 crops, automatic gradual SR; past x2 budget_growth x the iterations
# (the measurements: docs/defaults.md).
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

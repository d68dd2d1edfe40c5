"""The one run specification: every option of an N-D run, checked when it is built.

The widget form, the `zssr` options, `zssr batch` tasks and the Python API all build a `RunSpec`
and hand it down whole. Each option's default, allowed values, limits and parsing are defined
once, in `nd.settings`; this module combines them (rules between options, rules that need the image).

    spec = RunSpec(mode="axial", z_fwhm=1.5, z_fwhm_unit="um")      # ValueError on a bad value
    run = spec.resolve(shape, axes, pixel_sizes)                     # defaults + one-line errors
    run.factors  -> {"z": 4.0};  run.kernel -> what the engine gets

Engine knobs (iterations, crop, seed, device, ...) stay in `engine.config.ZSSRConfig`; `init`
is the one engine knob a run may override here (None keeps the preset's).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, replace
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..engine.kernels import fwhm_to_sigma, gaussian_kernel, resolve_kernel
from ..engine.zssr import MAX_FACTOR, check_image, parse_scale
from ..axes import validate_axes

from .settings import (AXIAL_METHODS, CHANNELS, FUSIONS, INITS, KERNELS, MAX_FWHM_STEPS, MAX_SIGMA, MIN_TILE,
                       MIN_Z_PLANES, MODES, OUT_DTYPES, PLANES, SETTINGS, Z_FWHM_UNITS, check_factor, check_z_fwhm,
                       default_out_dtype, parse_factors, parse_kernel, setting)

MAX_FACTOR = MAX_FACTOR                    # defined by the engine (parse_scale), re-exported here


def _default(name: str):
    return SETTINGS[name].default_value()


def default_factors(mode: str, pixel_sizes: Optional[dict]) -> Dict[str, float]:
    """Factors that make pixels square (lateral; x2 when they already are) or voxels cubic
    (axial: z step / mean xy pixel size). ValueError when axial sizes are missing."""
    ps = {k.lower(): float(v) for k, v in (pixel_sizes or {}).items() if v}
    if mode == "axial":
        xy = [ps[a] for a in "yx" if ps.get(a)]
        if not ps.get("z") or not xy:
            raise ValueError("axial mode needs a z factor, or z and xy pixel sizes to derive it from")
        return {"z": ps["z"] / float(np.mean(xy))}
    y, x = ps.get("y"), ps.get("x")
    if y and x and not math.isclose(y, x, rel_tol=1e-3):
        return {"y": y / x, "x": 1.0} if y > x else {"y": 1.0, "x": x / y}
    return {"y": 2.0, "x": 2.0}


@dataclass(frozen=True)
class Resolved:
    """A spec made concrete for one image: what nd runs."""
    spec: "RunSpec"                  # with factors filled in
    axes: str
    sizes: Dict[str, int]            # axis letter -> length
    pixel_sizes: Dict[str, float]
    factors: Dict[str, float]        # {"y": sy, "x": sx} or {"z": sz}
    kernel: Any                      # what the engine gets: None, a name, a Gaussian tuple or an array

    @property
    def sf(self) -> Tuple[float, float]:
        """The engine's (vertical, horizontal) factor pair."""
        return (self.factors["z"], 1.0) if "z" in self.factors else (self.factors["y"], self.factors["x"])


@dataclass(frozen=True, eq=False)
class RunSpec:
    """Every option of one run (N-D data in, N-D data out). Values are checked when it is built."""
    mode: str = _default("mode")
    factors: Optional[Tuple[float, ...]] = None   # lateral (sy, sx) or (s,); axial (sz,); None: from pixel sizes
    kernel: Any = None                 # None/"bicubic", ("gaussian", sy, sx), or a 2-D array (axial: z profile)
    z_fwhm: Optional[float] = None     # axial slice profile FWHM (None: estimated from the data, else one z step) ...
    z_fwhm_unit: str = _default("z_fwhm_unit")   # ... in z steps or physical units of the pixel sizes
    axial_method: str = _default("axial_method")
    fusion: str = _default("fusion")
    planes: str = _default("planes")
    channels: str = _default("channels")
    out_dtype: str = default_out_dtype()      # "float32" or "input" (integers rounded and clipped, counted)
    tile: Optional[int] = None         # inference tile edge; None: from memory
    model: Any = None                  # a saved model's path, or trained model(s) to apply without training
    init: Optional[str] = None         # "auto", "prior" or "random" start of the network; None: the preset's

    def __post_init__(self):
        for name in ("mode", "axial_method", "fusion", "planes", "channels", "z_fwhm_unit"):
            setting(name).check(getattr(self, name))
        if self.out_dtype is None:
            object.__setattr__(self, "out_dtype", default_out_dtype())
        setting("out_dtype").check(self.out_dtype)
        if self.init is not None:
            setting("init").check(self.init)
        if self.factors is not None:
            f = parse_factors(self.factors) if self.mode == "lateral" else self._axial_factor(self.factors)
            object.__setattr__(self, "factors", f)
        if self.tile is not None:
            object.__setattr__(self, "tile", int(setting("tile").check(int(self.tile))))
        if self.z_fwhm is not None:
            object.__setattr__(self, "z_fwhm", check_z_fwhm(self.z_fwhm, self.z_fwhm_unit))
        k = parse_kernel(self.kernel)
        if isinstance(k, str) and k == "gaussian" and self.mode == "lateral":
            raise ValueError("a lateral Gaussian kernel needs its sigmas: ('gaussian', sy, sx)")
        if isinstance(k, tuple) and self.mode == "axial":
            raise ValueError("in axial mode give the z slice profile with z_fwhm, not a Gaussian kernel")
        if not (isinstance(self.kernel, str) and isinstance(k, str)):    # a name stays as given ("cubic")
            object.__setattr__(self, "kernel", k)
        if self.mode == "axial" and self.z_fwhm is not None and _is_array(self.kernel):
            raise ValueError("z_fwhm and a kernel array both set the axial profile; give one")

    @staticmethod
    def _axial_factor(factors) -> Tuple[float]:
        vals = (float(factors),) if np.isscalar(factors) else tuple(float(v) for v in factors)
        if len(vals) != 1:
            raise ValueError("axial mode takes one z factor, not a y,x pair")
        f = vals[0]
        if not math.isfinite(f) or f <= 1:
            raise ValueError(f"axial factor must be > 1 (z step coarser than xy); got {f:g}")
        check_factor(f)
        return (parse_scale((f, 1.0))[0],)

    # --- derived -----------------------------------------------------------------------------------
    def replace(self, **changes) -> "RunSpec":
        return replace(self, **changes)

    def resolve(self, shape, axes: str, pixel_sizes: Optional[dict] = None) -> Resolved:
        """Factors from the pixel sizes where not given, the engine kernel, and every check that
        needs the image's shape; ValueError with a one-line message."""
        axes = validate_axes(axes, len(shape))
        sizes = dict(zip(axes, (int(s) for s in shape)))
        ps = {k.lower(): float(v) for k, v in (pixel_sizes or {}).items() if v}
        if sizes["Y"] < 2 or sizes["X"] < 2:
            raise ValueError(f"the image is {sizes['Y']}x{sizes['X']} pixels; too small to super-resolve")
        if "S" in axes and sizes["S"] not in (3, 4):
            raise ValueError(f"S (RGB samples) must have 3 or 4 entries, not {sizes['S']}")
        if self.mode == "axial":
            if "Z" not in axes:
                raise ValueError(f"axial mode needs a Z axis (axes {axes})")
            f = self.factors[0] if self.factors else self._axial_factor(default_factors("axial", ps)["z"])[0]
            factors = {"z": f}
            kernel = self._axial_kernel(f, ps)
            if sizes["Z"] < MIN_Z_PLANES:
                raise ValueError(f"the volume has {sizes['Z']} z planes; axial mode needs at least {MIN_Z_PLANES}")
            if self.axial_method == "isotropic":
                check_image((sizes["Y"], sizes["X"]), (f, 1.0))
            else:
                check_image((sizes["Z"], min(sizes["Y"], sizes["X"])), (f, 1.0))
        else:
            if self.factors:
                sf = parse_scale(self.factors if len(self.factors) == 2 else self.factors[0])
            else:
                d = default_factors("lateral", ps)
                sf = parse_scale((d["y"], d["x"]))
            factors = {"y": sf[0], "x": sf[1]}
            kernel = self.kernel
            check_image((sizes["Y"], sizes["X"]), sf)
        spec = replace(self, factors=tuple(factors.values()))
        return Resolved(spec, axes, sizes, ps, factors, kernel)

    def _axial_kernel(self, factor: float, ps: dict):
        """The slice profile along z in output (xy-pixel) units, as a (K, 1) kernel (None: cubic)."""
        k = self.kernel
        if _is_array(k):
            return resolve_kernel(k)
        if isinstance(k, str) and k.lower() in ("bicubic", "cubic"):
            return None
        return gaussian_kernel(fwhm_to_sigma(self.axial_fwhm_px(factor, ps)), 0.0)

    def axial_fwhm_px(self, factor: float, ps: dict) -> float:
        """The slice-profile FWHM in xy pixels: z_fwhm in its unit, or one z step when not given."""
        if self.z_fwhm is None:
            fwhm_px = factor                          # unknown profile: as wide as one z step
        elif self.z_fwhm_unit == "steps":
            fwhm_px = float(self.z_fwhm) * factor
        else:
            xy = [ps.get(a) for a in "yx" if ps.get(a)]
            if not xy:
                raise ValueError("z FWHM in um needs the xy pixel size")
            fwhm_px = float(self.z_fwhm) / float(np.mean(xy))
        if not math.isfinite(fwhm_px) or fwhm_px <= 0 or fwhm_px > setting("z_fwhm").maximum * factor:
            raise ValueError(f"z FWHM of {fwhm_px:g} xy pixels is not plausible")
        return fwhm_px

    # --- records -----------------------------------------------------------------------------------
    def to_record(self) -> dict:
        """JSON-friendly record (metadata, manifests): arrays as their shape, models as their path."""
        rec = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "kernel":
                v = kernel_record(v)
            elif f.name == "model":
                v = str(v) if isinstance(v, (str, os.PathLike)) else (None if v is None else "<in memory>")
            elif isinstance(v, tuple):
                v = list(v)
            rec[f.name] = v
        return rec


def kernel_record(kernel):
    if kernel is None or isinstance(kernel, str):
        return kernel or "bicubic"
    if isinstance(kernel, (tuple, list)):
        return [k if isinstance(k, str) else float(k) for k in kernel]
    return {"array_shape": list(np.shape(kernel))}


def _is_array(k) -> bool:
    return k is not None and not isinstance(k, (str, tuple, list))


__all__ = ["RunSpec", "Resolved", "parse_factors", "default_factors", "kernel_record", "MODES", "KERNELS",
           "AXIAL_METHODS", "FUSIONS", "PLANES", "CHANNELS", "OUT_DTYPES", "Z_FWHM_UNITS", "INITS", "MAX_FACTOR",
           "MAX_SIGMA", "MIN_TILE", "MIN_Z_PLANES", "MAX_FWHM_STEPS"]

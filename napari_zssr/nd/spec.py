"""The one run specification: every option of an N-D run, its allowed values and limits.

The widget form, the `zssr` options, `zssr batch` tasks and the Python API all build a `RunSpec`
and hand it down whole; nothing else lists the allowed values or re-checks them.

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

# --- the allowed values (the only place they are listed) ------------------------------------------
MODES = ("lateral", "axial")
KERNELS = ("bicubic", "gaussian")          # named kernels; a 2-D array (or a file of one) also works
AXIAL_METHODS = ("isotropic", "zssr")
FUSIONS = ("geometric", "arithmetic")
PLANES = ("shared", "per-plane", "warm-start")
CHANNELS = ("independent", "joint")
OUT_DTYPES = ("float32", "input")
Z_FWHM_UNITS = ("steps", "um")
INITS = ("auto", "prior", "random")

# --- limits -------------------------------------------------------------------------------------
MAX_FACTOR = MAX_FACTOR                    # defined by the engine (parse_scale), re-exported here
MAX_SIGMA = 30.0                           # Gaussian kernel sigma, input pixels
MIN_TILE = 16                              # inference tile edge, output pixels
MIN_Z_PLANES = 4                           # axial mode
MAX_FWHM_STEPS = 64.0                      # slice profile FWHM, in z steps


def _choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def parse_factors(value) -> Tuple[float, ...]:
    """'2' / 2 -> (2.0,); '2,1.5' / (2, 1.5) -> (2.0, 1.5) (y, x); each in [1, MAX_FACTOR]."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        if not 1 <= len(parts) <= 2 or not all(parts):
            raise ValueError(f"{value!r} is not a factor or a 'y,x' pair of factors")
        try:
            vals = tuple(float(p) for p in parts)
        except ValueError:
            raise ValueError(f"{value!r} is not a number (e.g. 2 or 2,1.5)") from None
    elif np.isscalar(value):
        vals = (float(value),)
    else:
        vals = tuple(float(v) for v in value)
        if not 1 <= len(vals) <= 2:
            raise ValueError(f"give one factor or a (y, x) pair, not {len(vals)} values")
    parse_scale(vals if len(vals) == 2 else vals[0])       # the engine's range rule
    return vals


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
    mode: str = "lateral"
    factors: Optional[Tuple[float, ...]] = None   # lateral (sy, sx) or (s,); axial (sz,); None: from pixel sizes
    kernel: Any = None                 # None/"bicubic", ("gaussian", sy, sx), or a 2-D array (axial: z profile)
    z_fwhm: Optional[float] = None     # axial slice profile FWHM (None: estimated in nd.plan, else one z step) ...
    z_fwhm_unit: str = "steps"         # ... in z steps or physical units of the pixel sizes
    axial_method: str = "isotropic"
    fusion: str = "geometric"
    planes: str = "shared"
    channels: str = "independent"
    out_dtype: str = "float32"         # "float32" or "input" (integers rounded and clipped, counted)
    tile: Optional[int] = None         # inference tile edge; None: from memory
    model: Any = None                  # a saved model's path, or trained model(s) to apply without training
    init: Optional[str] = None         # "auto", "prior" or "random" start of the network; None: the preset's

    def __post_init__(self):
        _choice("mode", self.mode, MODES)
        _choice("axial_method", self.axial_method, AXIAL_METHODS)
        _choice("fusion", self.fusion, FUSIONS)
        _choice("planes", self.planes, PLANES)
        _choice("channels", self.channels, CHANNELS)
        _choice("z_fwhm_unit", self.z_fwhm_unit, Z_FWHM_UNITS)
        if self.out_dtype is None:
            object.__setattr__(self, "out_dtype", "float32")
        _choice("out_dtype", self.out_dtype, OUT_DTYPES)
        if self.init is not None:
            _choice("init", self.init, INITS)
        if self.factors is not None:
            f = parse_factors(self.factors) if self.mode == "lateral" else self._axial_factor(self.factors)
            object.__setattr__(self, "factors", f)
        if self.tile is not None:
            if int(self.tile) < MIN_TILE:
                raise ValueError(f"tile must be at least {MIN_TILE} pixels; got {self.tile}")
            object.__setattr__(self, "tile", int(self.tile))
        if self.z_fwhm is not None:
            v = float(self.z_fwhm)
            if not math.isfinite(v) or v <= 0:
                raise ValueError(f"the z FWHM must be > 0; got {self.z_fwhm!r}")
            object.__setattr__(self, "z_fwhm", v)
        k = self.kernel
        if isinstance(k, str):
            if k.lower() not in KERNELS + ("cubic",):
                raise ValueError(f"kernel must be one of {', '.join(KERNELS)} or a 2-D array; got {k!r}")
            if k.lower() == "gaussian" and self.mode == "lateral":
                raise ValueError("a lateral Gaussian kernel needs its sigmas: ('gaussian', sy, sx)")
        elif isinstance(k, (tuple, list)):
            if self.mode == "axial":
                raise ValueError("in axial mode give the z slice profile with z_fwhm, not a Gaussian kernel")
            if len(k) not in (2, 3) or k[0] != "gaussian":
                raise ValueError(f"a Gaussian kernel is ('gaussian', sy, sx) or ('gaussian', s); got {k!r}")
            sy, sx = float(k[1]), float(k[-1])
            if not all(math.isfinite(v) and 0 <= v <= MAX_SIGMA for v in (sy, sx)) or max(sy, sx) == 0:
                raise ValueError(f"Gaussian sigmas must be between 0 and {MAX_SIGMA:g} pixels, not both 0")
            object.__setattr__(self, "kernel", ("gaussian", sy, sx))
        elif k is not None:
            resolve_kernel(np.asarray(k))             # validates; the engine normalises the original
            object.__setattr__(self, "kernel", np.asarray(k))
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
        if not math.isfinite(fwhm_px) or fwhm_px <= 0 or fwhm_px > MAX_FWHM_STEPS * factor:
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
           "MAX_SIGMA", "MIN_TILE", "MIN_Z_PLANES"]

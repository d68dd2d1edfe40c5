"""Layer -> ZSSR job -> layers, without any GUI (the widget and the tests call these).

The widget only collects choices; everything that decides *what* is computed and *where* the
result lands in world coordinates lives here, so it can be tested without Qt:

* :func:`guess_axes` / :func:`validate_axes` - which dimension of a layer is T, Z, C, Y, X or S (RGB);
* :func:`pixel_sizes_from_scale` / :func:`default_factors` - factors that make pixels square
  (lateral) or voxels cubic (axial);
* :func:`snapshot_layer` / :func:`build_job` - everything the worker needs, captured at Run as
  plain data (no layer, no widget, no viewer);
* :func:`run_job` - the blocking call that runs in the worker thread;
* :func:`result_layer_data` - napari layer-data tuples for the result, with scale/translate from
  :func:`napari_zssr.nd.output_scale_translate` so the result overlays the source exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from napari_zssr.nd.axes import AXES as AXIS_LETTERS
from napari_zssr.nd.axes import validate_axes as nd_validate_axes

# axis_labels (lower-cased) that name a known axis; anything else is "unknown"
LABEL_TO_AXIS = {
    "t": "T", "time": "T", "frame": "T", "frames": "T",
    "z": "Z", "depth": "Z", "slice": "Z", "plane": "Z",
    "c": "C", "ch": "C", "channel": "C", "channels": "C",
    "y": "Y", "row": "Y", "rows": "Y",
    "x": "X", "col": "X", "column": "X", "columns": "X",
    "s": "S", "rgb": "S", "sample": "S", "samples": "S",
}

# what an unlabelled layer with this many (non-RGB) dimensions most likely is
DEFAULT_AXES = {2: "YX", 3: "ZYX", 4: "TZYX", 5: "TZCYX"}

# colormaps for one layer per channel when the source is plain gray (as napari's channel_axis)
CHANNEL_COLORMAPS_2 = ("magenta", "green")
CHANNEL_COLORMAPS = ("cyan", "magenta", "yellow", "red", "green", "blue")

KERNELS = ("bicubic", "gaussian")
MODES = ("lateral", "axial")
PLANES = ("shared", "per-plane", "warm-start")
CHANNEL_MODES = ("independent", "joint")
AXIAL_METHODS = ("isotropic", "zssr")
FUSIONS = ("geometric", "arithmetic")


# --------------------------------------------------------------------------------------------- axes
def guess_axes(ndim: int, rgb: bool = False, axis_labels: Optional[Sequence[str]] = None) -> str:
    """Axis letters of a layer's data from its axis labels, else from its dimensionality.

    ``ndim`` is the layer's number of dimensions (napari's ``layer.ndim``, i.e. without the RGB
    samples); the returned string has one more letter ("S") when ``rgb``.
    """
    axes = None
    if axis_labels is not None and len(axis_labels) == ndim:
        mapped = [LABEL_TO_AXIS.get(str(label).strip().lower()) for label in axis_labels]
        if all(mapped) and "S" not in mapped and len(set(mapped)) == ndim and {"Y", "X"} <= set(mapped):
            axes = "".join(mapped)
    if axes is None:
        if ndim not in DEFAULT_AXES:
            raise ValueError(
                f"cannot guess the axes of a {ndim}-D layer; type them in the 'axes' field "
                f"(letters from {AXIS_LETTERS}, e.g. TZCYX)")
        axes = DEFAULT_AXES[ndim]
    return axes + ("S" if rgb else "")


def validate_axes(axes: str, data_ndim: int, rgb: bool = False) -> str:
    """Check (and normalise to upper case) an axes string typed by the user; ValueError if bad."""
    axes = nd_validate_axes("".join(str(axes).split()).upper(), data_ndim)
    if rgb and not axes.endswith("S"):
        raise ValueError(f"axes {axes!r}: an RGB layer's last axis is S (the colour samples)")
    if "S" in axes and not rgb:
        raise ValueError(f"axes {axes!r}: S is only for RGB layers; use C for channels")
    return axes


def layer_axes(axes: str) -> str:
    """The axes napari shows as dimensions (all but the RGB samples)."""
    return axes.replace("S", "")


def pixel_sizes_from_scale(axes: str, scale: Sequence[float]) -> dict:
    """``{"z": 0.8, "y": 0.2, "x": 0.2, ...}`` from the layer scale (C and S have no size)."""
    dims = layer_axes(axes)
    if len(dims) != len(scale):
        raise ValueError(f"axes {axes!r} do not match a layer with {len(scale)} dimensions")
    return {a.lower(): float(s) for a, s in zip(dims, scale) if a not in "CS"}


def _nice(f: float) -> float:
    return float(round(f, 3))


def default_factors(mode: str, axes: str, pixel_sizes: dict) -> dict:
    """Factors that make the result's pixels square (lateral) or voxels cubic (axial).

    lateral: non-square pixels -> the coarser of y/x is upsampled by the ratio (the finer axis by 1);
    square pixels -> 2 on both.  axial: z factor = z spacing / xy spacing (2 when that is <= 1,
    e.g. for an uncalibrated stack, so the user still gets a sensible starting point).
    """
    y = float(pixel_sizes.get("y", 1.0))
    x = float(pixel_sizes.get("x", 1.0))
    if mode == "axial":
        if "Z" not in axes:
            raise ValueError("axial mode needs a Z axis; set the axes (e.g. ZYX)")
        z = float(pixel_sizes.get("z", 1.0))
        ratio = z / math.sqrt(y * x) if y > 0 and x > 0 else 1.0
        return {"z": _nice(ratio) if ratio > 1.001 else 2.0}
    if mode != "lateral":
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if y <= 0 or x <= 0 or abs(y / x - 1.0) < 1e-3:
        return {"y": 2.0, "x": 2.0}
    if y > x:
        return {"y": _nice(y / x), "x": 1.0}
    return {"y": 1.0, "x": _nice(x / y)}


# --------------------------------------------------------------------------------------------- jobs
@dataclass
class LayerSnapshot:
    """What the result needs from the source layer, captured when Run is pressed."""
    name: str
    data: Any                      # the array (numpy, dask, ...); np.asarray happens in the worker
    axes: str                      # one letter per data dimension (RGB samples = S, last)
    scale: tuple
    translate: tuple
    colormap: Any = "gray"
    blending: str = "translucent"
    contrast_limits: Optional[tuple] = None
    dtype: Any = None
    rgb: bool = False
    units: Optional[tuple] = None
    axis_labels: Optional[tuple] = None


@dataclass
class ZSSRJob:
    source: LayerSnapshot
    nd_kwargs: dict = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return self.nd_kwargs.get("mode", "lateral")


def snapshot_layer(layer, axes: Optional[str] = None) -> LayerSnapshot:
    """Capture an Image layer as plain data; ``axes`` overrides the guess from the layer."""
    from napari.layers import Image

    if not isinstance(layer, Image):
        raise ValueError("choose an image layer")
    if getattr(layer, "multiscale", False):
        raise ValueError(f"layer {layer.name!r} is multiscale; ZSSR needs a single-resolution image")
    rgb = bool(layer.rgb)
    data = layer.data
    data_ndim = layer.ndim + (1 if rgb else 0)
    labels = tuple(str(a) for a in getattr(layer, "axis_labels", ()) or ())
    if axes is None or not str(axes).strip():
        axes = guess_axes(layer.ndim, rgb, labels or None)
    axes = validate_axes(axes, data_ndim, rgb)
    units = getattr(layer, "units", None)
    return LayerSnapshot(
        name=str(layer.name),
        data=data,
        axes=axes,
        scale=tuple(float(s) for s in layer.scale),
        translate=tuple(float(t) for t in layer.translate),
        colormap=layer.colormap,
        blending=str(layer.blending),
        contrast_limits=tuple(float(c) for c in layer.contrast_limits) if layer.contrast_limits is not None else None,
        dtype=np.dtype(data.dtype),
        rgb=rgb,
        units=tuple(units) if units is not None else None,
        axis_labels=labels or None,
    )


def make_config(preset: str = "default", **overrides):
    """``ZSSRConfig.from_preset(preset, **overrides)``; ``None`` overrides keep the preset value."""
    from napari_zssr.engine.config import ZSSRConfig

    return ZSSRConfig.from_preset(preset, **overrides)


def build_job(
    layer,
    *,
    axes: Optional[str] = None,
    mode: str = "lateral",
    factors: Optional[dict] = None,
    kernel: str = "bicubic",
    sigma: Sequence[float] = (1.0, 1.0),
    z_fwhm: Optional[float] = None,
    z_fwhm_unit: str = "steps",
    axial_method: str = "isotropic",
    fusion: str = "geometric",
    planes: str = "shared",
    channels: str = "independent",
    out_dtype: Optional[str] = None,
    tile: Optional[int] = None,
    preset: str = "default",
    config=None,
    model: Optional[str] = None,
    **config_overrides,
) -> ZSSRJob:
    """Everything the worker needs to super-resolve ``layer``, as plain data.

    ``factors``: ``{"y": sy, "x": sx}`` (lateral) or ``{"z": sz}`` (axial); None -> :func:`default_factors`.
    ``kernel``: "bicubic" or "gaussian" (lateral: ``sigma`` = (sy, sx) in input pixels; axial: the
    z slice profile, ``z_fwhm`` in z steps or physical units).  ``config``: a ready ZSSRConfig, else
    one is made from ``preset`` and ``config_overrides`` (max_iters, crop_size, seed, device, ...).
    ``axial_method`` ("isotropic": learn from xy planes; "zssr": from the xz/yz slices themselves)
    and ``fusion`` (of the xz and yz results) apply in axial mode only.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, not {kernel!r}")
    snap = snapshot_layer(layer, axes)
    pixel_sizes = pixel_sizes_from_scale(snap.axes, snap.scale)
    if factors is None:
        factors = default_factors(mode, snap.axes, pixel_sizes)
    if mode == "axial":
        if "Z" not in snap.axes:
            raise ValueError("axial mode needs a Z axis; set the axes (e.g. ZYX)")
        scale = float(factors["z"])
        if scale <= 1.0:
            raise ValueError(f"the z factor must be > 1 (got {scale:g})")
        nd_kernel = None
        fwhm = float(z_fwhm) if (kernel == "gaussian" and z_fwhm) else None
    else:
        sy, sx = float(factors.get("y", 2.0)), float(factors.get("x", 2.0))
        if sy < 1.0 or sx < 1.0 or (sy == 1.0 and sx == 1.0):
            raise ValueError(f"lateral factors must be >= 1 and not both 1 (got y {sy:g}, x {sx:g})")
        scale = (sy, sx)
        nd_kernel = ("gaussian", float(sigma[0]), float(sigma[1])) if kernel == "gaussian" else "bicubic"
        fwhm = None
    if config is None:
        config = make_config(preset, **config_overrides)
    kwargs = dict(
        mode=mode, scale=scale, pixel_sizes=pixel_sizes, config=config, kernel=nd_kernel,
        planes=planes, channels=channels, out_dtype=out_dtype, tile=tile,
    )
    if fwhm is not None:
        kwargs.update(z_fwhm=fwhm, z_fwhm_unit=z_fwhm_unit)
    if model:
        # reuse a saved network (zssr --save-model): applied without training; nd refuses one
        # trained for another mode, factor or channel count
        import os
        if not os.path.isfile(str(model)):
            raise ValueError(f"model file not found: {model}")
        kwargs["model"] = str(model)
    if mode == "axial":
        if axial_method not in AXIAL_METHODS:
            raise ValueError(f"axial method must be one of {AXIAL_METHODS}, not {axial_method!r}")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, not {fusion!r}")
        kwargs.update(axial_method=axial_method, fusion=fusion)
    return ZSSRJob(source=snap, nd_kwargs=kwargs)


def run_job(job: ZSSRJob, progress: Optional[Callable] = None, cancel=None):
    """The blocking work (runs in the worker thread): plain data in, ``NDResult`` out."""
    from napari_zssr.nd import super_resolve_nd

    data = np.asarray(job.source.data)
    return super_resolve_nd(data, job.source.axes, progress=progress, cancel=cancel, **job.nd_kwargs)


# ------------------------------------------------------------------------------------------ results
def factor_label(factors: dict) -> str:
    """'x2' for equal y/x factors, 'x4 (z)' for axial, 'x2 (y)' or 'x3/x2 (yx)' otherwise."""
    f = {k.lower(): float(v) for k, v in factors.items() if abs(float(v) - 1.0) > 1e-9}
    if not f:
        return "x1"
    vals = list(f.values())
    if all(abs(v - vals[0]) < 1e-9 for v in vals):
        if set(f) == {"y", "x"}:
            return f"x{vals[0]:g}"
        return f"x{vals[0]:g} ({''.join(k for k in 'tzyx' if k in f)})"
    keys = [k for k in "tzyx" if k in f]
    return "/".join(f"x{f[k]:g}" for k in keys) + f" ({''.join(keys)})"


def _contrast(data: np.ndarray) -> tuple:
    finite = data[np.isfinite(data)] if np.issubdtype(data.dtype, np.floating) else data
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        hi = lo + 1.0
    return (lo, hi)


def result_layer_data(job: ZSSRJob, result) -> list:
    """napari layer-data tuples ``(data, kwargs, "image")`` for an ``NDResult`` of ``job``.

    One layer (RGB stays RGB), or one per channel when the axes have C.  Scale and translate come
    from ``output_scale_translate`` so input and output pixel centres coincide; colormap, blending,
    units and axis labels follow the source; contrast limits are the source's unless the dtype
    changed (then recomputed from the result); ``metadata["zssr"]`` holds ``result.params``.
    """
    from napari_zssr.nd import output_scale_translate

    src = job.source
    src_dims = layer_axes(src.axes)
    by_letter = lambda values: dict(zip(src_dims, values)) if values is not None else {}  # noqa: E731
    src_scale, src_translate = by_letter(src.scale), by_letter(src.translate)
    src_units, src_labels = by_letter(src.units), by_letter(src.axis_labels)

    out_axes = str(result.axes)
    data = np.asarray(result.data)
    dims = layer_axes(out_axes)
    factors = {str(k).lower(): float(v) for k, v in dict(result.factors).items()}
    scale = [src_scale.get(a, 1.0) for a in dims]
    translate = [src_translate.get(a, 0.0) for a in dims]
    new_scale, new_translate = output_scale_translate(scale, translate, [factors.get(a.lower(), 1.0) for a in dims])
    new_scale = [float(s) for s in new_scale]
    new_translate = [float(t) for t in new_translate]
    units = [src_units[a] for a in dims] if src_units else None
    labels = [src_labels[a] for a in dims] if src_labels else None

    base_name = f"{src.name} ZSSR {factor_label(factors)}"
    same_dtype = src.dtype is not None and np.dtype(src.dtype) == data.dtype
    run_meta = {
        "source": src.name,
        "axes": out_axes,
        "factors": factors,
        "pixel_sizes": dict(result.pixel_sizes),
        "clipped": int(getattr(result, "clipped", 0) or 0),
    }

    def kwargs_for(name, scale_, translate_, units_, labels_, **extra):
        kw = dict(
            name=name, scale=scale_, translate=translate_, blending=src.blending,
            metadata={"zssr": result.params, "zssr_run": dict(run_meta, **extra.pop("run", {}))},
        )
        if units_ is not None:
            kw["units"] = units_
        if labels_ is not None:
            kw["axis_labels"] = labels_
        kw.update(extra)
        return kw

    if "C" not in dims:
        kw = kwargs_for(base_name, new_scale, new_translate, units, labels, colormap=src.colormap)
        if src.rgb:
            kw["rgb"] = True
            if not same_dtype or src.contrast_limits is None:
                if data.dtype != np.uint8:
                    kw["contrast_limits"] = _contrast(data)
            else:
                kw["contrast_limits"] = src.contrast_limits
        else:
            kw["contrast_limits"] = src.contrast_limits if (same_dtype and src.contrast_limits) else _contrast(data)
        return [(data, kw, "image")]

    ci = dims.index("C")
    n = data.shape[ci]
    keep = [i for i in range(len(dims)) if i != ci]
    cmap_name = getattr(src.colormap, "name", src.colormap)
    if n > 1 and str(cmap_name) in ("gray", "grey", "gray_r"):
        cmaps = CHANNEL_COLORMAPS_2 if n == 2 else tuple(CHANNEL_COLORMAPS[i % len(CHANNEL_COLORMAPS)] for i in range(n))
        blending = "additive"
    else:
        cmaps = (src.colormap,) * n
        blending = src.blending
    out = []
    for c in range(n):
        plane = np.take(data, c, axis=ci)
        kw = kwargs_for(
            f"{base_name} [ch{c}]",
            [new_scale[i] for i in keep], [new_translate[i] for i in keep],
            [units[i] for i in keep] if units else None,
            [labels[i] for i in keep] if labels else None,
            colormap=cmaps[c], run={"channel": c},
        )
        # as napari's channel_axis: the bottom channel opaque to what is below, the others added
        kw["blending"] = ("translucent_no_depth" if c == 0 else "additive") if blending == "additive" else blending
        kw["contrast_limits"] = _contrast(plane)
        out.append((plane, kw, "image"))
    return out

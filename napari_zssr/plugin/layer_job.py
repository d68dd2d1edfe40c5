"""Layer -> ZSSR job -> layers, without any GUI (the widget and the tests call these).

The widget only collects choices; everything that decides *what* is computed and *where* the
result lands in world coordinates lives here or below, so it can be tested without Qt:

* :func:`layer_axes_checked` / :func:`full_resolution` / :func:`output_itemsize` /
  :func:`chosen_path` - the layer rules the widget needs too (one home each);
* :func:`pixel_sizes_from_scale` / :func:`form_factors` - the factors the form shows first
  (``nd.spec.default_factors``: square pixels, cubic voxels);
* :func:`form_to_run` - the form's values (named as RunSpec and ZSSRConfig name them) as a
  ``RunSpec`` and a ``ZSSRConfig``;
* :func:`snapshot_layer` / :func:`build_job` - everything the worker needs, captured at Run as
  plain data (no layer, no widget, no viewer);
* :func:`run_job` - the blocking call that runs in the worker thread: in memory, or, for a result
  above :data:`CHUNKED_OUTPUT_BYTES`, block by block into an OME-Zarr store (``nd.chunked``) that
  comes back as a lazy (dask) layer;
* :func:`result_layer_data` - napari layer-data tuples for the result, with scale/translate from
  :func:`napari_zssr.nd.output_scale_translate` so the result overlays the source exactly.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np

from napari_zssr.axes import guess_axes, validate_axes
from napari_zssr.nd.settings import check_config, setting
from napari_zssr.nd.spec import RunSpec, default_factors

# colormaps for one layer per channel when the source is plain gray (as napari's channel_axis)
CHANNEL_COLORMAPS_2 = ("magenta", "green")
CHANNEL_COLORMAPS = ("cyan", "magenta", "yellow", "red", "green", "blue")
# source layer metadata a result keeps (set by the reader: what the file called the channel)
KEPT_METADATA = ("channel_name", "channel_color", "channel_names", "time_increment", "time_unit")
# a result estimated above this many bytes is written block by block into an OME-Zarr store the
# user picks and shown lazily, instead of being computed in memory (tests lower it)
CHUNKED_OUTPUT_BYTES = 1 << 30
# share of the progress bar given to training in a chunked run (the rest counts blocks)
CHUNKED_TRAIN_SHARE = 0.3


# --------------------------------------------------------------------------------------------- axes
def layer_guess_axes(layer) -> str:
    """nd's guess from the layer's data shape, RGB flag and axis labels."""
    labels = tuple(str(a) for a in getattr(layer, "axis_labels", ()) or ())
    return guess_axes(np.shape(layer.data), bool(layer.rgb), labels or None)


def layer_axes_checked(layer, typed: Optional[str] = None) -> str:
    """The layer's axes: as typed (blanks ignored, any case) or else guessed, checked against its
    dimensions (an RGB layer's samples count as one, S) by ``napari_zssr.axes.validate_axes``."""
    text = "".join(str(typed or "").split()) or layer_guess_axes(layer)
    return validate_axes(text, layer.ndim + (1 if layer.rgb else 0), bool(layer.rgb))


def full_resolution(layer):
    """The layer's data; of a pyramid (e.g. from napari-ome-zarr) its full-resolution level, still lazy."""
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def chosen_path(value) -> Optional[str]:
    """A path from a file field, or None when none was chosen (an empty field reads as '.')."""
    text = str(value or "").strip()
    return text if text and text != "." else None


def layer_axes(axes: str) -> str:
    """The axes napari shows as dimensions (all but the RGB samples)."""
    return axes.replace("S", "")


def pixel_sizes_from_scale(axes: str, scale: Sequence[float]) -> dict:
    """``{"z": 0.8, "y": 0.2, "x": 0.2, ...}`` from the layer scale (C and S have no size)."""
    dims = layer_axes(axes)
    if len(dims) != len(scale):
        raise ValueError(f"axes {axes!r} do not match a layer with {len(scale)} dimensions")
    return {a.lower(): float(s) for a, s in zip(dims, scale) if a not in "CS"}


def form_factors(mode: str, axes: str, pixel_sizes: dict) -> dict:
    """What the form shows first: ``nd.spec.default_factors`` rounded for display, and x2 where it
    cannot derive one (an uncalibrated stack in axial mode), so the user has a starting point."""
    if mode == "axial" and "Z" not in axes:
        raise ValueError("axial mode needs a Z axis; set the axes (e.g. ZYX)")
    try:
        f = default_factors(mode, pixel_sizes)
    except ValueError:
        f = {"z": 2.0}
    if mode == "axial" and f["z"] <= 1.001:
        f = {"z": 2.0}
    return {k: float(round(v, 3)) for k, v in f.items()}


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
    metadata: dict = dataclasses.field(default_factory=dict)   # KEPT_METADATA of the source
    source_path: Optional[str] = None     # the file the layer was read from, if any


@dataclass
class ZSSRJob:
    """Everything the worker needs: plain data only."""
    source: LayerSnapshot
    spec: RunSpec
    config: Any                         # ZSSRConfig
    pixel_sizes: dict
    output: Optional[str] = None        # OME-Zarr store of a chunked run; None: in memory
    overwrite: bool = False             # replace an existing store made by another run

    @property
    def chunked(self) -> bool:
        return self.output is not None

    @property
    def mode(self) -> str:
        return self.spec.mode


def snapshot_layer(layer, axes: Optional[str] = None) -> LayerSnapshot:
    """Capture an Image layer as plain data; ``axes`` overrides the guess from the layer."""
    from napari.layers import Image

    if not isinstance(layer, Image):
        raise ValueError("choose an image layer")
    rgb = bool(layer.rgb)
    data = full_resolution(layer)
    labels = tuple(str(a) for a in getattr(layer, "axis_labels", ()) or ())
    axes = layer_axes_checked(layer, axes)
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
        metadata={k: v for k, v in dict(layer.metadata or {}).items() if k in KEPT_METADATA},
        source_path=getattr(getattr(layer, "source", None), "path", None),
    )


def form_to_run(values: dict):
    """The widget form as (RunSpec, ZSSRConfig). Keys are RunSpec / ZSSRConfig field names, plus
    ``preset`` and the form's kernel parts: ``kernel`` "bicubic" | "gaussian" with ``sigma`` (sy, sx)
    (lateral) or ``z_fwhm`` / ``z_fwhm_unit`` (axial slice profile); ``factors`` {"y", "x"} or {"z"}.
    Unknown keys, bad values: ValueError (one line)."""
    from napari_zssr.engine.config import ZSSRConfig

    values = dict(values)
    preset = values.pop("preset", setting("preset").default)         # not given: the settings' defaults
    kernel = values.pop("kernel", setting("kernel").default)
    sigma = values.pop("sigma", (setting("sigma").default,) * 2)
    spec_fields = {f.name for f in dataclasses.fields(RunSpec)}
    cfg_fields = {f.name for f in dataclasses.fields(ZSSRConfig)}
    unknown = set(values) - spec_fields - cfg_fields
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    # init and tile are in both: the spec's value is the run's (nd applies it to the config)
    spec_kw = {k: v for k, v in values.items() if k in spec_fields}
    cfg_kw = {k: v for k, v in values.items() if k in cfg_fields and k not in spec_fields}
    mode = spec_kw.get("mode", setting("mode").default)
    factors = spec_kw.pop("factors", None)
    if isinstance(factors, dict):
        factors = (factors["z"],) if mode == "axial" else (factors.get("y", 2.0), factors.get("x", 2.0))
    if mode == "axial":
        # "bicubic" in axial mode: nd's default slice profile (one z step); "gaussian": the given FWHM
        spec_kw["kernel"] = None
        if kernel != "gaussian":
            spec_kw.pop("z_fwhm", None)
    else:
        setting("kernel").check(kernel)
        spec_kw["kernel"] = ("gaussian", float(sigma[0]), float(sigma[1])) if kernel == "gaussian" else "bicubic"
        spec_kw.pop("z_fwhm", None)
    if isinstance(spec_kw.get("model"), str):
        spec_kw["model"] = chosen_path(spec_kw["model"])
    if spec_kw.get("model"):
        from napari_zssr.nd.models import check_model_file   # a missing or foreign file: before any work
        check_model_file(str(spec_kw["model"]), mode)
        spec_kw["model"] = str(spec_kw["model"])
    spec = RunSpec(factors=factors, **spec_kw)
    config = ZSSRConfig.from_preset(preset, **cfg_kw)
    check_config(config)                      # the settings' limits, as the command line's
    return spec, config


def is_lazy(data) -> bool:
    """Data napari reads on demand (dask, zarr, ...), as opposed to a numpy array in memory."""
    return not isinstance(data, np.ndarray) and hasattr(data, "chunks")


def output_nbytes(shape, mode: str, factors, itemsize: int = 4) -> int:
    """Estimated size of a result: the input's element count times the factors, times itemsize.
    ``factors``: the spec's tuple (lateral (sy, sx) or (s,), axial (sz,)) or the form's dict."""
    f = list(factors.values()) if isinstance(factors, dict) else list(factors or (2.0,))
    if mode == "lateral" and len(f) == 1:
        f = f * 2
    return int(np.prod([int(n) for n in shape], dtype=np.float64) * float(np.prod(f)) * itemsize)


def memory_refusal(shape, mode: str, factors, dtype) -> Optional[str]:
    """The one line saying why a run in memory would not fit in the available memory (nd.memory's
    estimate of its peak), or None when it fits."""
    from napari_zssr.nd.memory import WIDGET_WAY_OUT, MemoryPlanError, check_fits

    try:
        check_fits(shape, dtype, mode, factors, way_out=WIDGET_WAY_OUT)
    except MemoryPlanError as exc:
        return str(exc)
    return None


def wants_chunked(shape, mode: str, factors, itemsize: int = 4, dtype=None) -> bool:
    """Whether a result goes block by block into an OME-Zarr store: above CHUNKED_OUTPUT_BYTES, or, with
    the input's ``dtype``, when the run in memory would not fit in the available memory."""
    if output_nbytes(shape, mode, factors, itemsize) > CHUNKED_OUTPUT_BYTES:
        return True
    return dtype is not None and memory_refusal(shape, mode, factors, dtype) is not None


def output_itemsize(out_dtype: str, dtype) -> int:
    """Bytes per value of a result: the input's (out_dtype "input") or float32's."""
    return np.dtype(dtype).itemsize if out_dtype == "input" else 4


def build_job(layer, spec: Optional[RunSpec] = None, config=None, *, axes: Optional[str] = None,
              output: Optional[str] = None, overwrite: bool = False) -> ZSSRJob:
    """Everything the worker needs to super-resolve ``layer``, as plain data, checked before any work
    (``RunSpec.resolve`` on the layer's shape, axes and pixel sizes: the one-line errors).

    A result above CHUNKED_OUTPUT_BYTES needs ``output``, an OME-Zarr path (checked here by
    nd.chunked's rules: never the input, an existing store only to resume it or with
    ``overwrite``); a smaller one ignores it and is computed in memory as always."""
    from napari_zssr.engine.config import ZSSRConfig

    spec = spec or RunSpec()
    snap = snapshot_layer(layer, axes)
    pixel_sizes = pixel_sizes_from_scale(snap.axes, snap.scale)
    run = spec.resolve(np.shape(snap.data), snap.axes, pixel_sizes)
    job = ZSSRJob(source=snap, spec=run.spec, config=config or ZSSRConfig(), pixel_sizes=pixel_sizes)
    shape = np.shape(snap.data)
    if wants_chunked(shape, job.mode, run.factors, output_itemsize(run.spec.out_dtype, snap.dtype), snap.dtype):
        from napari_zssr.nd.chunked import check_output, check_supported

        nbytes = output_nbytes(shape, job.mode, run.factors, output_itemsize(run.spec.out_dtype, snap.dtype))
        # above the result rule, or (the same estimate as the CLI's) too big for the free memory
        why = (f"the result is about {nbytes / 2**30:.1f} GiB, more than is computed in memory "
               f"({CHUNKED_OUTPUT_BYTES / 2**30:.2g} GiB): choose an OME-Zarr output (*.zarr)"
               if nbytes > CHUNKED_OUTPUT_BYTES else memory_refusal(shape, job.mode, run.factors, snap.dtype))
        try:
            check_supported(snap.axes, run.spec)
        except ValueError as exc:
            if nbytes > CHUNKED_OUTPUT_BYTES:
                raise
            raise ValueError(f"{why}; but {exc}") from None
        output = chosen_path(output)
        if output is None:
            raise ValueError(why)
        job.output = str(check_output(output, [snap.source_path], overwrite))
        job.overwrite = overwrite
    return job


def run_job(job: ZSSRJob, progress: Optional[Callable] = None, cancel=None):
    """The blocking work (runs in the worker thread): plain data in, ``NDResult`` (or, for a
    chunked job, ``ChunkedResult``) out."""
    if job.chunked:
        return run_chunked_job(job, progress, cancel)
    from napari_zssr.nd import super_resolve_nd

    return super_resolve_nd(np.asarray(job.source.data), job.source.axes, job.spec, pixel_sizes=job.pixel_sizes,
                            config=job.config, progress=progress, cancel=cancel)


@dataclass
class ChunkedResult:
    """A chunked run's result as result_layer_data needs it: lazy data over the written store."""
    data: Any                      # dask array, in the source layer's axis order
    axes: str
    pixel_sizes: dict
    factors: dict
    params: dict
    path: str
    contrast_limits: list          # per channel (one entry without C), from the coarsest level
    clipped: int = 0
    blocks: int = 0
    skipped: int = 0               # blocks found finished by an earlier (cancelled) run
    notices: list = dataclasses.field(default_factory=list)


class _ChunkedProgress:
    """Training fills the first CHUNKED_TRAIN_SHARE of the bar, finished blocks the rest."""

    def __init__(self, progress):
        self.progress = progress

    def __call__(self, ev) -> None:
        stage = str(getattr(ev, "stage", "") or "")
        if stage == "blocks" and ev.total:
            ev.fraction = CHUNKED_TRAIN_SHARE + (1 - CHUNKED_TRAIN_SHARE) * ev.fraction
        elif stage.startswith("train"):          # the engine's own events: iterations of a total
            ev.fraction = CHUNKED_TRAIN_SHARE * min(1.0, ev.iteration / ev.total) if ev.total else 0.0
        self.progress(ev)


def run_chunked_job(job: ZSSRJob, progress: Optional[Callable] = None, cancel=None) -> ChunkedResult:
    """nd.chunked.run_chunked on the layer's (lazy) data into ``job.output``; the store is read
    back lazily. Cancelled (checked between blocks): raises Cancelled and leaves the store for a
    rerun to resume."""
    import dask.array as da

    from napari_zssr.engine.progress import Cancelled
    from napari_zssr.io import ImageData
    from napari_zssr.io.ome_zarr import coarsest_level, read_ome_zarr
    from napari_zssr.nd.chunked import ClusterOptions, Source, run_chunked

    src = job.source
    data = src.data
    if not isinstance(data, da.Array):          # zarr keeps its chunks; numpy is wrapped, not copied
        data = da.from_array(data, chunks=getattr(data, "chunks", None) or "auto")
    translate = {a.lower(): t for a, t in zip(layer_axes(src.axes), src.translate) if a in "ZYX"}
    image = ImageData(data, src.axes, dict(job.pixel_sizes), translate=translate,
                      channel_names=tuple(src.metadata["channel_names"]) if src.metadata.get("channel_names") else None)
    res = run_chunked(Source(image, path=src.source_path, name=src.name), job.output, job.spec, job.config,
                      cluster=ClusterOptions(n_workers=1, processes=False), overwrite=job.overwrite,
                      progress=_ChunkedProgress(progress) if progress else None, cancel=cancel)
    if res.cancelled:
        raise Cancelled("cancelled")
    out = read_ome_zarr(job.output)
    lazy = out.data.transpose([out.axes.index(a) for a in src.axes])   # as the source layer's axes
    small = coarsest_level(job.output)
    if "C" in out.axes:
        small = np.moveaxis(small, out.axes.index("C"), 0)
        limits = [_contrast(small[c]) for c in range(small.shape[0])]
    else:
        limits = [_contrast(small)]
    return ChunkedResult(lazy, src.axes, res.pixel_sizes, res.factors, res.params, job.output, limits,
                         clipped=res.clipped, blocks=res.blocks, skipped=res.skipped,
                         notices=list(res.params.get("notices", [])))      # e.g. the slice-profile estimate


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
    data = result.data if is_lazy(result.data) else np.asarray(result.data)
    known = getattr(result, "contrast_limits", None)      # a chunked result: never scanned here
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
        **src.metadata,
        "source": src.name,
        "axes": out_axes,
        "factors": factors,
        "pixel_sizes": dict(result.pixel_sizes),
        "clipped": int(getattr(result, "clipped", 0) or 0),
    }
    if getattr(result, "path", None):
        run_meta["path"] = str(result.path)

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
            kw["contrast_limits"] = src.contrast_limits if (same_dtype and src.contrast_limits) else \
                (known[0] if known else _contrast(data))
        return [(data, kw, "image")]

    ci = dims.index("C")
    n = data.shape[ci]
    names = src.metadata.get("channel_names")
    keep = [i for i in range(len(dims)) if i != ci]
    cmap_name = getattr(src.colormap, "name", src.colormap)
    if n > 1 and str(cmap_name) in ("gray", "grey", "gray_r"):
        cmaps = CHANNEL_COLORMAPS_2 if n == 2 else \
            tuple(CHANNEL_COLORMAPS[i % len(CHANNEL_COLORMAPS)] for i in range(n))
        blending = "additive"
    else:
        cmaps = (src.colormap,) * n
        blending = src.blending
    out = []
    for c in range(n):
        plane = data[(slice(None),) * ci + (c,)]          # numpy or dask alike
        label = names[c] if names and len(names) == n else f"ch{c}"
        kw = kwargs_for(
            f"{base_name} [{label}]",
            [new_scale[i] for i in keep], [new_translate[i] for i in keep],
            [units[i] for i in keep] if units else None,
            [labels[i] for i in keep] if labels else None,
            colormap=cmaps[c], run={"channel": c, **({"channel_name": label} if names else {})},
        )
        # as napari's channel_axis: the bottom channel opaque to what is below, the others added
        kw["blending"] = ("translucent_no_depth" if c == 0 else "additive") if blending == "additive" else blending
        kw["contrast_limits"] = known[c] if known else _contrast(plane)
        out.append((plane, kw, "image"))
    return out

"""OME-Zarr (NGFF 0.4 and 0.5): lazy reading of level 0, writing with a downsampled pyramid.

    read_ome_zarr(path) -> ImageData whose `data` is a dask array (nothing is read until computed)
    coarsest_level(path) -> the smallest pyramid level as numpy
    create_ome_zarr(path, shape, dtype, axes, OmeMetadata(...)) -> zarr.Group with an empty level 0 to fill
    write_pyramid(group) -> the lower levels, computed block by block from level 0
    write_ome_zarr(path, data, axes, ...) -> Path: all of the above for an array in one call
    validate_ome_zarr(path) -> raises ValueError unless ome-zarr-models accepts the metadata

NGFF stores axes in the order t, c, z, y, x; the project's letters are T, C, Z, Y, X (RGB samples
"S" are written as a channel axis named R, G, B(, A)). Physical sizes are read from the scale of
level 0 (times any multiscale-wide scale) and converted to micrometres.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ._core import PARAMS_KEY, ImageData, ImageReadError, check_axes, to_um

NGFF_VERSIONS = ("0.4", "0.5")
NGFF_ORDER = "TCZYX"                     # the order NGFF requires: time, channel, then space
_TYPES = {"T": "time", "C": "channel", "Z": "space", "Y": "space", "X": "space"}
_UDUNITS = {"um": "micrometer", "nm": "nanometer", "pm": "picometer", "angstrom": "angstrom",
            "mm": "millimeter", "cm": "centimeter", "m": "meter", "inch": "inch"}
_FROM_UDUNITS = {v: k for k, v in _UDUNITS.items()}
PYRAMID_MIN_EDGE = 256                   # stop downsampling once y and x are this small


@dataclass(frozen=True)
class OmeMetadata:
    """What an OME-Zarr image records besides its pixels."""
    pixel_sizes: Optional[dict] = None       # per axis letter ("z", "y", "x"), in `unit`
    unit: str = "um"
    channel_names: Optional[Sequence[str]] = None
    params: Optional[dict] = None            # the ZSSR record (JSON)
    translate: Optional[dict] = None         # world offset per axis letter, in `unit`


def _zarr():
    try:
        import zarr
    except ImportError:  # an optional extra
        raise ImportError("OME-Zarr needs zarr: pip install 'napari-zssr[zarr]'") from None
    return zarr


def is_zarr_path(path) -> bool:
    """A directory with zarr metadata, or a path ending in .zarr (to be read or written)."""
    p = Path(path)
    if str(p).rstrip("/").lower().endswith(".zarr"):
        return True
    return p.is_dir() and any((p / n).is_file() for n in ("zarr.json", ".zattrs", ".zgroup"))


# --- reading ---------------------------------------------------------------------------

class _OneLineErrors:
    """Array-like over a zarr array whose reads fail with a one-line ValueError (corrupt chunks)."""

    def __init__(self, array, path):
        self.array, self.path = array, path
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, key):
        try:
            return self.array[key]
        except Exception as exc:  # the codecs raise many types on corrupt or truncated chunks
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ImageReadError(self.path, f"cannot read a chunk ({reason})") from exc


def _multiscales(attrs: dict, path) -> tuple[dict, str, dict]:
    """(first multiscale, NGFF version, the dict holding 'omero' and our params)."""
    if "ome" in attrs and isinstance(attrs["ome"], dict):      # 0.5: everything under "ome"
        ome = attrs["ome"]
        version = str(ome.get("version", ""))
    else:                                                     # 0.4: top-level attributes
        ome = attrs
        version = ""
    ms = ome.get("multiscales")
    if not isinstance(ms, list) or not ms or not isinstance(ms[0], dict):
        raise ImageReadError(path, "not an OME-Zarr image (no 'multiscales' metadata)")
    version = version or str(ms[0].get("version", ""))
    if version not in NGFF_VERSIONS:
        raise ImageReadError(path, f"unsupported NGFF version {version!r} (read: {', '.join(NGFF_VERSIONS)})")
    return ms[0], version, ome


def coarsest_level(path) -> np.ndarray:
    """The smallest pyramid level of an OME-Zarr image, read whole (e.g. for contrast limits of a
    result too big to scan); same axes as level 0."""
    zarr = _zarr()
    group = zarr.open_group(str(path), mode="r")
    ms, _, _ = _multiscales(dict(group.attrs), path)
    return np.asarray(group[ms["datasets"][-1]["path"]][...])


def _scale(transforms, ndim: int, path) -> list[float]:
    scale = [1.0] * ndim
    for t in transforms or []:
        if t.get("type") == "scale":
            values = t.get("scale")
            if not isinstance(values, list) or len(values) != ndim:
                raise ImageReadError(path, "the scale in coordinateTransformations does not match the axes")
            scale = [a * float(b) for a, b in zip(scale, values)]
    return scale


def _translation(transforms, ndim: int) -> list[float]:
    for t in transforms or []:
        if t.get("type") == "translation" and len(t.get("translation") or []) == ndim:
            return [float(v) for v in t["translation"]]
    return [0.0] * ndim


def _axis_letters(axes_meta, path) -> str:
    letters = []
    for ax in axes_meta:
        name = str(ax.get("name", "") if isinstance(ax, dict) else ax).lower()
        kind = ax.get("type") if isinstance(ax, dict) else None
        if name in ("t", "c", "z", "y", "x"):
            letters.append(name.upper())
        elif kind == "time":
            letters.append("T")
        elif kind == "channel":
            letters.append("C")
        else:
            raise ImageReadError(path, f"unsupported axis {name!r} (use t, c, z, y, x)")
    axes = "".join(letters)
    if len(set(axes)) != len(axes) or "Y" not in axes or "X" not in axes:
        raise ImageReadError(path, f"axes {axes!r}: need y and x, each axis once")
    return axes


def read_ome_zarr(path) -> ImageData:
    """Level 0 of an OME-Zarr image as a dask array, with axes, physical sizes and channel names.

    Raises ImageReadError (a ValueError, one line) for a path that is not an NGFF image, a
    multiscale whose level-0 array is missing, or (when computed) a corrupt chunk.
    """
    import dask.array as da

    zarr = _zarr()
    path = Path(path)
    if not path.exists():
        raise ImageReadError(path, "no such file or directory")
    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as exc:
        raise ImageReadError(path, "not a zarr group") from exc
    ms, version, ome = _multiscales(dict(group.attrs), path)
    datasets = ms.get("datasets") or []
    if not datasets or "path" not in datasets[0]:
        raise ImageReadError(path, "the multiscale lists no datasets")
    axes = _axis_letters(ms.get("axes") or [], path)
    level0 = datasets[0]["path"]
    try:
        array = group[level0]
    except KeyError:
        raise ImageReadError(path, f"the level-0 array {level0!r} is missing") from None
    if not hasattr(array, "shape") or len(array.shape) != len(axes):
        raise ImageReadError(path, f"{level0!r} is not an array with {len(axes)} axes")
    if np.dtype(array.dtype).kind not in "uif":
        raise ImageReadError(path, f"unsupported data type {array.dtype}")
    n = len(axes)
    scale = _scale(datasets[0].get("coordinateTransformations"), n, path)
    top = _scale(ms.get("coordinateTransformations"), n, path)
    scale = [a * b for a, b in zip(scale, top)]
    translate = _translation(datasets[0].get("coordinateTransformations"), n)

    sizes = {}
    for letter, ax, s in zip(axes, ms["axes"], scale):
        if letter in "ZYX":
            unit = _FROM_UDUNITS.get(str(ax.get("unit", "")).lower()) if isinstance(ax, dict) else None
            um = to_um(s, unit) if unit else None
            if um is not None:
                sizes[letter.lower()] = um
    unit = "um" if sizes else "pixel"
    channel_names = None
    channels = (ome.get("omero") or {}).get("channels") if isinstance(ome.get("omero"), dict) else None
    if isinstance(channels, list) and "C" in axes and len(channels) == array.shape[axes.index("C")]:
        channel_names = tuple(str(c.get("label", i)) if isinstance(c, dict) else str(i)
                              for i, c in enumerate(channels))
    params = ome.get(PARAMS_KEY) if isinstance(ome.get(PARAMS_KEY), dict) else None
    data = da.from_array(_OneLineErrors(array, path), chunks=array.chunks, asarray=False,
                         name=f"ome-zarr-{path.resolve()}-{level0}-{secrets.token_hex(4)}")
    translate = {a.lower(): t * (sizes.get(a.lower(), 1.0) / s if s else 1.0)
                 for a, t, s in zip(axes, translate, scale) if a in "ZYX" and t}
    return ImageData(data, axes, sizes, unit, f"ome-zarr {version}", params, channel_names=channel_names,
                     translate=translate)


# --- writing ---------------------------------------------------------------------------

def _ngff_order(axes: str) -> tuple[str, list[int]]:
    """Axes in NGFF order (S becomes C) and the permutation from `axes` to it."""
    if "S" in axes and "C" in axes:
        raise ValueError("OME-Zarr has one channel axis: RGB samples with a C axis cannot be stored")
    renamed = axes.replace("S", "C")
    order = "".join(a for a in NGFF_ORDER if a in renamed)
    return order, [renamed.index(a) for a in order]


def default_chunks(shape, axes: str, plane_edge: int = 512) -> tuple[int, ...]:
    """One plane deep, plane_edge square in y and x: napari reads one z slice at a time."""
    return tuple(min(n, plane_edge) if a in "YX" else 1 for a, n in zip(axes, shape))


def multiscales_metadata(axes: str, pixel_sizes: dict, unit: str, n_levels: int,
                         translate: dict | None = None, name: str = "zssr",
                         version: str = "0.5") -> dict:
    """The NGFF `multiscales` entry: level k is downsampled 2^k in y and x (mean of 2x2 blocks)."""
    if version not in NGFF_VERSIONS:
        raise ValueError(f"NGFF version must be one of {', '.join(NGFF_VERSIONS)}; got {version!r}")
    ud = _UDUNITS.get(unit) if pixel_sizes else None
    if pixel_sizes and ud is None:
        raise ValueError(f"OME-Zarr needs a length unit for the pixel sizes, not {unit!r}")
    ax_meta = []
    for a in axes:
        entry = {"name": a.lower(), "type": _TYPES[a]}
        if a in "ZYX" and ud:
            entry["unit"] = ud
        ax_meta.append(entry)
    base = [float(pixel_sizes.get(a.lower(), 1.0)) if a in "ZYX" else 1.0 for a in axes]
    shift = [float((translate or {}).get(a.lower(), 0.0)) for a in axes]
    datasets = []
    for k in range(n_levels):
        f = [2 ** k if a in "YX" else 1 for a in axes]
        scale = [b * fi for b, fi in zip(base, f)]
        # the centre of a mean-pooled pixel moves by (f - 1) / 2 input pixels
        trans = [t + (fi - 1) / 2 * b for t, fi, b in zip(shift, f, base)]
        tr = [{"type": "scale", "scale": scale}]
        if any(trans):
            tr.append({"type": "translation", "translation": trans})
        datasets.append({"path": str(k), "coordinateTransformations": tr})
    ms = {"name": name, "axes": ax_meta, "datasets": datasets}
    if version == "0.4":
        ms["version"] = "0.4"
    return ms


def _omero(channel_names, n_channels: int, dtype) -> dict:
    dt = np.dtype(dtype)
    hi = float(np.iinfo(dt).max) if dt.kind in "iu" else 1.0
    names = list(channel_names or [f"channel {i}" for i in range(n_channels)])
    colours = ["FFFFFF"] if n_channels == 1 else ["00FF00", "FF00FF", "00FFFF", "FF0000", "0000FF", "FFFF00"]
    return {"channels": [{"label": str(nm), "color": colours[i % len(colours)], "active": True,
                          "window": {"start": 0.0, "end": hi, "min": float(np.iinfo(dt).min) if dt.kind in "iu"
                                     else 0.0, "max": hi}} for i, nm in enumerate(names)],
            "rdefs": {"model": "greyscale" if n_channels == 1 else "color"}}


def pyramid_shapes(shape, axes: str, min_edge: int = PYRAMID_MIN_EDGE, max_levels: int = 6) -> list[tuple]:
    """Level shapes: halve y and x (rounding up) while either is above min_edge."""
    shapes = [tuple(shape)]
    while len(shapes) < max_levels:
        last = shapes[-1]
        yx = [n for a, n in zip(axes, last) if a in "YX"]
        if max(yx) <= min_edge:
            break
        shapes.append(tuple(math.ceil(n / 2) if a in "YX" else n for a, n in zip(axes, last)))
    return shapes


def create_ome_zarr(path, shape, dtype, axes: str, meta: OmeMetadata | None = None, *, chunks=None,
                    version: str = "0.5", extra_attrs: dict | None = None, name: str = "zssr"):
    """A new OME-Zarr group with empty arrays for every pyramid level; `axes` must be in NGFF order.

    The caller fills level 0 (each chunk is written atomically by zarr's local store) and then
    calls write_pyramid. Refuses an existing path (the caller decides about resuming/overwriting).
    """
    zarr = _zarr()
    path = Path(path)
    meta = meta or OmeMetadata()
    params = meta.params
    check_axes(axes, len(shape))
    if axes != "".join(a for a in NGFF_ORDER if a in axes):
        raise ValueError(f"axes {axes!r} are not in NGFF order ({NGFF_ORDER})")
    if path.exists():
        raise FileExistsError(f"{path}: exists")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: directory {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise PermissionError(f"{path}: directory {path.parent} is not writable")
    if params is not None:
        json.dumps(params)                      # fail before touching the disk
    sizes = {k.lower(): float(v) for k, v in (meta.pixel_sizes or {}).items() if v}
    shapes = pyramid_shapes(shape, axes)
    ms = multiscales_metadata(axes, sizes, meta.unit, len(shapes), meta.translate, name, version)
    chunks = tuple(chunks or default_chunks(shape, axes))
    zarr_format = 3 if version == "0.5" else 2
    group = zarr.open_group(str(path), mode="w-", zarr_format=zarr_format)
    for k, shp in enumerate(shapes):
        ch = tuple(min(c, n) for c, n in zip(chunks, shp))
        kw = ({"dimension_names": [a.lower() for a in axes]} if zarr_format == 3
              else {"chunk_key_encoding": {"name": "v2", "separator": "/"}})
        group.create_array(str(k), shape=shp, chunks=ch, dtype=np.dtype(dtype), fill_value=0, **kw)
    ome = {"multiscales": [ms]}
    if "C" in axes:
        ome["omero"] = _omero(meta.channel_names, shape[axes.index("C")], dtype)
    if params is not None:
        ome[PARAMS_KEY] = params
    attrs = {"ome": {"version": version, **ome}} if version == "0.5" else ome
    attrs.update(extra_attrs or {})
    group.attrs.update(attrs)
    return group


def update_params(group, params: dict) -> None:
    """Replace the recorded ZSSR parameters (e.g. once a run knows its final statistics)."""
    json.dumps(params)
    attrs = dict(group.attrs)
    if "ome" in attrs:
        attrs["ome"] = {**attrs["ome"], PARAMS_KEY: params}
    else:
        attrs[PARAMS_KEY] = params
    group.attrs.update(attrs)


def _pool2(block: np.ndarray, yx_dims: tuple[int, int]) -> np.ndarray:
    """Mean of 2x2 blocks in y and x (an odd edge keeps its last row/column as is)."""
    out = block.astype(np.float64)
    for d in yx_dims:
        n = out.shape[d]
        even = np.add.reduceat(out, np.arange(0, n, 2), axis=d)
        counts = np.full(math.ceil(n / 2), 2.0)
        if n % 2:
            counts[-1] = 1.0
        shape = [1] * out.ndim
        shape[d] = counts.size
        out = even / counts.reshape(shape)
    return out


def _bands(shape, axes: str, rows: int):
    """Regions covering an array: one index on every non-YX axis, `rows` rows, all columns."""
    y = axes.index("Y")
    lead = [range(n) if a not in "YX" else [None] for a, n in zip(axes, shape)]
    for idx in np.ndindex(*[len(r) for r in lead]):
        for y0 in range(0, shape[y], rows):
            yield tuple(slice(y0, min(y0 + rows, shape[y])) if a == "Y" else slice(None) if a == "X"
                        else slice(i, i + 1) for a, i in zip(axes, idx))


def write_pyramid(group, axes: str) -> None:
    """Fill levels 1.. from the level above, a band of rows at a time (memory stays bounded)."""
    dims = (axes.index("Y"), axes.index("X"))
    k = 1
    while str(k) in group:
        src, dst = group[str(k - 1)], group[str(k)]
        dtype = np.dtype(dst.dtype)
        # bands of whole destination chunks, so every chunk is written once and whole
        for region in _bands(dst.shape, axes, dst.chunks[dims[0]] * 2):
            ys = region[dims[0]]
            src_region = tuple(slice(2 * ys.start, min(2 * ys.stop, src.shape[dims[0]])) if i == dims[0] else r
                               for i, r in enumerate(region))
            out = _pool2(src[src_region], dims)
            dst[region] = np.rint(out).astype(dtype) if dtype.kind in "iu" else out.astype(dtype)
        k += 1


def _write_level0(group, arr, axes: str) -> None:
    """Level 0 from a numpy or dask array, a band of whole chunks at a time."""
    dst = group["0"]
    for region in _bands(dst.shape, axes, dst.chunks[axes.index("Y")]):
        dst[region] = np.asarray(arr[region])


def write_ome_zarr(path, data, axes: str, *, pixel_sizes: dict | None = None, meta: OmeMetadata | None = None,
                   chunks=None, version: str = "0.5", overwrite: bool = False) -> Path:
    """Write `data` (numpy or dask, any axes order) as an OME-Zarr image with a pyramid.

    `pixel_sizes` is short for meta=OmeMetadata(pixel_sizes=...); `meta` says the rest (unit,
    channel names, the ZSSR record, translate). Written into a hidden sibling directory first and
    renamed into place, so the path holds a complete image or nothing; an existing path is replaced
    only with overwrite=True.
    """
    import dask.array as da

    path = Path(path)
    check_axes(axes, np.ndim(data))
    meta = meta or OmeMetadata()
    if pixel_sizes is not None:
        if meta.pixel_sizes is not None:
            raise ValueError("give the pixel sizes once: pixel_sizes or meta.pixel_sizes")
        meta = replace(meta, pixel_sizes=pixel_sizes)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: exists (pass overwrite=True to replace it)")
    order, perm = _ngff_order(axes)
    arr = data if isinstance(data, da.Array) else np.asarray(data)
    if np.dtype(arr.dtype).kind not in "uif":
        raise ValueError(f"cannot write {arr.dtype} data (real numbers only)")
    if "S" in axes and meta.channel_names is None:
        meta = replace(meta, channel_names=list("RGBA"[: arr.shape[axes.index("S")]]))
    arr = arr.transpose(perm)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        group = create_ome_zarr(tmp, arr.shape, arr.dtype, order, meta, chunks=chunks, version=version)
        _write_level0(group, arr, order)
        write_pyramid(group, order)
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def validate_ome_zarr(path) -> str:
    """Check the metadata with ome-zarr-models (offline); returns the NGFF version, else ValueError."""
    zarr = _zarr()
    try:
        from ome_zarr_models import v04, v05
    except ImportError:
        raise ImportError("validation needs ome-zarr-models: pip install 'napari-zssr[zarr]'") from None
    group = zarr.open_group(str(path), mode="r")
    version = "0.5" if "ome" in group.attrs else "0.4"
    model = v05.Image if version == "0.5" else v04.Image
    try:
        model.from_zarr(group)
    except Exception as exc:
        first = str(exc).splitlines()
        raise ValueError(f"{path}: invalid NGFF {version} metadata ({' '.join(first[:3])})") from exc
    return version

"""write_image: ImageJ / OME / plain TIFF and PNG, atomically, with pixel sizes and params."""

from __future__ import annotations

import json
import os
import secrets
from contextlib import contextmanager
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import tifffile

from ._core import IMAGEJ_ORDER, PARAMS_KEY, ImageMeta, canonical_unit, check_axes
from ._paths import check_not_input

FLAVOURS = ("imagej", "ome", "tiff", "png")
_OME_UNITS = {"um": "µm", "nm": "nm", "pm": "pm", "angstrom": "Å", "mm": "mm", "cm": "cm",
              "m": "m", "inch": "in", "pixel": "pixel"}
_IMAGEJ_MAX_BYTES = 2**32 - 2**25  # beyond this tifffile needs BigTIFF, which ImageJ cannot read


def write_image(path, data, axes: str, pixel_sizes: dict | None = None, unit: str = "um",
                flavour: str | None = None, params: dict | None = None,
                overwrite: bool = False, *, meta: ImageMeta | None = None, inputs=()) -> Path:
    """Write `data` with its axes, physical pixel sizes and ZSSR parameters.

    flavour None picks by extension: .ome.tif(f) -> "ome"; .tif(f) -> "imagej" when
    ImageJ can hold the data (uint8/uint16/float32, RGB only as uint8, x and y sizes
    together), else "tiff" (plain TIFF, metadata as JSON in the description);
    .png -> "png" (2-D uint8/uint16 or RGB(A) uint8; pixel sizes are not stored).
    ImageJ files store the axes in ImageJ's TZCYXS order (the data are transposed).
    float64/float16 are written as float32; bool and complex are refused.
    The file appears complete or not at all (temp file + rename); an existing file is
    replaced only with overwrite=True, and a file that is one of `inputs` (by any path: link,
    symlink, ..) never. `meta`: channel names and colours, time increment (kept where the
    flavour can hold them: OME, ImageJ, plain TIFF). Returns the path written.
    """
    path = Path(path)
    data = _writable(np.asarray(data))
    check_axes(axes, data.ndim)
    if "S" in axes and data.shape[-1] not in (3, 4):
        raise ValueError(f"axes {axes!r}: S must have 3 or 4 samples, not {data.shape[-1]}")
    sizes = _check_sizes(pixel_sizes)
    if params is not None:
        try:  # fail before touching the disk
            json.dumps(params)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"params are not JSON-serialisable: {exc}") from exc

    flavour = _choose_flavour(path, flavour, data, axes, sizes)
    writer = {"imagej": _write_imagej, "ome": _write_ome, "tiff": _write_tiff,
              "png": _write_png}[flavour]
    extra = _display_meta(meta, data, axes)
    with atomic_file(path, overwrite, inputs) as fh:
        writer(fh, data, axes, sizes, unit, params, extra)
    return path


def write_like(path, data, axes: str, pixel_sizes: dict | None, like: ImageMeta, params: dict | None = None,
               overwrite: bool = False, inputs=()) -> Path:
    """Write a result "like" its input: its TIFF flavour where the output can hold the result
    (else the extension decides), its unit, channel names/colours and time increment."""
    path = Path(path)
    name = path.name.lower()
    flavour = None
    if name.endswith((".tif", ".tiff")) and not name.endswith((".ome.tif", ".ome.tiff")) \
            and like.flavour in ("imagej", "ome", "tiff"):
        flavour = like.flavour
    unit = like.unit if pixel_sizes else "um"
    kwargs = dict(pixel_sizes=pixel_sizes, unit=unit, params=params, overwrite=overwrite, meta=like, inputs=inputs)
    if flavour is not None:
        try:
            return write_image(path, data, axes, flavour=flavour, **kwargs)
        except ValueError as exc:
            if "cannot write" not in str(exc):
                raise
    # the input's flavour cannot hold this result (e.g. ImageJ and int32): the extension decides
    return write_image(path, data, axes, **kwargs)


def check_format(path, axes: str, dtype) -> None:
    """Before any work: refuse an output whose format cannot hold `axes` / `dtype` (PNG's limits)."""
    path = Path(path)
    if path.name.lower().endswith(".png"):
        problem = _png_problem(np.empty((0,), dtype), axes, {})
        if problem:
            raise ValueError(f"{path}: {problem}; write a .tif instead")


def _display_meta(meta: ImageMeta | None, data, axes: str) -> dict:
    """The parts of `meta` that fit this data: names/colours per C entry, time when T is there."""
    if meta is None:
        return {}
    n_c = data.shape[axes.index("C")] if "C" in axes else (1 if "S" not in axes else 0)
    out = {}
    if meta.channel_names and len(meta.channel_names) == n_c:
        out["names"] = [str(n) for n in meta.channel_names]
    if meta.channel_colors and len(meta.channel_colors) == n_c and any(meta.channel_colors):
        out["colors"] = list(meta.channel_colors)
    if "T" in axes and meta.time_increment:
        out["time_increment"] = float(meta.time_increment)
        out["time_unit"] = meta.time_unit or "s"
    return out


def _writable(data: np.ndarray) -> np.ndarray:
    if data.dtype.kind not in "uif":
        raise ValueError(f"cannot write {data.dtype} data (real numbers only)")
    if data.dtype.kind == "f" and data.dtype.itemsize != 4:
        return data.astype(np.float32)  # float64 is not worth the space; float16 is rarely readable
    return data if data.dtype.isnative else data.astype(data.dtype.newbyteorder("="))


def _check_sizes(pixel_sizes: dict | None) -> dict[str, float]:
    sizes = {str(k).lower(): float(v) for k, v in (pixel_sizes or {}).items()}
    for ax, value in sizes.items():
        if ax not in ("z", "y", "x"):
            raise ValueError(f"pixel_sizes: unknown axis {ax!r} (use z, y, x)")
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"pixel_sizes: {ax} size must be positive, got {value}")
    return sizes


def _choose_flavour(path: Path, flavour, data, axes, sizes) -> str:
    name = path.name.lower()
    explicit = flavour is not None
    if not explicit:
        if name.endswith((".ome.tif", ".ome.tiff")):
            flavour = "ome"
        elif name.endswith((".tif", ".tiff")):
            flavour = "imagej"
        elif name.endswith(".png"):
            flavour = "png"
        else:
            raise ValueError(f"{path}: unknown extension (use .tif, .ome.tif or .png, or pass flavour)")
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r} (use one of {', '.join(FLAVOURS)})")
    problem = {"imagej": _imagej_problem, "ome": _ome_problem, "png": _png_problem}.get(
        flavour, lambda *a: None)(data, axes, sizes)
    if problem and flavour == "imagej" and not explicit:
        return "tiff"  # a .tif ImageJ cannot hold is still a valid TIFF
    if problem:
        raise ValueError(f"{path}: cannot write {flavour}: {problem}")
    return flavour


def _imagej_problem(data, axes, sizes) -> str | None:
    if data.dtype not in (np.uint8, np.uint16, np.float32):
        return f"ImageJ holds uint8, uint16 or float32, not {data.dtype}"
    if "S" in axes and (data.dtype != np.uint8 or "C" in axes):
        return "ImageJ RGB must be uint8 without a C axis"
    if ("x" in sizes) != ("y" in sizes):
        return "ImageJ stores the x and y pixel sizes together; give both or neither"
    if data.nbytes > _IMAGEJ_MAX_BYTES:
        return "larger than 4 GB"
    return None


def _ome_problem(data, axes, sizes) -> str | None:
    if data.dtype.itemsize > 4:
        return f"OME-TIFF does not hold {data.dtype}"
    return None


def _png_problem(data, axes, sizes) -> str | None:
    """PNG's limits (the one place they are written down)."""
    if axes == "YX" and data.dtype in (np.uint8, np.uint16):
        return None
    if axes == "YXS" and data.dtype == np.uint8:
        return None
    if axes == "YXS" and data.dtype == np.uint16:
        return "16-bit RGB PNG is not supported; use TIFF"
    return f"PNG holds 2-D uint8/uint16 or RGB(A) uint8 images, not {axes} {data.dtype}"


def _write_imagej(fh, data, axes, sizes, unit, params, extra):
    order = [axes.index(a) for a in IMAGEJ_ORDER if a in axes]
    data = np.transpose(data, order)
    axes = "".join(axes[i] for i in order)
    metadata = {"axes": axes}
    n_c = data.shape[axes.index("C")] if "C" in axes else 1
    if "names" in extra:
        # ImageJ has slice labels, one per plane (T, Z, C order): each plane is labelled with its channel
        n_planes = int(np.prod([data.shape[axes.index(a)] for a in "TZC" if a in axes]))
        metadata["Labels"] = [extra["names"][i % n_c] for i in range(n_planes)]
    if "colors" in extra:
        metadata["LUTs"] = [_lut(c) for c in extra["colors"]]
    if "time_increment" in extra:
        metadata["finterval"] = extra["time_increment"]
        metadata["tunit"] = extra["time_unit"]
    kwargs = {}
    if sizes:
        metadata["unit"] = _imagej_unit(unit)
        if "z" in sizes:
            metadata["spacing"] = sizes["z"]
        if "x" in sizes:  # y is there too (_imagej_problem); resolution = pixels per unit
            kwargs["resolution"] = (1.0 / sizes["x"], 1.0 / sizes["y"])
    if "C" in axes and data.shape[axes.index("C")] > 1:
        metadata["mode"] = "composite"  # independent fluorescence channels, overlaid
    if params is not None:
        # Info (not the description) survives re-saving in ImageJ
        metadata["Info"] = f"{PARAMS_KEY}={json.dumps(params)}"
    tifffile.imwrite(fh, data, imagej=True, metadata=metadata,
                     photometric="rgb" if "S" in axes else "minisblack", **kwargs)


def _imagej_unit(unit: str) -> str:
    """The ImageJ description must be ASCII; ImageJ itself escapes as \\uXXXX."""
    return "".join(c if ord(c) < 128 else f"\\u{ord(c):04X}" for c in canonical_unit(unit))


def _lut(color) -> np.ndarray:
    """An ImageJ LUT (3, 256) ramping from black to `color` ("#rrggbb"; None: gray)."""
    rgb = _rgb(color) or (255, 255, 255)
    ramp = np.arange(256, dtype=np.float64) / 255.0
    return np.stack([np.round(ramp * v) for v in rgb]).astype(np.uint8)


def _rgb(color) -> tuple | None:
    if not color:
        return None
    text = str(color).lstrip("#")
    return tuple(int(text[i:i + 2], 16) for i in (0, 2, 4))


def _ome_color(color) -> int:
    """OME's Color: RGBA packed in a signed 32-bit integer (opaque)."""
    r, g, b = _rgb(color) or (255, 255, 255)
    value = (r << 24) | (g << 16) | (b << 8) | 255
    return value - (1 << 32) if value >= (1 << 31) else value


def ome_sizes_and_params(sizes: dict, unit: str, params: dict | None) -> dict:
    """OME metadata for pixel sizes (with their unit) and the run's parameters."""
    metadata = {}
    if sizes:
        ome_unit = _OME_UNITS.get(canonical_unit(unit))
        if ome_unit is None:
            raise ValueError(f"OME-TIFF does not know the unit {unit!r}")
        for ax, value in sizes.items():
            metadata[f"PhysicalSize{ax.upper()}"] = value
            metadata[f"PhysicalSize{ax.upper()}Unit"] = ome_unit
    if params is not None:
        metadata["Description"] = json.dumps({PARAMS_KEY: params})
    return metadata


def _write_ome(fh, data, axes, sizes, unit, params, extra):
    metadata = {"axes": axes}
    channel = {}
    if "names" in extra:
        channel["Name"] = extra["names"]
    if "colors" in extra:
        channel["Color"] = [_ome_color(c) for c in extra["colors"]]
    if channel and "C" in axes:
        metadata["Channel"] = channel
    if "time_increment" in extra:
        metadata["TimeIncrement"] = extra["time_increment"]
        metadata["TimeIncrementUnit"] = extra["time_unit"]
    metadata.update(ome_sizes_and_params(sizes, unit, params))
    tifffile.imwrite(fh, data, ome=True, metadata=metadata,
                     photometric="rgb" if "S" in axes else "minisblack")


def _write_tiff(fh, data, axes, sizes, unit, params, extra):
    # tifffile keeps `metadata` as JSON in the description ("shaped" TIFF)
    metadata = {"axes": axes}
    for key, name in (("names", "channel_names"), ("colors", "channel_colors"),
                      ("time_increment", "time_increment"), ("time_unit", "time_unit")):
        if key in extra:
            metadata[name] = extra[key]
    if sizes:
        metadata.update(pixel_sizes=sizes, unit=canonical_unit(unit))
    if params is not None:
        metadata[PARAMS_KEY] = params
    tifffile.imwrite(fh, data, metadata=metadata,
                     photometric="rgb" if "S" in axes else "minisblack")


def _write_png(fh, data, axes, sizes, unit, params, extra):
    kwargs = {}
    if params is not None:
        from PIL.PngImagePlugin import PngInfo  # Pillow is imageio's PNG backend

        kwargs["pnginfo"] = PngInfo()
        kwargs["pnginfo"].add_text(PARAMS_KEY, json.dumps(params))
    iio.imwrite(fh, data, extension=".png", **kwargs)


@contextmanager
def atomic_file(path: Path, overwrite: bool, inputs=()):
    """Yield a binary handle to a temp file next to `path`; rename it over `path` on success.

    On any error the temp file is removed and an existing `path` is untouched; `path` is never
    one of `inputs` (the one place files are written: images, models, manifests).
    """
    path = Path(path)
    check_not_input(path, inputs)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: file exists (pass overwrite=True to replace it)")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: directory {path.parent} does not exist")
    # same directory, so os.replace is a rename on one filesystem (atomic); open(.., "xb")
    # gives umask-based permissions (mkstemp's are 0600) and a named handle (tifffile
    # needs fh.name to be a path, which os.fdopen handles are not)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

"""read_image: TIFF (ImageJ, OME, plain) and PNG into ImageData."""

from __future__ import annotations

import json
import logging
import re
import warnings
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import tifffile

from ._core import PARAMS_KEY, ImageData, ImageReadError, normalise_axes, sizes_in_um

_TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")  # classic and BigTIFF
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read_image(path) -> ImageData:
    """Read a TIFF or PNG file with its axes, physical pixel sizes and ZSSR parameters.

    Raises ImageReadError (a ValueError) with a one-line "path: reason" message for a
    missing, unreadable or corrupt file or an unsupported data type.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "is a directory" if path.is_dir() else "no such file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ImageReadError(path, f"cannot open ({exc.strerror})") from exc
    # decide by content, not extension: a garbage "x.tif" gets a clear reason
    if head[:4] in _TIFF_MAGIC:
        kind, reader = "TIFF", _read_tiff
    elif head == _PNG_MAGIC:
        kind, reader = "PNG", _read_png
    else:
        raise ImageReadError(path, "not a TIFF or PNG file")
    try:
        image = reader(path)
    except Exception as exc:  # the decoders raise many types on corrupt input
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageReadError(path, f"cannot read {kind} file ({reason})") from exc
    if image.data.dtype.kind not in "uif":
        raise ImageReadError(path, f"unsupported data type {image.data.dtype}")
    return image


class _TiffDamage(logging.Handler):
    """tifffile's log records of a broken page chain (it then reads what it can and fills the rest)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.found = []

    def emit(self, record):
        msg = record.getMessage()
        if "offset" in msg:
            self.found.append(msg.split("> ", 1)[-1])


def check_complete(tif, series, path: Path) -> None:
    """A truncated or damaged TIFF: tifffile gives the series its full shape and fills what the file
    lacks with zeros (planes of nothing, a wrong result); refused instead (found by the fuzz test of
    issue 28)."""
    size = path.stat().st_size
    off = getattr(series, "dataoffset", None)
    if off is not None and off + series.nbytes > size:
        raise ValueError(f"the file is truncated ({size} bytes; the image needs {off + series.nbytes})")
    for page in series.pages:
        if page is None:
            raise ValueError("the file is damaged (a page of the image is missing)")
        for o, n in zip(getattr(page, "dataoffsets", ()), getattr(page, "databytecounts", ())):
            if o + n > size:
                raise ValueError(f"the file is truncated ({size} bytes; a page's data ends at {o + n})")


@contextmanager
def tiff_damage():
    """Collects tifffile's complaints about a broken page chain while a TIFF is opened."""
    damage = _TiffDamage()
    log = logging.getLogger("tifffile")
    log.addHandler(damage)
    try:
        yield damage
    finally:
        log.removeHandler(damage)


def _read_tiff(path: Path) -> ImageData:
    with tiff_damage() as damage:
        return _read_tiff_checked(path, damage)


def _read_tiff_checked(path: Path, damage: "_TiffDamage") -> ImageData:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tifffile warns about odd-but-readable tags
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]  # first image; level 0 of a pyramid
            check_complete(tif, series, path)
            if damage.found:
                raise ValueError(f"the file is damaged ({damage.found[0]})")
            data = series.asarray()
            page = tif.pages[0]
            if tif.is_ome:
                flavour = "ome"
                sizes, params = _ome_metadata(tif.ome_metadata)
                shown = _ome_display(tif.ome_metadata)
            elif tif.is_imagej:
                flavour = "imagej"
                sizes, params = _imagej_metadata(tif.imagej_metadata or {}, page)
                shown = _imagej_display(tif.imagej_metadata or {})
            else:
                flavour = "tiff"
                sizes, params = _shaped_metadata(tif.shaped_metadata)
                shown = _shaped_display(tif.shaped_metadata)
            axes = series.axes
    data, axes = normalise_axes(axes, _native(data))
    pixel_sizes, unit = sizes_in_um(sizes)
    return ImageData(data, axes, pixel_sizes, unit, flavour, params, **shown)


def _read_png(path: Path) -> ImageData:
    data = iio.imread(path)
    meta = iio.immeta(path)
    if data.ndim == 2:
        axes = "YX"
    elif data.ndim == 3:  # PNG's extra dimension is always colour (or gray+alpha)
        axes = "YXS" if data.shape[-1] in (3, 4) else "YXC"
    else:
        raise ValueError(f"unexpected PNG shape {data.shape}")
    return ImageData(_native(data), axes, {}, "pixel", "png", _json_dict(meta.get(PARAMS_KEY)))


def _native(data: np.ndarray) -> np.ndarray:
    """Big-endian arrays confuse torch; return native byte order."""
    return data if data.dtype.isnative else data.astype(data.dtype.newbyteorder("="))


def _json_dict(text) -> dict | None:
    if isinstance(text, dict):
        return text
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _imagej_metadata(ij: dict, page) -> tuple[dict, dict | None]:
    """Pixel sizes: xy from the resolution tags (pixels per unit), z from `spacing`."""
    # ImageJ's own unit key; without it only an inch/cm ResolutionUnit calibrates
    unit = ij.get("unit") or {2: "inch", 3: "cm"}.get(int(page.resolutionunit))
    sizes = {}
    if unit:
        for ax, name in (("x", "XResolution"), ("y", "YResolution")):
            tag = page.tags.get(name)
            if tag is not None:
                num, den = tag.value  # rational; den/num avoids 1/(num/den) rounding
                if num > 0 and den > 0:
                    sizes[ax] = (den / num, str(unit))
        if ij.get("spacing"):
            sizes["z"] = (float(ij["spacing"]), str(unit))
    # we write the parameters as a "zssr={...}" line of Info (ImageJ keeps Info when
    # re-saving); a zssr= key in the description is accepted too
    match = re.search(rf"^\s*{PARAMS_KEY}\s*=\s*(\{{.*\}})\s*$", str(ij.get("Info", "")), re.M)
    params = _json_dict(match.group(1)) if match else _json_dict(ij.get(PARAMS_KEY))
    return sizes, params


def _ome_metadata(xml: str | None) -> tuple[dict, dict | None]:
    """PhysicalSize{X,Y,Z}(+Unit, default µm) and Description JSON of the first Image."""
    try:
        image = ET.fromstring(xml).find("{*}Image")
    except (ET.ParseError, TypeError):
        return {}, None  # broken OME-XML: the pixels are still worth having
    if image is None:
        return {}, None
    pixels = image.find("{*}Pixels")
    sizes = {}
    for ax in "xyz":
        value = None if pixels is None else pixels.get(f"PhysicalSize{ax.upper()}")
        if value is not None:
            sizes[ax] = (float(value), pixels.get(f"PhysicalSize{ax.upper()}Unit", "µm"))
    description = image.find("{*}Description")
    wrapper = _json_dict(description.text if description is not None else None) or {}
    return sizes, _json_dict(wrapper.get(PARAMS_KEY))


def _shaped_metadata(shaped: tuple | None) -> tuple[dict, dict | None]:
    """tifffile's JSON description, where write_image keeps sizes for plain TIFFs."""
    meta = shaped[0] if shaped else {}
    unit = str(meta.get("unit", "um"))
    raw = meta.get("pixel_sizes")
    sizes = {ax: (float(v), unit) for ax, v in raw.items()} if isinstance(raw, dict) else {}
    return sizes, _json_dict(meta.get(PARAMS_KEY))


# --- what a user sees besides pixel sizes: channel names and colours, time increment -----------

def _hex(r: int, g: int, b: int) -> str:
    return f"#{r:02x}{g:02x}{b:02x}"


def _ome_display(xml: str | None) -> dict:
    try:
        pixels = ET.fromstring(xml).find("{*}Image/{*}Pixels")
    except (ET.ParseError, TypeError):
        return {}
    if pixels is None:
        return {}
    out = {}
    channels = pixels.findall("{*}Channel")
    names = [c.get("Name") for c in channels]
    if channels and all(names):
        out["channel_names"] = tuple(names)
    colors = []
    for c in channels:
        raw = c.get("Color")
        if raw is None:
            colors.append(None)
            continue
        v = int(raw) & 0xFFFFFFFF                        # signed RGBA -> unsigned
        colors.append(_hex((v >> 24) & 255, (v >> 16) & 255, (v >> 8) & 255))
    if any(colors):
        out["channel_colors"] = tuple(colors)
    if pixels.get("TimeIncrement"):
        out["time_increment"] = float(pixels.get("TimeIncrement"))
        out["time_unit"] = pixels.get("TimeIncrementUnit", "s")
    return out


def _imagej_display(ij: dict) -> dict:
    out = {}
    n_c = int(ij.get("channels", 1) or 1)
    labels = ij.get("Labels")
    if isinstance(labels, (list, tuple)) and len(labels) >= n_c:
        first = [str(x) for x in labels[:n_c]]
        # channel names only when every plane repeats them (slice labels can be anything)
        if all(str(labels[i]) == first[i % n_c] for i in range(len(labels))) and all(first):
            out["channel_names"] = tuple(first)
    luts = ij.get("LUTs")
    if isinstance(luts, (list, tuple)) and len(luts) == n_c:
        out["channel_colors"] = tuple(_hex(*(int(v) for v in np.asarray(lut)[:, -1])) for lut in luts)
    if ij.get("finterval"):
        out["time_increment"] = float(ij["finterval"])
        out["time_unit"] = str(ij.get("tunit") or "s")
    return out


def _shaped_display(shaped: tuple | None) -> dict:
    meta = shaped[0] if shaped else {}
    out = {}
    for key in ("channel_names", "channel_colors"):
        if isinstance(meta.get(key), (list, tuple)):
            out[key] = tuple(meta[key])
    if meta.get("time_increment"):
        out["time_increment"] = float(meta["time_increment"])
        out["time_unit"] = str(meta.get("time_unit") or "s")
    return out

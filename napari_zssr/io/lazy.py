"""Open an image without loading it: OME-Zarr, TIFF (tifffile's zarr store), vendor formats (bioio).

    open_lazy(path) -> ImageData whose `data` is a dask array; pixels are read block by block
    when computed, so a volume bigger than memory can be processed a slab at a time.

The TIFF path reads the same metadata as read_image (ImageJ, OME, tifffile JSON). Vendor formats
(CZI, ND2, LIF, ...) go through bioio when it and its reader plugin are installed; otherwise the
error is one line naming what to install.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import tifffile

from ._core import ImageData, ImageReadError, normalise_axes, sizes_in_um
from ._read import (
    _TIFF_MAGIC,
    _imagej_metadata,
    _ome_metadata,
    _shaped_metadata,
    check_complete,
    read_image,
    tiff_damage,
)
from .ome_zarr import is_zarr_path, read_ome_zarr

# extension -> the bioio reader plugin that reads it
BIOIO_PLUGINS = {".czi": "bioio-czi", ".nd2": "bioio-nd2", ".lif": "bioio-lif", ".lsm": "bioio-tifffile",
                 ".oib": "bioio-bioformats", ".oir": "bioio-bioformats", ".ims": "bioio-imaris",
                 ".vsi": "bioio-bioformats", ".dv": "bioio-dv"}


def open_lazy(path) -> ImageData:
    """The image at `path` as ImageData with a dask array; a one-line ImageReadError on bad input."""
    path = Path(path)
    if is_zarr_path(path):
        return read_ome_zarr(path)
    suffix = path.suffix.lower()
    if suffix in BIOIO_PLUGINS:
        return open_bioio(path)
    if not path.is_file():
        raise ImageReadError(path, "is a directory" if path.is_dir() else "no such file")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head in _TIFF_MAGIC:
        return open_tiff_lazy(path)
    import dask.array as da

    image = read_image(path)                     # PNG and the like are small: read, then wrap
    image.data = da.from_array(image.data, chunks=image.data.shape)
    return image


def open_tiff_lazy(path) -> ImageData:
    """A TIFF's first series as a dask array over tifffile's zarr store (pages/tiles on demand)."""
    import dask.array as da
    import zarr

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with tiff_damage() as damage, tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                check_complete(tif, series, path)          # truncated: refused, not zero-filled
                if damage.found:
                    raise ValueError(f"the file is damaged ({damage.found[0]})")
                axes = series.axes
                flavour, sizes, params = tiff_metadata(tif)
            store = tifffile.imread(path, aszarr=True, series=0, level=0)
            array = zarr.open(store, mode="r")
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageReadError(path, f"cannot read TIFF file ({reason})") from exc
    if np.dtype(array.dtype).kind not in "uif":
        raise ImageReadError(path, f"unsupported data type {array.dtype}")
    data = da.from_zarr(array)
    if not data.dtype.isnative:
        data = data.astype(data.dtype.newbyteorder("="))
    data, axes = normalise_axes(axes, data)
    pixel_sizes, unit = sizes_in_um(sizes)
    return ImageData(data, axes, pixel_sizes, unit, flavour, params)


def peek_tiff(path) -> ImageData | None:
    """A TIFF's first series without its pixels: ImageData whose `data` is a zero-stride view of the
    right shape and dtype (no memory), with axes and pixel sizes as read_image reads them; None for
    other formats (PNG and the like are small) or a header that cannot be read (read_image says why)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            if fh.read(4) not in _TIFF_MAGIC:
                return None
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                shape, dtype, axes = tuple(series.shape), np.dtype(series.dtype), series.axes
                flavour, sizes, params = tiff_metadata(tif)
        data, axes = normalise_axes(axes, np.broadcast_to(np.zeros((), dtype), shape))
        pixel_sizes, unit = sizes_in_um(sizes)
    except Exception:  # noqa: BLE001 -- read_image gives the one-line reason
        return None
    return ImageData(data, axes, pixel_sizes, unit, flavour, params)


def tiff_metadata(tif: tifffile.TiffFile) -> tuple[str, dict, dict | None]:
    """(flavour, per-axis (size, unit), ZSSR params): what read_image takes from the same tags."""
    if tif.is_ome:
        return ("ome", *_ome_metadata(tif.ome_metadata))
    if tif.is_imagej:
        return ("imagej", *_imagej_metadata(tif.imagej_metadata or {}, tif.pages[0]))
    return ("tiff", *_shaped_metadata(tif.shaped_metadata))


def open_bioio(path) -> ImageData:
    """Vendor formats through bioio (optional extra); its dask data, physical sizes and channels."""
    path = Path(path)
    plugin = BIOIO_PLUGINS.get(path.suffix.lower(), "the bioio plugin for this format")
    try:
        from bioio import BioImage
    except ImportError:
        raise ImageReadError(path, f"reading {path.suffix} files needs bioio: "
                                   f"pip install 'napari-zssr[bioio]' {plugin}") from None
    if not path.exists():
        raise ImageReadError(path, "no such file")
    try:
        img = BioImage(path)
        data = img.get_image_dask_data("TCZYX")
        ps = img.physical_pixel_sizes
        names = list(img.channel_names) if img.channel_names else None
    except Exception as exc:  # bioio raises its own types for a missing plugin or a corrupt file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "plugin" in reason.lower() or "reader" in reason.lower():
            reason = f"{reason}; try: pip install {plugin}"
        raise ImageReadError(path, f"cannot read with bioio ({reason})") from exc
    sizes = {a: float(v) for a, v in zip("zyx", (ps.Z, ps.Y, ps.X)) if v}
    # drop the singleton axes bioio adds, keeping Y and X
    keep = [i for i, (a, n) in enumerate(zip("TCZYX", data.shape)) if n > 1 or a in "YX"]
    axes = "".join("TCZYX"[i] for i in keep)
    data = data.reshape(tuple(data.shape[i] for i in keep))
    sizes = {a: v for a, v in sizes.items() if a.upper() in axes}
    return ImageData(data, axes, sizes, "um" if sizes else "pixel", "bioio", None,
                     channel_names=tuple(names) if names and "C" in axes else None)

"""Large TIFF output: an OME-TIFF (BigTIFF) written plane by plane from a lazy array.

    write_tiff_planes(path, data, axes, pixel_sizes=None, unit="um", params=None, overwrite=False)

For results too big for memory but within what a TIFF holds (e.g. a chunked run's OME-Zarr
exported for a tool that reads only TIFF): one yx plane is in memory at a time; the file appears
complete or not at all (temp file + rename), as with write_image.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from ._core import check_axes
from ._write import _check_sizes, atomic_file, ome_sizes_and_params


def write_tiff_planes(path, data, axes: str, pixel_sizes: dict | None = None, unit: str = "um",
                      params: dict | None = None, overwrite: bool = False) -> Path:
    """Write a numpy/dask/zarr array (no S axis) as a BigTIFF OME-TIFF, one plane at a time."""
    path = Path(path)
    check_axes(axes, len(data.shape))
    if "S" in axes:
        raise ValueError("plane-by-plane TIFF output holds no RGB samples axis")
    if axes[-2:] != "YX":
        raise ValueError(f"axes {axes!r}: Y and X must be the last two axes")
    dtype = np.dtype(data.dtype)
    if dtype.kind not in "uif" or dtype.itemsize > 4:
        raise ValueError(f"OME-TIFF does not hold {dtype}")
    sizes = _check_sizes(pixel_sizes)
    metadata = {"axes": axes}
    metadata.update(ome_sizes_and_params(sizes, unit, params))
    lead = tuple(data.shape[:-2])

    def planes():
        for idx in np.ndindex(*lead):
            yield np.asarray(data[idx], dtype=dtype)

    with atomic_file(path, overwrite) as fh:
        tifffile.imwrite(fh, planes(), shape=tuple(data.shape), dtype=dtype, bigtiff=True, ome=True,
                         metadata=metadata, photometric="minisblack")
    return path

"""TIFF/PNG read and write with physical pixel sizes (ImageJ and OME metadata).

No napari or Qt here: the reader/writer contributions, the CLI and the tests call these.

    read_image(path) -> ImageData(data, axes, pixel_sizes, unit, flavour, description_params)
    write_image(path, data, axes, pixel_sizes=None, unit="um", flavour=None, params=None,
                overwrite=False) -> Path

Big data (lazy: `data` is a dask array, nothing read until computed):
    open_lazy(path) -> ImageData      OME-Zarr 0.4/0.5, TIFF via tifffile's zarr store, bioio formats
    write_ome_zarr(path, data, axes, ...) -> Path   NGFF 0.5 (or 0.4) with a pyramid
"""

from ._core import AXES, ImageData, ImageReadError, canonical_unit, guess_axes
from ._read import read_image
from ._write import FLAVOURS, write_image
from .lazy import open_lazy
from .ome_zarr import read_ome_zarr, validate_ome_zarr, write_ome_zarr

__all__ = [
           "AXES",
           "FLAVOURS",
           "ImageData",
           "ImageReadError",
           "canonical_unit",
           "guess_axes",
           "open_lazy",
           "read_image",
           "read_ome_zarr",
           "validate_ome_zarr",
           "write_image",
           "write_ome_zarr",
]

"""TIFF/PNG read and write with physical pixel sizes (ImageJ and OME metadata).

No napari or Qt here: the reader/writer contributions, the CLI and the tests call these.

    read_image(path) -> ImageData(data, axes, pixel_sizes, unit, flavour, description_params,
                                  channel_names, channel_colors, time_increment, time_unit)
    write_image(path, data, axes, pixel_sizes=None, unit="um", flavour=None, params=None,
                overwrite=False, *, meta=None, inputs=()) -> Path
    write_like(path, data, axes, pixel_sizes, like: ImageMeta, params, overwrite, inputs) -> Path
    check_output_path(path, overwrite, inputs) / check_format(path, axes, dtype): before any work
    check_zarr_output_path(path, inputs): the same for the OME-Zarr output of a chunked run

The rules on output paths (never onto an input, by any path), formats (PNG's limits) and atomic
writes live here only.
"""

from ._core import AXES, ImageData, ImageMeta, ImageReadError, canonical_unit, guess_file_axes
from ._paths import (
    OUTPUT_EXTS,
    OutputPathError,
    check_not_input,
    check_output_path,
    check_writable_dir,
    check_zarr_output_path,
    same_file,
)
from ._read import read_image
from ._write import FLAVOURS, atomic_file, check_format, write_image, write_like

__all__ = ["AXES", "FLAVOURS", "OUTPUT_EXTS", "ImageData", "ImageMeta", "ImageReadError", "OutputPathError",
           "atomic_file", "canonical_unit", "check_format", "check_not_input", "check_output_path",
           "check_writable_dir", "check_zarr_output_path",
           "guess_file_axes", "read_image", "same_file", "write_image", "write_like"]

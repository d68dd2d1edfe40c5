"""TIFF/PNG read and write with physical pixel sizes (ImageJ and OME metadata).

No napari or Qt here: the reader/writer contributions, the CLI and the tests call these.

    read_image(path) -> ImageData(data, axes, pixel_sizes, unit, flavour, description_params)
    write_image(path, data, axes, pixel_sizes=None, unit="um", flavour=None, params=None,
                overwrite=False) -> Path
"""

from ._core import AXES, ImageData, ImageReadError, canonical_unit, guess_axes
from ._read import read_image
from ._write import FLAVOURS, write_image

__all__ = ["AXES", "FLAVOURS", "ImageData", "ImageReadError", "canonical_unit", "guess_axes",
           "read_image", "write_image"]

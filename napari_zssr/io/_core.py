"""Shared pieces of the io package: the ImageData record, axes and unit rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

# the project's axis letters and the one axes-guessing rule; "S" = RGB(A) samples, last
from ..axes import AXES, guess_axes, validate_axes
IMAGEJ_ORDER = "TZCYXS"  # ImageJ hyperstacks store dimensions in exactly this order
PARAMS_KEY = "zssr"  # key under which the run parameters are stored in every flavour


class ImageReadError(ValueError):
    """A file could not be read as an image; the message is one line: path and reason."""

    def __init__(self, path, reason: str | None = None):
        # one argument: the whole message (how pickle rebuilds it, e.g. from a dask worker)
        super().__init__(str(path) if reason is None else f"{path}: {reason}")


@dataclass
class ImageData:
    """An image with the metadata the rest of napari-zssr needs.

    data: the pixels, native byte order.
    axes: one letter per dimension from "TZCYXS"; "S" (RGB(A) samples) is always last.
    pixel_sizes: physical size per spatial axis, keys "z", "y", "x", in `unit`;
        an axis without known size is absent.
    unit: "um" for any length unit (converted), else the file's unit as found,
        or "pixel" when the file is not calibrated.
    flavour: "imagej", "ome", "tiff" or "png" — how the metadata was stored.
    description_params: the ZSSR parameters recorded in the file, if any.
    data may also be a dask array (lazy readers: OME-Zarr, big TIFF); nothing is read until computed.
    """

    data: np.ndarray
    axes: str
    pixel_sizes: dict[str, float] = field(default_factory=dict)
    unit: str = "pixel"
    flavour: str = "tiff"
    description_params: dict | None = None
    channel_names: tuple | None = None     # one per C entry, as the file names them
    channel_colors: tuple | None = None    # one per C entry: "#rrggbb" or None
    time_increment: float | None = None    # between T entries, in time_unit
    time_unit: str | None = None
    translate: dict[str, float] = field(default_factory=dict)  # world offset per axis, same unit

    def __post_init__(self):
        check_axes(self.axes, self.data.ndim)
        n_c = self.data.shape[self.axes.index("C")] if "C" in self.axes else 1
        for name in ("channel_names", "channel_colors"):
            value = getattr(self, name)
            if value is not None and len(value) != n_c:   # metadata of another shape: not ours to trust
                object.__setattr__(self, name, None)

    @property
    def meta(self) -> "ImageMeta":
        """Everything but the pixels: what a result written "like" this image keeps."""
        return ImageMeta(self.unit, self.flavour, self.description_params, self.channel_names,
                         self.channel_colors, self.time_increment, self.time_unit)


@dataclass(frozen=True)
class ImageMeta:
    """The metadata of an image a user sees besides pixel sizes (see ImageData); carried from an
    input to its result (CLI, batch) without the pixels."""

    unit: str = "pixel"
    flavour: str = "tiff"
    description_params: dict | None = None
    channel_names: tuple | None = None
    channel_colors: tuple | None = None
    time_increment: float | None = None
    time_unit: str | None = None


def check_axes(axes: str, ndim: int) -> None:
    """Raise ValueError unless `axes` is a valid axes string for an ndim array (nd's rules)."""
    if validate_axes(axes, ndim) != axes:
        raise ValueError(f"axes {axes!r}: use upper-case letters from {AXES}")


def is_rgb_like(shape: tuple[int, ...], dtype: np.dtype) -> bool:
    """Whether a trailing dimension looks like RGB(A) samples rather than a stack."""
    return len(shape) >= 3 and shape[-1] in (3, 4) and np.dtype(dtype) in (np.uint8, np.uint16)


def guess_file_axes(shape: tuple[int, ...], dtype) -> str:
    """Axes for an array without metadata: nd's guess_axes, RGB(A) samples if they look like it."""
    return guess_axes(shape, is_rgb_like(shape, dtype))


def normalise_axes(axes: str, data: np.ndarray) -> tuple[np.ndarray, str]:
    """Map tifffile's series axes (which may use I, Q, E, ... or put S first) to TZCYXS.

    tifffile labels dimensions it cannot name "Q" and plain page stacks "I"; when
    nothing but those is known the shape decides (guess_file_axes). Other letters (OME
    modulo axes like E, H, A) take the first free non-spatial letter.
    """
    axes = axes.upper()
    if "S" in axes and axes[-1] != "S":  # planar RGB: move samples last
        if data.shape[axes.index("S")] in (3, 4):
            data = np.moveaxis(data, axes.index("S"), -1)
            axes = axes.replace("S", "") + "S"
        else:  # extra samples that are not colour are channels
            axes = axes.replace("S", "Q")
    if axes.endswith("S") and data.shape[-1] not in (3, 4):
        axes = axes[:-1] + "Q"
    lead = "".join(a for a in axes if a not in "YXS")
    if lead and set(lead) <= set("IQ") and len(lead) <= 3 and axes.startswith(lead):
        # no names at all: guess from the shape, keeping tifffile's YX(S)
        guessed = guess_file_axes(data.shape[: len(lead)] + (1, 1), np.float32)[: len(lead)]
        return data, guessed + axes[len(lead):]
    out = []
    for a in axes:
        if a in AXES and a not in out:
            out.append(a)
            continue
        prefs = "ZTC" if a == "I" else "CTZ"
        free = [p for p in prefs if p not in axes and p not in out]
        if not free:
            raise ValueError(f"cannot map axes {axes!r} to {AXES}")
        out.append(free[0])
    return data, "".join(out)


# --- units --------------------------------------------------------------------------

_UM_PER_UNIT = {"um": 1.0, "nm": 1e-3, "pm": 1e-6, "angstrom": 1e-4, "mm": 1e3,
                "cm": 1e4, "m": 1e6, "inch": 25400.0}
_ALIASES = {
    "µm": "um", "μm": "um", "micron": "um", "microns": "um", "micrometer": "um",
    "micrometre": "um", "micrometers": "um", "micrometres": "um",
    "nanometer": "nm", "nanometre": "nm", "nanometers": "nm", "nanometres": "nm",
    "millimeter": "mm", "millimetre": "mm", "centimeter": "cm", "centimetre": "cm",
    "meter": "m", "metre": "m", "å": "angstrom", "Å": "angstrom", "in": "inch",
    "inches": "inch", "pixels": "pixel", "px": "pixel",
}


def canonical_unit(unit: str) -> str:
    """A unit string in canonical form: 'µm', 'micron', '\\u00B5m' -> 'um'.

    ImageJ stores non-ASCII characters of the unit as literal \\uXXXX escapes.
    """
    unit = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), unit).strip()
    for key in (unit, unit.lower()):
        if key in _ALIASES:
            return _ALIASES[key]
        if key in _UM_PER_UNIT or key == "pixel":
            return key
    return unit


def to_um(size: float, unit: str) -> float | None:
    """`size` in `unit` converted to micrometres; None if `unit` is not a length."""
    factor = _UM_PER_UNIT.get(canonical_unit(unit))
    return None if factor is None else float(size) * factor


def sizes_in_um(sizes: dict[str, tuple[float, str]]) -> tuple[dict[str, float], str]:
    """Per-axis (size, unit) pairs to one dict and one unit, converting lengths to um.

    If some unit is not a length (e.g. 'pixel') the sizes are kept as found when all
    axes share it, otherwise the axes with a non-length unit are dropped.
    """
    converted = {ax: to_um(s, u) for ax, (s, u) in sizes.items()}
    if sizes and all(v is None for v in converted.values()):
        units = {canonical_unit(u) for _, u in sizes.values()}
        if len(units) == 1:
            return {ax: float(s) for ax, (s, _) in sizes.items()}, units.pop()
    kept = {ax: v for ax, v in converted.items() if v is not None}
    return kept, ("um" if kept else "pixel")

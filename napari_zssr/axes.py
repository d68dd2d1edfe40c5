"""Axis letters: T (time), Z, C (channels), Y, X, S (RGB(A) samples, processed jointly).

The ground floor of napari_zssr: io, nd and the front ends all read axes through this module,
and it imports nothing of the package.
"""
from __future__ import annotations

AXES = "TZCYXS"


def validate_axes(axes: str, ndim: int, rgb: bool | None = None) -> str:
    """Check axes for data with `ndim` dimensions and return them in upper case; ValueError if bad.

    rgb: True when the data are RGB(A) (a napari layer says so): the last axis must be S;
    False: S is refused (channels are C); None (files, arrays): S is allowed, last.
    """
    axes = (axes or "").upper()
    if len(axes) != ndim:
        raise ValueError(f"axes {axes!r} has {len(axes)} letters but the data has {ndim} dimension(s)")
    bad = set(axes) - set(AXES)
    if bad:
        raise ValueError(f"axes {axes!r}: unknown letter(s) {''.join(sorted(bad))!r}; use letters from {AXES}")
    if len(set(axes)) != len(axes):
        raise ValueError(f"axes {axes!r}: each letter may appear only once")
    if "Y" not in axes or "X" not in axes:
        raise ValueError(f"axes {axes!r} must include Y and X")
    if "S" in axes and axes[-1] != "S":
        raise ValueError("the RGB samples axis S must be the last axis")
    if rgb and not axes.endswith("S"):
        raise ValueError(f"axes {axes!r}: an RGB layer's last axis is S (the colour samples)")
    if rgb is False and "S" in axes:
        raise ValueError(f"axes {axes!r}: S is only for RGB layers; use C for channels")
    return axes


def canonical_order(axes: str) -> str:
    """The axes present, in TZCYXS order (the order nd works in)."""
    return "".join(a for a in AXES if a in axes)


# names (lower-cased) that napari axis labels or file metadata give known axes
LABEL_TO_AXIS = {
    "t": "T", "time": "T", "frame": "T", "frames": "T",
    "z": "Z", "depth": "Z", "slice": "Z", "plane": "Z",
    "c": "C", "ch": "C", "channel": "C", "channels": "C",
    "y": "Y", "row": "Y", "rows": "Y",
    "x": "X", "col": "X", "column": "X", "columns": "X",
    "s": "S", "rgb": "S", "sample": "S", "samples": "S",
}
MAX_GUESS_CHANNELS = 5      # a 4-D array whose first dimension is at most this is C, Z, Y, X


def guess_axes(shape, rgb: bool = False, labels=None) -> str:
    """Axes of an array without trusted metadata (the one rule for files and layers).

    `shape` includes the RGB(A) samples when `rgb` (they become a last "S"). Labels that name
    every non-sample axis win; else by dimensionality: YX, ZYX, CZYX (first dimension at most
    MAX_GUESS_CHANNELS) or TZYX, TZCYX.
    """
    shape = tuple(int(s) for s in shape)
    ndim = len(shape) - (1 if rgb else 0)
    if labels is not None and len(labels) == ndim:
        mapped = [LABEL_TO_AXIS.get(str(label).strip().lower()) for label in labels]
        if all(mapped) and "S" not in mapped and len(set(mapped)) == ndim and {"Y", "X"} <= set(mapped):
            return "".join(mapped) + ("S" if rgb else "")
    lead = {2: "", 3: "Z", 5: "TZC"}.get(ndim)
    if ndim == 4:
        lead = "CZ" if shape[0] <= MAX_GUESS_CHANNELS else "TZ"
    if lead is None:
        raise ValueError(f"cannot guess the axes of a {ndim}-D image; give them "
                         f"(letters from {AXES}, e.g. TZCYX)")
    return lead + "YX" + ("S" if rgb else "")

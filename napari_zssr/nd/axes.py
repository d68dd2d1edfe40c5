"""Axis letters: T (time), Z, C (channels), Y, X, S (RGB(A) samples, processed jointly)."""
from __future__ import annotations

AXES = "TZCYXS"


def validate_axes(axes: str, ndim: int) -> str:
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
    return axes


def canonical_order(axes: str) -> str:
    """The axes present, in TZCYXS order (the order nd works in)."""
    return "".join(a for a in AXES if a in axes)

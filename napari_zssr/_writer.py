"""npe2 writer: an image layer -> TIFF with its physical pixel sizes (via napari_zssr.io.write_image).

Axes come from the layer's axis labels (or its dimensionality), pixel sizes from its scale, the
unit from its units, and the ZSSR parameters of a result layer (``metadata["zssr"]``) go into the
TIFF description.
"""
from __future__ import annotations

from typing import Any, List

import numpy as np

from napari_zssr._layer_job import guess_axes, layer_axes, validate_axes

_UNIT_NAMES = {"micrometer": "um", "nanometer": "nm", "millimeter": "mm", "centimeter": "cm",
               "meter": "m", "angstrom": "A", "pixel": "pixel"}


def _unit_str(unit: Any) -> str:
    if unit is None:
        return "pixel"
    name = str(unit)
    if name in _UNIT_NAMES:
        return _UNIT_NAMES[name]
    try:
        return f"{unit:~}" or name
    except (TypeError, ValueError):
        return name


def spatial_sizes(dims: str, scale, units) -> tuple:
    """z/y/x pixel sizes and one unit for io: lengths converted to um, else as the layer has them."""
    sizes = {a.lower(): float(s) for a, s in zip(dims, scale) if a in "ZYX"}
    spatial_units = [u for a, u in zip(dims, units) if a in "ZYX"]
    try:
        import pint

        ureg = pint.get_application_registry()
        in_um = {}
        for (axis, size), u in zip(sizes.items(), spatial_units):
            q = ureg.Quantity(size, str(u) if u is not None else "pixel")
            in_um[axis] = float(q.to("micrometer").magnitude)
        return in_um, "um"
    except Exception:  # noqa: BLE001 - not lengths (pixel) or mixed: keep the numbers as they are
        names = [_unit_str(u) for u in spatial_units]
        return sizes, (names[-1] if names else "pixel")


def layer_axes_from_meta(data: Any, meta: dict) -> str:
    """The axes of a layer's data from its metadata (a ZSSR result), axis labels or dimensionality."""
    rgb = bool(meta.get("rgb", False))
    ndim = np.ndim(data)
    layer_ndim = ndim - (1 if rgb else 0)
    run = (meta.get("metadata") or {}).get("zssr_run") or {}
    candidates = [run.get("axes")]
    labels = meta.get("axis_labels")
    try:
        candidates.append(guess_axes(layer_ndim, rgb, tuple(labels) if labels is not None else None))
    except ValueError:
        pass
    for axes in candidates:
        if not axes:
            continue
        try:
            return validate_axes(axes, ndim, rgb)
        except ValueError:
            continue
    raise ValueError(f"cannot tell the axes of a {ndim}-D layer; give it axis labels such as z, y, x")


def write_image_layer(path: str, data: Any, meta: dict) -> List[str]:
    """Save one image layer; returns the path written (napari asked, so an existing file is replaced)."""
    from napari_zssr.io import write_image

    axes = layer_axes_from_meta(data, meta)
    dims = layer_axes(axes)
    scale = list(meta.get("scale") or [1.0] * len(dims))
    units = list(meta.get("units") or [None] * len(dims))
    pixel_sizes, unit = spatial_sizes(dims, scale, units)
    metadata = meta.get("metadata") or {}
    params = metadata.get("zssr")
    write_image(
        str(path), np.asarray(data), axes,
        pixel_sizes=pixel_sizes, unit=unit, params=params if params else None, overwrite=True,
    )
    return [str(path)]

"""npe2 writer: an image layer -> TIFF with its physical pixel sizes (via napari_zssr.io.write_image).

Axes come from the layer's axis labels (or its dimensionality), pixel sizes from its scale, the
unit from its units, and the ZSSR parameters of a result layer (``metadata["zssr"]``) go into the
TIFF description.
"""
from __future__ import annotations

from typing import Any, List

import numpy as np

from napari_zssr.plugin.layer_job import layer_axes
from napari_zssr.axes import guess_axes, validate_axes

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
    run = (meta.get("metadata") or {}).get("zssr_run") or {}
    candidates = [run.get("axes")]
    labels = meta.get("axis_labels")
    try:
        candidates.append(guess_axes(np.shape(data), rgb, tuple(labels) if labels is not None else None))
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
        meta=_display_meta(dims, scale, units, metadata),
    )
    return [str(path)]


def _display_meta(dims: str, scale, units, metadata: dict):
    """Channel names the reader recorded (a layer with a C axis), and the time step: the T scale
    when its unit is a time, else what the reader recorded."""
    from napari_zssr.io import ImageMeta

    names = metadata.get("channel_names") if "C" in dims else None
    t_inc, t_unit = metadata.get("time_increment"), metadata.get("time_unit")
    if "T" in dims and _is_time(units[dims.index("T")]):
        t_inc, t_unit = float(scale[dims.index("T")]), _unit_str(units[dims.index("T")])
    return ImageMeta(channel_names=tuple(names) if names else None,
                     time_increment=t_inc if "T" in dims else None, time_unit=t_unit)


def _is_time(unit) -> bool:
    try:
        import pint

        return pint.get_application_registry().Unit(str(unit)).dimensionality == {"[time]": 1}
    except Exception:  # noqa: BLE001 - pixel, None, unknown
        return False

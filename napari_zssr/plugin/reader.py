"""npe2 reader: TIFF -> image layers with physical scale, units and axis labels (via napari_zssr.io).

Channels (C) become separate layers through napari's ``channel_axis``; RGB(A) samples (S, last)
give an RGB layer.  The file's axes, pixel sizes, unit and any ZSSR parameters recorded in it
(a file written by this plugin) go into the layer metadata.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Union

import numpy as np

TIFF_SUFFIXES = (".tif", ".tiff")
PathOrPaths = Union[str, Sequence[str]]

# what io may call a unit -> a name pint (napari's units) understands
_UNIT_ALIASES = {"µm": "um", "μm": "um", "micron": "um", "microns": "um", "\\u00B5m": "um"}


def as_paths(path: PathOrPaths) -> list:
    """napari's path argument (one path or several) as a list."""
    return [path] if isinstance(path, (str, Path)) else list(path)


def reader_for(path: PathOrPaths, accepts: Callable, reader: Callable) -> Optional[Callable]:
    """`reader` when there are paths and `accepts` every one, else None (let other readers try)."""
    paths = as_paths(path)
    return reader if paths and all(accepts(p) for p in paths) else None


def napari_get_reader(path: PathOrPaths) -> Optional[Callable]:
    """Return :func:`read_tiff` when every path is a TIFF file, else None (let other readers try)."""
    return reader_for(path, lambda p: str(p).lower().endswith(TIFF_SUFFIXES), read_tiff)


def read_tiff(path: PathOrPaths) -> List[tuple]:
    """Layer-data tuples for one or several TIFF files."""
    from napari_zssr.io import read_image

    out = []
    for p in as_paths(path):
        out.extend(layer_data_from_image(read_image(str(p)), name=Path(p).stem, path=str(p)))
    return out


def _napari_unit(unit: Any) -> str:
    """A unit string napari/pint accepts; 'pixel' when missing or unknown."""
    if unit is None:
        return "pixel"
    text = str(unit).strip()
    text = _UNIT_ALIASES.get(text, text)
    if not text:
        return "pixel"
    try:
        import pint

        pint.get_application_registry().Unit(text)
    except Exception:  # noqa: BLE001 - anything pint cannot parse
        return "pixel"
    return text


def _size(pixel_sizes: dict, letter: str) -> Optional[float]:
    for key in (letter.lower(), letter.upper()):
        if key in pixel_sizes and pixel_sizes[key] is not None:
            return float(pixel_sizes[key])
    return None


def layer_data_from_image(img, name: str, path: Optional[str] = None) -> List[tuple]:
    """Layer-data tuples for an ``io.ImageData`` (data, axes, pixel_sizes, unit, flavour, description_params)."""
    data = img.data
    axes = str(img.axes).upper()
    if len(axes) != np.ndim(data):
        raise ValueError(f"{name}: axes {axes!r} do not match data with {np.ndim(data)} dimensions")
    pixel_sizes = dict(img.pixel_sizes or {})
    unit = _napari_unit(getattr(img, "unit", None))

    rgb = axes.endswith("S") and data.shape[-1] in (3, 4)
    if "S" in axes and not rgb:          # e.g. 2 samples per pixel: those are channels to napari
        if "C" in axes:
            raise ValueError(f"{name}: cannot show axes {axes!r} (both C and non-RGB samples)")
        axes = axes.replace("S", "C")
    dims = axes.replace("S", "")

    t_inc = getattr(img, "time_increment", None)
    scale, units = [], []
    for a in dims:
        size = _size(pixel_sizes, a) if a in "ZYX" else (t_inc if a == "T" else None)
        scale.append(size if size and size > 0 else 1.0)
        if a in "ZYX":
            units.append(unit if size else "pixel")
        elif a == "T":
            units.append(_napari_unit(getattr(img, "time_unit", None) or "s") if size else "pixel")
        else:
            units.append("pixel")
    labels = [a.lower() for a in dims]

    metadata = {
        "axes": axes,
        "pixel_sizes": {k.lower(): v for k, v in pixel_sizes.items()},
        "unit": getattr(img, "unit", None),
        "flavour": getattr(img, "flavour", None),
    }
    if path is not None:
        metadata["path"] = path
    params = getattr(img, "description_params", None)
    if params:
        metadata["zssr"] = params
    if t_inc:
        metadata.update(time_increment=t_inc, time_unit=getattr(img, "time_unit", None) or "s")
    names = getattr(img, "channel_names", None)
    colors = getattr(img, "channel_colors", None)

    kwargs = dict(name=name, metadata=metadata)
    if rgb:
        kwargs["rgb"] = True
    if "C" in dims:
        ci = dims.index("C")
        n = data.shape[ci]
        keep = [i for i in range(len(dims)) if i != ci]
        kwargs.update(
            channel_axis=ci,
            # the file's channel names and colours where it has them (OME / ImageJ), else ch0, ch1 ...
            name=[f"{name} [{names[c] if names else f'ch{c}'}]" for c in range(n)],
            metadata=[dict(metadata, channel=c, channel_names=list(names) if names else None,
                           channel_name=names[c] if names else None,
                           channel_color=colors[c] if colors else None) for c in range(n)],
            scale=[scale[i] for i in keep],
            units=[units[i] for i in keep],
            axis_labels=[labels[i] for i in keep],
        )
        if colors and all(colors):
            kwargs["colormap"] = [_colormap(c) for c in colors]
    else:
        kwargs.update(scale=scale, units=units, axis_labels=labels)
    return [(data, kwargs, "image")]


def _colormap(color: str):
    """A black-to-`color` ("#rrggbb") napari colormap, named after the colour."""
    from napari.utils.colormaps import Colormap

    rgb = [int(color[i:i + 2], 16) / 255.0 for i in (1, 3, 5)]
    return Colormap([[0.0, 0.0, 0.0, 1.0], [*rgb, 1.0]], name=f"zssr {color}")

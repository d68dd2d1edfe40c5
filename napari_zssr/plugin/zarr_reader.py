"""npe2 reader: OME-Zarr -> lazy image layers (dask; napari reads only what it shows).

Scale, translate (pixel centres of a napari-zssr result sit where the input's were), units and
channel names come from the NGFF metadata (napari_zssr.io.ome_zarr); layer building is the TIFF
reader's (layer_data_from_image).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from napari_zssr.plugin.reader import PathOrPaths, as_paths, layer_data_from_image, reader_for


def napari_get_zarr_reader(path: PathOrPaths) -> Callable | None:
    """Return :func:`read_zarr` for OME-Zarr images (e.g. a chunked napari-zssr result), else None."""
    from napari_zssr.io.ome_zarr import is_zarr_path

    return reader_for(path, is_zarr_path, read_zarr)


def read_zarr(path: PathOrPaths) -> list[tuple]:
    """Lazy layers with scale, translate, units and channel names."""
    from napari_zssr.io.ome_zarr import read_ome_zarr

    out = []
    for p in as_paths(path):
        img = read_ome_zarr(p)
        name = Path(str(p).rstrip("/")).name.removesuffix(".zarr")
        for data, kwargs, kind in layer_data_from_image(img, name=name, path=str(p)):
            dims = [a for a in img.axes if a not in "CS"]
            translate = [float(img.translate.get(a.lower(), 0.0)) for a in dims]
            if any(translate):
                kwargs["translate"] = translate
            if img.channel_names and "channel_axis" in kwargs:
                kwargs["name"] = [f"{name} [{c}]" for c in img.channel_names]
            out.append((data, kwargs, kind))
    return out

"""npe2 sample data: the small TIFFs shipped inside the package, read with the plugin's reader."""
from __future__ import annotations

from importlib.resources import as_file, files
from typing import List

from napari_zssr.plugin.reader import read_tiff

SAMPLES = {
    "fluorescence_2d": "fluorescence_2d.tif",
    "anisotropic_zstack": "anisotropic_zstack.tif",
    "timeseries": "timeseries.tif",
}


def sample_path(key: str):
    """A Traversable for the sample file (a real file in an installed wheel or a checkout)."""
    return files("napari_zssr").joinpath("sample_data", SAMPLES[key])


def load_sample(key: str) -> List[tuple]:
    with as_file(sample_path(key)) as path:
        layers = read_tiff(str(path))
        # read everything now: as_file may hand out a temporary copy (zipped installs)
        return [(data if not hasattr(data, "compute") else data.compute(), kw, kind)
                for data, kw, kind in layers]


def fluorescence_2d() -> List[tuple]:
    return load_sample("fluorescence_2d")


def anisotropic_zstack() -> List[tuple]:
    return load_sample("anisotropic_zstack")


def timeseries() -> List[tuple]:
    return load_sample("timeseries")

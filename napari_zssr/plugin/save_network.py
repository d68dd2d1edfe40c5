"""The widget's "Save network…" (issue 30): the networks of the last run, as a napari-zssr model
file (.zssr: reuse with --model or the widget's model field) or a bioimage.io package (.zip),
whose test tensors are cut from the layer the network was trained on. No Qt here."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

FILTERS = "napari-zssr model (*.zssr);;bioimage.io model package (*.zip)"


def can_save(result) -> Optional[str]:
    """None when the result's networks can be saved, else why not (one line)."""
    if result is None:
        return "run ZSSR first: there is no network to save"
    if not getattr(result, "models", None):
        return "this run kept no network to save (a block-by-block run, or a constant image)"
    return None


def save_network(result, job, path, *, overwrite: bool = False, license: str = "CC-BY-4.0",
                 authors: Optional[Sequence[str]] = None) -> Path:
    """Write the networks of `result` (made by `job`, a layer_job.ZSSRJob) to `path`: .zip is a
    bioimage.io package, anything else a napari-zssr model file. ValueError (one line) if not."""
    why = can_save(result)
    if why:
        raise ValueError(why)
    path = Path(path)
    src = job.source
    inputs = [src.source_path] if src.source_path else []
    if path.suffix.lower() == ".zip":
        from napari_zssr.io import ImageData
        from napari_zssr.modelzoo import export_result
        image = ImageData(np.asarray(src.data), src.axes, dict(job.pixel_sizes or {}),
                          unit="um" if job.pixel_sizes else "pixel")
        return export_result(result, image, path, inputs=inputs, overwrite=overwrite, license=license,
                             authors=authors)
    from napari_zssr.nd.models import save_result_models
    return save_result_models(result, path, overwrite=overwrite, inputs=inputs)

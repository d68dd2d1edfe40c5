"""One image file end to end: read and validate, run nd, write like the input.

Shared by `zssr` and `zssr batch` (runs.tasks). Every check that can fail on bad input runs in `prepare`
(before any training) and raises InputError with a one-line message; the rules themselves live in
io (output paths, formats) and nd (RunSpec.resolve).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .. import __version__
from ..io import ImageData, ImageMeta, ImageReadError, check_format, check_output_path, read_image, write_like
from ..axes import validate_axes
from ..nd.intensity import check_values
from ..nd.spec import RunSpec


class InputError(ValueError):
    """Bad input, output path or option for this image; the message is one line."""


@dataclass(frozen=True)
class Prepared:
    """A validated job: the image, its (possibly overridden) axes, where to write, how to run."""
    input: Path
    output: Path
    image: ImageData
    axes: str
    pixel_sizes: dict
    spec: RunSpec                          # factors resolved for this image


def prepare(input_path, output, spec: RunSpec, *, axes: Optional[str] = None,
            overwrite: bool = False, output_checked: bool = False) -> Prepared:
    """Check the output, read and validate the input; raise InputError (one line) on any problem."""
    src = Path(input_path)
    try:
        out = Path(output) if output_checked else check_output_path(output, overwrite, inputs=[src])
        check_memory_from_header(src, spec, axes)      # a stack too big for memory: before reading it
        image = read_image(src)
    except (ImageReadError, ValueError) as exc:
        raise InputError(str(exc)) from None
    data = image.data
    if data.dtype.kind == "b":
        raise InputError(f"{src}: boolean (mask/labels) images cannot be super-resolved")
    img_axes = image.axes
    if axes is not None:
        try:
            img_axes = validate_axes(axes, data.ndim)
        except ValueError as exc:
            raise InputError(f"--axes: {exc} (shape {data.shape})") from None
    pixel_sizes = {k: v for k, v in image.pixel_sizes.items() if k.upper() in img_axes}
    try:
        check_values(data)
        run = spec.resolve(data.shape, img_axes, pixel_sizes)
    except ValueError as exc:
        raise InputError(f"{src}: {exc}" + (" (set them with --axes)" if "Z axis" in str(exc) else "")) from None
    spec = run.spec
    if spec.out_dtype == "input" and data.dtype.kind not in "iu":
        spec = spec.replace(out_dtype="float32")      # files hold float32: float inputs give float32
    try:
        check_format(out, img_axes, data.dtype if spec.out_dtype == "input" else np.float32)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return Prepared(src, out, image, img_axes, pixel_sizes, spec)


def check_memory_from_header(path, spec: RunSpec, axes: Optional[str] = None) -> None:
    """MemoryPlanError (one line) when the in-memory run of the file at `path` would not fit in
    the available memory: from its header alone, before a pixel is read (nd.memory)."""
    from ..io.lazy import peek_tiff
    from ..nd.memory import CLI_WAY_OUT, MemoryPlanError, check_fits

    head = peek_tiff(path)
    if head is None:
        return
    try:
        img_axes = validate_axes(axes, head.data.ndim) if axes is not None else head.axes
        sizes = {k: v for k, v in head.pixel_sizes.items() if k.upper() in img_axes}
        run = spec.resolve(head.data.shape, img_axes, sizes)
    except ValueError:
        return                            # reported with its own line once the file is read
    try:
        check_fits(head.data.shape, head.data.dtype, spec.mode, run.factors, way_out=CLI_WAY_OUT)
    except MemoryPlanError as exc:
        raise MemoryPlanError(f"{path}: {exc}") from None


def run(prep: Prepared, config, *, progress=None, cancel=None):
    """The work: super_resolve_nd on the prepared image. Returns NDResult."""
    from ..nd import super_resolve_nd
    return super_resolve_nd(prep.image.data, prep.axes, prep.spec, pixel_sizes=prep.pixel_sizes, config=config,
                            progress=progress, cancel=cancel)


def output_params(result, like: ImageMeta, argv, *, input, output, command: str = "zssr") -> dict:
    """NDResult.params plus what the command line said."""
    params = dict(result.params)
    params["cli"] = {"command": command, "argv": [str(a) for a in argv], "input": str(input),
                     "output": str(output), "version": __version__}
    if like.description_params:
        params["input_params"] = like.description_params   # a ZSSR result re-processed
    return params


def write(output, result, like: ImageMeta, params: dict, *, input, overwrite: bool = False) -> Path:
    """Atomic write with the new pixel sizes, the input's flavour, channel names and time step;
    never onto the input."""
    return write_like(output, result.data, result.axes, result.pixel_sizes, like, params, overwrite=overwrite,
                      inputs=[input])


def summary(output, result, unit: str) -> str:
    f = result.factors
    if set(f) == {"z"}:
        fac = f"x{f['z']:g} in z"
    elif f.get("y") == f.get("x"):
        fac = f"x{f['x']:g}"
    else:
        fac = f"x{f.get('y', 1):g} (y), x{f.get('x', 1):g} (x)"
    shape = "x".join(str(s) for s in result.data.shape)
    text = f"wrote {output}: {shape} {result.axes} {result.data.dtype}, {fac}"
    if result.pixel_sizes:
        ordered = sorted(result.pixel_sizes.items(), key=lambda kv: "zyx".index(kv[0]))
        sizes = ", ".join(f"{k} {_fmt(v)}" for k, v in ordered)
        text += f"; pixel size {sizes} {unit}"
    if result.data.dtype.kind in "iu":
        text += f"; {result.clipped} value(s) clipped to the {result.data.dtype} range"
    return text


def _fmt(v: float) -> str:
    return f"{v:.4g}" if math.isfinite(v) else str(v)

"""One image through the CLI: check the output path, read and validate, run nd, write.

Shared by `zssr` and `zssr batch`. Every check that can fail on bad input runs in
`check_output` / `prepare` (before any training) and raises InputError with a one-line message.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .. import __version__
from ..engine.zssr import check_image
from ..io import ImageData, ImageReadError, read_image, write_image
from ..nd.axes import validate_axes
from ..nd.intensity import check_values
from ..nd.plan import axial_factor, axial_kernel, lateral_factors

OUTPUT_EXTS = (".tif", ".tiff", ".png")  # .ome.tif(f) included


class InputError(ValueError):
    """Bad input, output path or option for this image; the message is one line."""


@dataclass
class Prepared:
    """A validated job: the image, its (possibly overridden) axes, where to write, how to run."""
    input: Path
    output: Path
    image: ImageData
    axes: str
    pixel_sizes: dict
    out_dtype: Optional[str]               # for nd: None (float32) or "input"
    nd_kwargs: dict = field(default_factory=dict)

    @property
    def expected_dtype(self) -> np.dtype:
        return self.image.data.dtype if self.out_dtype == "input" else np.dtype(np.float32)


def check_output(output, overwrite: bool) -> Path:
    """Refuse a bad extension, a missing directory, or an existing file without --overwrite."""
    out = Path(output)
    if not out.name.lower().endswith(OUTPUT_EXTS):
        raise InputError(f"{out}: unknown output extension (use .tif, .tiff, .ome.tif or .png)")
    if out.is_dir():
        raise InputError(f"{out}: is a directory")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{out}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{out}: directory {parent} is not writable")
    if out.exists() and not overwrite:
        raise InputError(f"{out}: file exists (pass --overwrite to replace it)")
    return out


def resolve_out_dtype(choice: str, dtype: np.dtype) -> Optional[str]:
    """The CLI's --dtype for nd: integer inputs keep their type with 'input'; floats stay float32."""
    if choice == "input" and np.dtype(dtype).kind in "iu":
        return "input"
    return None


def _check_png(out: Path, axes: str, dtype: np.dtype, choice: str) -> None:
    dtype = np.dtype(dtype)
    if not out.name.lower().endswith(".png"):
        return
    if dtype.kind == "f":
        why = "--dtype float32" if choice == "float32" else "the input is floating point"
        raise InputError(f"{out}: PNG cannot hold float32 output ({why}); write a .tif instead")
    if axes == "YX" and dtype in (np.uint8, np.uint16):
        return
    if axes == "YXS" and dtype == np.uint8:
        return
    raise InputError(f"{out}: PNG holds 2-D 8/16-bit or RGB(A) 8-bit images, not {axes} {dtype}; "
                     f"write a .tif instead")


def prepare(input_path, output, config, nd_kwargs: dict, *, axes: Optional[str] = None,
            overwrite: bool = False, output_checked: bool = False) -> Prepared:
    """Check the output, read and validate the input; raise InputError (one line) on any problem."""
    out = Path(output) if output_checked else check_output(output, overwrite)
    src = Path(input_path)
    try:
        image = read_image(src)
    except ImageReadError as exc:
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
    if "S" in img_axes and data.shape[-1] not in (3, 4):
        raise InputError(f"--axes {img_axes}: S (RGB samples) must have 3 or 4 entries, not {data.shape[-1]}")
    pixel_sizes = {k: v for k, v in image.pixel_sizes.items() if k.upper() in img_axes}
    try:
        check_values(data)
    except ValueError as exc:
        raise InputError(f"{src}: {exc}") from None

    shape = dict(zip(img_axes, data.shape))
    ny, nx = shape["Y"], shape["X"]
    kw = dict(nd_kwargs)
    try:
        if kw.get("mode") == "axial":
            if "Z" not in img_axes:
                raise InputError(f"{src}: axial mode needs a Z axis (axes {img_axes}; set them with --axes)")
            f = axial_factor(kw.get("scale"), pixel_sizes)
            axial_kernel(f, kw.get("z_fwhm"), kw.get("z_fwhm_unit", "steps"), pixel_sizes, kw.get("kernel"))
            if shape["Z"] < 4:
                raise InputError(f"{src}: {shape['Z']} z planes; axial mode needs at least 4")
            if kw.get("axial_method", "isotropic") == "isotropic":
                check_image((ny, nx), (f, 1.0))
            else:
                check_image((shape["Z"], min(ny, nx)), (f, 1.0))
            kw["scale"] = f
        else:
            sf = lateral_factors(kw.get("scale"), pixel_sizes)
            check_image((ny, nx), sf)
    except InputError:
        raise
    except ValueError as exc:
        raise InputError(f"{src}: {exc}") from None

    out_dtype = resolve_out_dtype(kw.pop("out_dtype", "input"), data.dtype)
    _check_png(out, img_axes, data.dtype if out_dtype == "input" else np.float32,
               nd_kwargs.get("out_dtype", "input"))
    return Prepared(src, out, image, img_axes, pixel_sizes, out_dtype, kw)


def run(prep: Prepared, config, *, progress=None, cancel=None):
    """The work: super_resolve_nd on the prepared image. Returns NDResult."""
    from ..nd import super_resolve_nd
    return super_resolve_nd(prep.image.data, prep.axes, pixel_sizes=prep.pixel_sizes, config=config,
                            out_dtype=prep.out_dtype, progress=progress, cancel=cancel, **prep.nd_kwargs)


def output_params(prep: Prepared, result, argv, command: str = "zssr") -> dict:
    """NDResult.params plus what the command line said."""
    params = dict(result.params)
    params["cli"] = {"command": command, "argv": [str(a) for a in argv], "input": str(prep.input),
                     "output": str(prep.output), "version": __version__}
    if prep.image.description_params:
        params["input_params"] = prep.image.description_params   # a ZSSR result re-processed
    return params


def write(prep: Prepared, result, params: dict, *, overwrite: bool = False) -> Path:
    """Atomic write with the new pixel sizes; the input's TIFF flavour where the output can hold it."""
    name = prep.output.name.lower()
    flavour = None
    if name.endswith((".tif", ".tiff")) and not name.endswith((".ome.tif", ".ome.tiff")) \
            and prep.image.flavour in ("imagej", "ome", "tiff"):
        flavour = prep.image.flavour
    unit = prep.image.unit if result.pixel_sizes else "um"
    kwargs = dict(pixel_sizes=result.pixel_sizes, unit=unit, params=params, overwrite=overwrite)
    try:
        return write_image(prep.output, result.data, result.axes, flavour=flavour, **kwargs)
    except ValueError:
        if flavour is None:
            raise
    # the input's flavour cannot hold this result (e.g. ImageJ and int32): let io pick by extension
    return write_image(prep.output, result.data, result.axes, **kwargs)


def summary(prep: Prepared, result) -> str:
    f = result.factors
    if set(f) == {"z"}:
        fac = f"x{f['z']:g} in z"
    elif f.get("y") == f.get("x"):
        fac = f"x{f['x']:g}"
    else:
        fac = f"x{f.get('y', 1):g} (y), x{f.get('x', 1):g} (x)"
    shape = "x".join(str(s) for s in result.data.shape)
    text = f"wrote {prep.output}: {shape} {result.axes} {result.data.dtype}, {fac}"
    if result.pixel_sizes:
        ordered = sorted(result.pixel_sizes.items(), key=lambda kv: "zyx".index(kv[0]))
        sizes = ", ".join(f"{k} {_fmt(v)}" for k, v in ordered)
        text += f"; pixel size {sizes} {prep.image.unit}"
    if prep.out_dtype == "input":
        text += f"; {result.clipped} value(s) clipped to the {result.data.dtype} range"
    return text


def _fmt(v: float) -> str:
    return f"{v:.4g}" if math.isfinite(v) else str(v)

"""Export a trained napari-zssr network as a BioImage Model Zoo (bioimage.io) package (issue 30).

`zssr export MODEL -o NAME.zip`, `zssr IN -o OUT --save-model NAME.zip` and the widget's "Save
network..." write one zip: a model description of format 0.5 (bioimage.io's current spec, through
`bioimageio.spec`, the `bioimageio` extra) with

- torchscript weights and pytorch_state_dict weights of `ZSSRPackaged`, whose source
  (engine/inference_module.py, torch only) ships in the package: the network's whole inference --
  MATLAB cubic upscale, residual network, self-ensemble, back-projection with the model's kernel,
  and for axial models the xz and yz passes and their fusion;
- inputs and outputs with batch, channel and space axes, the upscaled axes' size given as the
  input's times the factor (a size reference; `scale` is the pixel size relative to the output's);
- pre- and post-processing `scale_linear` with the run's intensity normalisation (fixed values);
- test input and output cut from the image the network was trained on, a cover (input beside
  output), documentation, citations, licence and authors;
- napari-zssr's own model file (an attachment), which `--model NAME.zip` applies.

What the spec cannot express: the input axis sizes must be whole multiples that make the output
size whole (for x2.5, even sizes); back-projection makes every output pixel depend on the whole
input, so the package declares no halo and must not be run tile by tile.
"""
from __future__ import annotations

import getpass
import hashlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch

from .engine import inference_module as im
from .engine.infer import inference_module
from .engine.model_io import load_models, read_model_meta
from .engine.model_package import CONFIG_KEY, INFO_FILE, MODEL_FILE, PACKAGE_FORMAT, is_package, package_model_bytes

DEFAULT_LICENSE = "CC-BY-4.0"
PROJECT_URL = "https://github.com/napari-zssr/napari-zssr"
ZSSR_URL = "https://arxiv.org/abs/1712.06087"
# the test tensors are small by construction (a lateral package of a 32-wide network: ~0.8 MB; the
# weights come three times: torchscript, state dict, napari-zssr's file -- 0.9 MB each at width 64)
TEST_SIDE = 64          # lateral test input: at most 64 x 64 pixels
TEST_SIDE_AXIAL = 32    # axial: all z (at most 64) of a 32 x 32 column
ARCH_FILE = "zssr_inference.py"


class ExportError(ValueError):
    """The export cannot be made (one line; nothing was written)."""


def default_author() -> str:
    """The author recorded unless one is given: $ZSSR_AUTHOR, git's author name, else the login."""
    for key in ("ZSSR_AUTHOR", "GIT_AUTHOR_NAME"):
        if os.environ.get(key, "").strip():
            return os.environ[key].strip()
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # noqa: BLE001 -- no login name (containers)
        return "unknown"


def bioimageio_available() -> bool:
    try:
        import bioimageio.spec  # noqa: F401
    except ImportError:
        return False
    return True


def _need_spec() -> None:
    if not bioimageio_available():
        raise ExportError("exporting a bioimage.io package needs bioimageio.spec; install it with "
                          "pip install 'napari-zssr[bioimageio]'")


def check_license(license: str) -> str:
    """An SPDX licence id bioimage.io knows (ExportError, one line, otherwise)."""
    _need_spec()
    from bioimageio.spec.model.v0_5 import LicenseId
    try:
        LicenseId(license)
    except Exception:  # noqa: BLE001 -- pydantic's error is many lines
        raise ExportError(f"--license {license}: not an SPDX licence id that bioimage.io accepts "
                          f"(e.g. CC-BY-4.0, CC0-1.0, MIT, BSD-3-Clause)") from None
    return license


# ---- entry points ---------------------------------------------------------------------------------
def export_model_file(model_path, out, *, image=None, license: str = DEFAULT_LICENSE,
                      authors: Optional[Sequence[str]] = None, overwrite: bool = False) -> Path:
    """`zssr export MODEL -o NAME.zip`: a saved model (or a napari-zssr package) as a package. The
    test tensors are cut from `image`, by default the file the model file says it was trained on."""
    meta = read_model_meta(model_path)
    data = package_model_bytes(model_path) if is_package(model_path) else Path(model_path).read_bytes()
    extra = meta.get("extra") or {}
    if image is None:
        src = (extra.get("source") or {}).get("path")
        if not src or not Path(src).is_file():
            raise ExportError(f"{model_path}: the image it was trained on is needed for the package's test "
                              f"tensors{f' ({src} is gone)' if src else ''}; give it with --image PATH")
        image = src
    from .io import read_image
    img = read_image(image) if isinstance(image, (str, os.PathLike)) else image
    return export_package(data, img, out, license=license, authors=authors, overwrite=overwrite,
                          inputs=[model_path] + ([image] if isinstance(image, (str, os.PathLike)) else []))


def export_result(result, image, out, *, inputs=(), **kw) -> Path:
    """`--save-model NAME.zip` and the widget: the networks of an NDResult, trained on `image`."""
    from .nd.models import result_model_bytes
    return export_package(result_model_bytes(result, inputs), image, out, inputs=inputs, **kw)


def export_package(model_bytes: bytes, image, out, *, license: str = DEFAULT_LICENSE,
                   authors: Optional[Sequence[str]] = None, overwrite: bool = False, inputs=()) -> Path:
    """Write the package for a napari-zssr model file's bytes and the image (io.ImageData) it was
    trained on; atomic: on any error nothing is written."""
    check_license(license)
    model_bytes = without_local_paths(model_bytes)
    out = Path(out)
    if out.suffix.lower() != ".zip":
        raise ExportError(f"{out}: a bioimage.io package is a .zip file")
    if out.exists() and not overwrite:
        raise ExportError(f"{out}: file exists (pass --overwrite to replace it)")
    from bioimageio.spec import get_validation_context, save_bioimageio_package
    # nothing here goes on the network: the cited URLs count as known (bioimageio.spec would check
    # them with HEAD requests), and the package is re-read after writing without io checks (its
    # files were hashed while the description was built)
    context = get_validation_context()
    with tempfile.TemporaryDirectory(prefix="zssr-bmz-") as tmp:
        tmp = Path(tmp)
        with context.replace(known_files={ZSSR_URL: None, PROJECT_URL: None}):
            descr = build_description(model_bytes, image, tmp, license=license, authors=authors,
                                      name_hint=out.name[:-4])
        built = tmp / "package.zip"
        with context.replace(perform_io_checks=False):
            save_bioimageio_package(descr, output_path=built)
        from .io import atomic_file
        try:
            with atomic_file(out, overwrite, inputs) as fh, open(built, "rb") as src:
                shutil.copyfileobj(src, fh)
        except FileExistsError:
            raise ExportError(f"{out}: file exists (pass --overwrite to replace it)") from None
    return out


def without_local_paths(model_bytes: bytes) -> bytes:
    """The model file with the training image's folder dropped from its header (a package is
    meant to be shared; the file name stays). Tensors and everything else are unchanged."""
    n = int.from_bytes(model_bytes[:8], "little")
    header = json.loads(model_bytes[8:8 + n].decode("utf-8"))
    meta = json.loads(header["__metadata__"]["zssr"])
    src = (meta.get("extra") or {}).get("source")
    if not isinstance(src, dict) or "path" not in src:
        return model_bytes
    src.pop("path")
    header["__metadata__"]["zssr"] = json.dumps(meta)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)                   # safetensors keeps the data 8-byte aligned
    return len(text).to_bytes(8, "little") + text + model_bytes[8 + n:]


# ---- the description ------------------------------------------------------------------------------
def _grid(sf: float) -> int:
    """The smallest input-size step q for which q * sf is whole (x2: 1, x2.5: 2, x4/3: 3)."""
    for q in range(1, 101):
        if abs(q * sf - round(q * sf)) < 1e-6:
            return q
    raise ExportError(f"factor {sf:g} gives no whole output size for any input size up to 100 pixels; "
                      f"bioimage.io sizes must be whole")


def _fit(n: int, lo: int, step: int) -> int:
    """The largest size <= n of the form lo + k * step (lo when n is smaller)."""
    return lo if n < lo else lo + ((n - lo) // step) * step


def _work_layout(image, extra: dict) -> np.ndarray:
    """The image as the engine saw it: (T, Z, Ce, Y, X), Ce = channels x RGB samples."""
    from .axes import canonical_order
    from .nd.in_memory import to_work
    data = np.asarray(image.data)
    full = to_work(data, image.axes, canonical_order(image.axes))              # (T, Z, C, Y, X, S)
    t, z, c, h, w, s = full.shape
    return np.moveaxis(full, 5, 3).reshape(t, z, c * s, h, w)


def _group_settings(models, extra: dict) -> List[dict]:
    n = len(models)
    inf = extra.get("inference") or {}
    bp = inf.get("bp_iters")
    bp = list(bp)[-n:] if isinstance(bp, list) and len(bp) >= n else None
    mode = extra.get("mode")
    out = []
    for i, m in enumerate(models):
        cfg = m.config
        if "ensemble" in inf:
            ens = bool(inf["ensemble"])
        else:     # a model file saved before issue 30: the run's defaults (stacks, axial: no ensemble)
            ens = cfg.ensemble and (mode != "axial" or cfg.stack_ensemble)
        out.append({"ensemble": ens, "bp_iters": int(bp[i]) if bp else int(cfg.back_projection_iters)})
    return out


def build_module(models, extra: dict) -> im.ZSSRPackaged:
    """ZSSRPackaged with the saved networks' weights; the same numbers as the engine's inference."""
    groups = int(extra.get("groups") or 1)
    models = list(models) * groups if len(models) == 1 and groups > 1 else list(models)
    settings = _group_settings(models, extra)
    kws, states = [], []
    for m, st in zip(models, settings):
        mod = inference_module(m.net.to("cpu").float(), m.sf, m.kernel, "fp32", ensemble=st["ensemble"],
                               bp_iters=st["bp_iters"], clip=m.config.clip, channels_last=m.config.channels_last,
                               hooks=False)
        kws.append({"channels": int(m.channels), "sf_y": float(m.sf[0]), "sf_x": float(m.sf[1]),
                    "depth": int(m.net.depth), "width": int(m.net.width),
                    "kernel_shape": [int(v) for v in mod.bp_kernel.shape] if mod.has_kernel else [0, 0],
                    "ensemble": bool(st["ensemble"]), "bp_iters": int(st["bp_iters"]),
                    "clip": None if m.config.clip is None else [float(v) for v in m.config.clip],
                    "tile": 0, "channels_last": bool(m.config.channels_last)})
        states.append(mod.state_dict())
    pk = im.ZSSRPackaged(kws, mode=str(extra.get("mode") or "lateral"),
                         fusion=str(extra.get("fusion") or "geometric"))
    for i, sd in enumerate(states):
        pk.nets[i].load_state_dict(sd)
    return pk.eval()


def _norm_vectors(extra: dict, channels: Sequence[int]):
    """Per engine channel: (pre gain, pre offset, post gain, post offset) from the normalisation."""
    norms = extra.get("normalisation") or []
    if len(norms) != len(channels):
        raise ExportError(f"the model file records {len(norms)} intensity normalisation(s) for "
                          f"{len(channels)} network(s); it cannot be exported")
    pre_g, pre_o, post_g, post_o = [], [], [], []
    for nrm, c in zip(norms, channels):
        lo, hi = float(nrm["lo"]), float(nrm["hi"])
        for _ in range(c):
            pre_g.append(1.0 / (hi - lo))
            pre_o.append(-lo / (hi - lo))
            post_g.append(hi - lo)
            post_o.append(lo)
    return pre_g, pre_o, post_g, post_o


def _scale_linear(gain: List[float], offset: List[float]):
    from bioimageio.spec.model.v0_5 import AxisId, ScaleLinearAlongAxisKwargs, ScaleLinearDescr, ScaleLinearKwargs
    if len(gain) == 1:
        return ScaleLinearDescr(kwargs=ScaleLinearKwargs(gain=gain[0], offset=offset[0]))
    return ScaleLinearDescr(kwargs=ScaleLinearAlongAxisKwargs(axis=AxisId("channel"), gain=gain, offset=offset))


def apply_processing(x: np.ndarray, gain: Sequence[float], offset: Sequence[float]) -> np.ndarray:
    """scale_linear along the channel axis (axis 1), in float32 as bioimage.io applies it."""
    shape = (1, len(gain)) + (1,) * (x.ndim - 2)
    g = np.asarray(gain, dtype=np.float32).reshape(shape)
    o = np.asarray(offset, dtype=np.float32).reshape(shape)
    return (x.astype(np.float32) * g + o).astype(np.float32)


def _to_u8(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (np.clip((a - lo) / max(hi - lo, 1e-12), 0, 1) * 255 + 0.5).astype(np.uint8)


def _panel(a: np.ndarray, side: int) -> np.ndarray:
    """(C, H, W) -> (side, side, 3) by nearest-neighbour sampling (RGB for 3 channels, else the first)."""
    rows = (np.arange(side) * a.shape[-2] // side)
    cols = (np.arange(side) * a.shape[-1] // side)
    img = a[:3] if a.shape[0] == 3 else a[:1]
    img = img[:, rows][:, :, cols]
    return np.repeat(img, 3, axis=0).transpose(1, 2, 0) if img.shape[0] == 1 else img.transpose(1, 2, 0)


def write_cover(test_in: np.ndarray, test_out: np.ndarray, path: Path, axial: bool) -> None:
    """Input (nearest-neighbour, same size) beside output, one 2:1 PNG; axial: the middle xz slice."""
    import imageio.v3 as iio
    a, b = test_in[0], test_out[0]
    if axial:                                         # (C, Z, Y, X) -> (C, Z, X) at the middle y
        a, b = a[:, :, a.shape[2] // 2], b[:, :, b.shape[2] // 2]
    lo, hi = np.percentile(b, [0.1, 99.9])
    side = 256
    pa, pb = _panel(a, side), _panel(b, side)
    img = np.concatenate([_to_u8(pa, lo, hi), _to_u8(pb, lo, hi)], axis=1)
    iio.imwrite(path, img)


def _doc(info: dict, name: str, file_name: str) -> str:
    f = info["factors"]
    fac = ", ".join(f"{a} x{v:g}" for a, v in f.items())
    axial = info["mode"] == "axial"
    gain = info.get("expected_gain_db")
    gain_txt = (f"{gain:+.2f} dB PSNR over cubic interpolation, estimated on held-out parts of the image"
                if isinstance(gain, (int, float)) else
                "not reported: the z lines differ from the xy planes more than the held-out test can see (beyond a "
                "slice profile, or the xz and yz results disagree beyond its error), so the test on held-out xy planes "
                "cannot speak for z; compare with cubic interpolation" if info.get("expected_gain_withheld")
                else "not measured (the image was too small to hold parts out)")
    kern = info.get("kernel") or "bicubic"
    prof = ""
    if axial:
        prof = (f"- slice profile (z FWHM): {info.get('z_fwhm')} {info.get('z_fwhm_unit') or ''}".rstrip()
                + f"; axial method {info.get('axial_method')}, fusion of the xz and yz passes: {info.get('fusion')}\n")
    sizes = info.get("pixel_sizes") or {}
    unit = info.get("unit") or "um"
    px = ", ".join(f"{a} {v:g} {unit}" for a, v in sizes.items()) or "not recorded"
    nets = "; ".join(f"{g['depth']} conv layers x {g['width']} channels ({g['channels']} in/out), float32"
                     for g in info["networks"])
    io_axes = "(batch, channel, z, y, x)" if axial else "(batch, channel, y, x)"
    its = info.get("iterations")
    its = ", ".join(str(i) for i in its) if isinstance(its, list) else its
    ens = ", ".join("on" if g["ensemble"] else "off" for g in info["networks"])
    bps = ", ".join(str(g["bp_iters"]) for g in info["networks"])
    ups = ", ".join(f"x{v:g}" for v in f.values())
    axial_txt = (" (an anisotropic volume: z is upscaled; the package applies the network to the xz and "
                 "yz slices and fuses the two)") if axial else ""
    return f"""# {name}

A **Zero-Shot Super-Resolution (ZSSR)** network trained by [napari-zssr]({PROJECT_URL}).

ZSSR (Shocher, Cohen & Irani, CVPR 2018) learns a small image-specific convolutional network from
a single image: the image itself, downscaled by the factor, teaches the network how to restore
the detail that downscaling removes. At inference the image is upscaled with MATLAB's cubic
interpolation, the network adds the residual detail, the result is averaged over a geometric
self-ensemble (rotations and mirrors; the median) and back-projected so that, downscaled with
the model's kernel, it reproduces the input.

## What this network was trained on

- image: `{info.get('source') or 'not recorded'}` (axes {info.get('axes')})
- mode: {info['mode']}{axial_txt}
- factor: {fac}
- downscaling kernel: {kern}
{prof}- training iterations: {its}
- expected gain: {gain_txt}
- physical pixel size of the input: {px}; of the output: the input's divided by the factor
- network: {nets}
- intensity normalisation: fixed, the training run's (pre-processing `scale_linear` maps the
  0.1/99.9 percentiles of the training image to 0/1; post-processing maps back)

## Use

Input {io_axes}, float32 in the training image's units; output: the same axes, the upscaled
ones {ups} larger. Sizes along an upscaled axis are restricted so that the output size is whole.
Back-projection makes every output pixel depend on the whole input: do not run the network tile
by tile. Inference settings of the run: self-ensemble {ens}; back-projection iterations {bps}.

In napari-zssr, `zssr IN -o OUT --model {file_name}` (or the widget's *reuse model* field)
applies the network exactly as the run that trained it (re-fitting the intensity normalisation
to IN).

## Validation

napari-zssr measures the gain over cubic interpolation on parts of the training image held out
from training (the expected gain above). The package's test input is cut from the training image;
its test output is this network's result, which `bioimageio.core`'s test reproduces with both
weight formats. There is no ground truth: ZSSR is trained on, and checked against, one image.

## Limits

ZSSR learns the statistics of one image. **This network fits images from the same acquisition**
(same microscope, sample type, pixel size, noise level and blur); on anything else, train a new
one (it takes minutes). It does not add information the image lacks: at best it restores detail
that the downscaling model (factor and kernel) describes.

## Citation

- A. Shocher, N. Cohen, M. Irani: "Zero-Shot" Super-Resolution using Deep Internal Learning.
  CVPR 2018. {ZSSR_URL}
- napari-zssr: {PROJECT_URL}
"""


def build_description(model_bytes: bytes, image, tmp: Path, *, license: str = DEFAULT_LICENSE,
                      authors: Optional[Sequence[str]] = None, name_hint: str = "zssr"):
    """Write the package's files into `tmp` and return its bioimage.io ModelDescr."""
    from bioimageio.spec.model import v0_5 as bmz

    mpath = tmp / MODEL_FILE
    mpath.write_bytes(model_bytes)
    meta = read_model_meta(mpath)
    models, extra = load_models(mpath, device="cpu", precision="fp32")
    mode = extra.get("mode") or "lateral"
    axial = mode == "axial"
    pk = build_module(models, extra)
    channels = pk.group_channels
    n_ch = sum(channels)
    work = _work_layout(image, extra)                                    # (T, Z, Ce, Y, X)
    if work.shape[2] != n_ch:
        raise ExportError(f"the image has {work.shape[2]} channel(s) (with RGB samples); the model was trained "
                          f"on {n_ch}: not the image it was trained on")
    if axial and work.shape[1] < 2:
        raise ExportError("an axial model needs the z-stack it was trained on; the image has no z axis")
    g0 = pk.nets[0]
    sf_y, sf_x = g0.sf_y, g0.sf_x
    # sizes: along an upscaled axis a multiple that keeps the output size whole
    if axial:
        qz = _grid(sf_y)
        zmin = qz * max(1, math.ceil(4 / qz))
        t, z, c, h, w = work.shape
        nz = _fit(min(z, 64), zmin, qz)
        if nz > z:
            raise ExportError(f"the stack has {z} planes; the package needs at least {zmin}")
        s = min(TEST_SIDE_AXIAL, h, w)
        y0, x0 = (h - s) // 2, (w - s) // 2
        test_in = work[t // 2, :nz, :, y0:y0 + s, x0:x0 + s].transpose(1, 0, 2, 3)[None]   # (1, C, Z, s, s)
        sizes = {"z": (zmin, qz), "y": (4, 1), "x": (4, 1)}
        scales = {"z": sf_y, "y": 1.0, "x": 1.0}
    else:
        qy, qx = _grid(sf_y), _grid(sf_x)
        ymin, xmin = qy * max(1, math.ceil(8 / qy)), qx * max(1, math.ceil(8 / qx))
        t, z, c, h, w = work.shape
        hh, ww = _fit(min(h, TEST_SIDE), ymin, qy), _fit(min(w, TEST_SIDE), xmin, qx)
        if hh > h or ww > w:
            raise ExportError(f"the image ({h}x{w}) is smaller than the package's smallest input ({ymin}x{xmin})")
        y0, x0 = (h - hh) // 2, (w - ww) // 2
        test_in = work[t // 2, z // 2, :, y0:y0 + hh, x0:x0 + ww][None]                     # (1, C, hh, ww)
        sizes = {"y": (ymin, qy), "x": (xmin, qx)}
        scales = {"y": sf_y, "x": sf_x}
    test_in = np.ascontiguousarray(test_in, dtype=np.float32)
    pre_g, pre_o, post_g, post_o = _norm_vectors(extra, channels)

    # weights: torchscript and state dict (+ the architecture's source)
    scripted = torch.jit.script(pk)
    ts_path, sd_path, arch = tmp / "weights_torchscript.pt", tmp / "weights_state_dict.pt", tmp / ARCH_FILE
    torch.jit.save(scripted, str(ts_path))
    torch.save(pk.state_dict(), sd_path)
    shutil.copyfile(im.__file__, arch)
    with torch.no_grad():
        y = scripted(torch.from_numpy(apply_processing(test_in, pre_g, pre_o))).numpy()
    test_out = apply_processing(y, post_g, post_o)
    np.save(tmp / "test_input.npy", test_in)
    np.save(tmp / "test_output.npy", test_out)
    write_cover(test_in, test_out, tmp / "cover.png", axial)
    import tifffile                                    # sample tensors: the test tensors as TIFF
    tifffile.imwrite(tmp / "sample_input.tif", test_in)
    tifffile.imwrite(tmp / "sample_output.tif", test_out)

    src = (extra.get("source") or {}).get("name")
    sizes_um = extra.get("pixel_sizes") or dict(getattr(image, "pixel_sizes", {}) or {})
    factors = extra.get("factors") or {}
    info = {"format": PACKAGE_FORMAT, "model_file": MODEL_FILE,
            "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
            "model_format": meta.get("format"), "mode": mode, "factors": factors,
            "channels": extra.get("channels"), "groups": len(channels), "axes": extra.get("axes"),
            "source": src, "pixel_sizes": sizes_um, "unit": getattr(image, "unit", None),
            "normalisation": extra.get("normalisation"), "kernel": extra.get("kernel"),
            "axial_method": extra.get("axial_method"), "fusion": extra.get("fusion"),
            "z_fwhm": extra.get("z_fwhm"), "z_fwhm_unit": extra.get("z_fwhm_unit"),
            "iterations": extra.get("iterations") or [m.get("iterations") for m in meta.get("models", [])],
            "expected_gain_db": extra.get("expected_gain_db"),
            "expected_gain_withheld": bool(extra.get("expected_gain_withheld")),
            "networks": [{k: g[k] for k in ("channels", "depth", "width", "ensemble", "bp_iters")}
                         | {"dtype": "float32"} for g in _group_kwargs(pk)],
            "torch": torch.__version__}
    vals = sorted({float(v) for v in factors.values()}) or [max(sf_y, sf_x)]
    fac_txt = ",".join(f"{v:g}" for v in vals)
    stem = Path(src).name.split(".")[0] if src else name_hint
    name = f"napari-zssr {'axial' if axial else 'lateral'} x{fac_txt} {stem}"
    name = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in " _+-()" else "_" for ch in name)[:120]
    (tmp / "README.md").write_text(_doc(info, name, f"{name_hint}.zip"), encoding="utf-8")
    (tmp / INFO_FILE).write_text(json.dumps(info, indent=1), encoding="utf-8")

    space = list(sizes)
    rgb = n_ch == 3 and "S" in str(getattr(image, "axes", "")) and np.asarray(image.data).shape[-1] == 3
    ch_names = ["r", "g", "b"] if rgb else [f"c{i}" for i in range(n_ch)]
    in_axes = [bmz.BatchAxis(), bmz.ChannelAxis(channel_names=[bmz.Identifier(n) for n in ch_names])]
    out_axes = [bmz.BatchAxis(), bmz.ChannelAxis(channel_names=[bmz.Identifier(n) for n in ch_names])]
    for a in space:
        lo, step = sizes[a]
        in_axes.append(bmz.SpaceInputAxis(id=bmz.AxisId(a), size=bmz.ParameterizedSize(min=lo, step=step),
                                          scale=scales[a]))
        out_axes.append(bmz.SpaceOutputAxis(id=bmz.AxisId(a), size=bmz.SizeReference(
            tensor_id=bmz.TensorId("input"), axis_id=bmz.AxisId(a)), scale=1.0))
    pyv = bmz.Version(torch.__version__.split("+")[0])
    kwargs = {"groups": _group_kwargs(pk), "mode": pk.mode, "fusion": pk.fusion, "chunk": pk.chunk}
    descr = bmz.ModelDescr(
        name=name,
        description=(f"ZSSR {'axial' if axial else 'lateral'} super-resolution x{fac_txt} trained by napari-zssr on "
                     f"{src or 'one image'}; fits images from the same acquisition."),
        authors=[bmz.Author(name=a) for a in (authors or [default_author()])],
        cite=[bmz.CiteEntry(text='Shocher, Cohen & Irani: "Zero-Shot" Super-Resolution using Deep Internal '
                                 'Learning. CVPR 2018', url=bmz.HttpUrl(ZSSR_URL)),
              bmz.CiteEntry(text="napari-zssr: Zero-Shot Super-Resolution for napari", url=bmz.HttpUrl(PROJECT_URL))],
        license=bmz.LicenseId(license),
        documentation=bmz.FileDescr(source=tmp / "README.md"),
        covers=[bmz.FileDescr(source=tmp / "cover.png")],
        tags=["super-resolution", "zssr", "zero-shot", "napari-zssr", "3d" if axial else "2d",
              "axial" if axial else "lateral"],
        inputs=[bmz.InputTensorDescr(id=bmz.TensorId("input"), axes=in_axes,
                                     test_tensor=bmz.FileDescr(source=tmp / "test_input.npy"),
                                     sample_tensor=bmz.FileDescr(source=tmp / "sample_input.tif"),
                                     preprocessing=[_scale_linear(pre_g, pre_o)],
                                     description="the image, in the training image's units (float32)")],
        outputs=[bmz.OutputTensorDescr(id=bmz.TensorId("output"), axes=out_axes,
                                       test_tensor=bmz.FileDescr(source=tmp / "test_output.npy"),
                                       sample_tensor=bmz.FileDescr(source=tmp / "sample_output.tif"),
                                       postprocessing=[_scale_linear(post_g, post_o)],
                                       description="the super-resolved image, in the input's units")],
        weights=bmz.WeightsDescr(
            pytorch_state_dict=bmz.PytorchStateDictWeightsDescr(
                source=sd_path, pytorch_version=pyv,
                architecture=bmz.ArchitectureFromFileDescr(source=arch, callable=bmz.Identifier("ZSSRPackaged"),
                                                           kwargs=kwargs)),
            torchscript=bmz.TorchscriptWeightsDescr(source=ts_path, pytorch_version=pyv,
                                                    parent="pytorch_state_dict")),
        attachments=[bmz.FileDescr(source=mpath), bmz.FileDescr(source=tmp / INFO_FILE)],
        config={CONFIG_KEY: json.loads(json.dumps(info))},
    )
    return descr


def _group_kwargs(pk: im.ZSSRPackaged) -> List[dict]:
    return [{"channels": m.channels, "sf_y": m.sf_y, "sf_x": m.sf_x, "depth": int(m.net.depth),
             "width": int(m.net.width), "kernel_shape": [int(v) for v in m.bp_kernel.shape] if m.has_kernel else [0, 0],
             "ensemble": m.ensemble, "bp_iters": m.bp_iters,
             "clip": [m.clip_lo, m.clip_hi] if m.has_clip else None, "tile": 0, "channels_last": m.channels_last}
            for m in pk.nets]

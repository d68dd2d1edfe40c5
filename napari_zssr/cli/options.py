"""Options shared by `zssr` (one image) and `zssr batch` (many): definitions and their meaning.

    parser = ZSSRArgumentParser(prog="zssr")     # errors -> OptionError (one line), not SystemExit
    add_common_options(parser)
    args = parser.parse_args(normalise_argv(argv))
    config, nd_kwargs = config_from_args(args)   # raises OptionError on bad values

`nd_kwargs` holds what `napari_zssr.nd.super_resolve_nd` takes besides the data, axes, pixel sizes,
config, progress and cancel: mode, scale, kernel, z_fwhm, z_fwhm_unit, axial_method, fusion,
planes, channels, out_dtype, tile. Its out_dtype is the CLI's choice ("input" or "float32") and is
resolved per image by `napari_zssr.cli._run.resolve_out_dtype` (float inputs stay float32).
Parsing is pure: no torch work and no file is read except a kernel file given to --kernel.
"""
from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import numpy as np

from ..engine.config import PRESETS, ZSSRConfig
from ..engine.kernels import validate_kernel

MAX_SCALE = 16.0
MAX_SIGMA = 30.0
KERNEL_FILE_EXTS = (".npy", ".tif", ".tiff")
DEVICES = ("auto", "cpu", "cuda", "mps")
AXIAL_METHODS = ("isotropic", "zssr")
FUSIONS = ("geometric", "arithmetic")
CHANNELS = ("independent", "joint")
DTYPES = ("input", "float32")


class OptionError(ValueError):
    """A bad command line or option value; the message is one line."""


class ZSSRArgumentParser(argparse.ArgumentParser):
    """argparse that raises OptionError (one line) instead of printing usage and exiting."""

    def error(self, message):  # noqa: D401 (argparse API)
        raise OptionError(f"{message} (see {self.prog} --help)")


# --- value parsers (argparse `type=` functions) ---------------------------------------------

def parse_scale(text: str) -> tuple:
    """'2' -> (2.0,); '2,1.5' -> (2.0, 1.5) (y, x). Each factor in [1, 16], at least one > 1."""
    parts = [p.strip() for p in str(text).split(",")]
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a factor or a 'y,x' pair of factors")
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (e.g. 2 or 2,1.5)") from None
    if not all(math.isfinite(v) for v in vals):
        raise argparse.ArgumentTypeError(f"{text!r}: factors must be finite")
    if min(vals) < 1 or max(vals) <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: factors must be >= 1 and at least one > 1 (this upscales)")
    if max(vals) > MAX_SCALE:
        raise argparse.ArgumentTypeError(f"{text!r}: factor {max(vals):g} is too large (at most {MAX_SCALE:g})")
    return vals


def parse_axial(text: str):
    """--axial value: 'auto' -> None (factor from the z and xy pixel sizes) or a z factor."""
    if str(text).lower() == "auto":
        return "auto"
    try:
        f = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a z factor, got {text!r}") from None
    if not math.isfinite(f) or f <= 1:
        raise argparse.ArgumentTypeError(f"the z factor must be > 1, got {text!r}")
    if f > MAX_SCALE:
        raise argparse.ArgumentTypeError(f"z factor {f:g} is too large (at most {MAX_SCALE:g})")
    return f


_FWHM_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zµμ]*)\s*$", re.IGNORECASE)
_FWHM_UNITS = {"": "steps", "step": "steps", "steps": "steps", "um": "um", "µm": "um", "μm": "um",
               "micron": "um", "microns": "um"}


def parse_z_fwhm(text: str) -> tuple:
    """'1.5um' -> (1.5, 'um'); '1steps' / '1step' / '1' -> (1.0, 'steps')."""
    m = _FWHM_RE.match(str(text))
    unit = _FWHM_UNITS.get(m.group(2).lower()) if m else None
    if m is None or unit is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a FWHM like 1.5um or 1steps (plain number = z steps)")
    value = float(m.group(1))
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the FWHM must be > 0")
    return value, unit


def parse_kernel(text: str):
    """'bicubic' -> 'bicubic'; 'gaussian:SY[,SX]' -> ('gaussian', sy, sx); FILE.npy|.tif -> 2-D array."""
    spec = str(text).strip()
    low = spec.lower()
    if low in ("bicubic", "cubic"):
        return "bicubic"
    if low == "gaussian" or low.startswith("gaussian:"):
        sig = low.partition(":")[2]
        if not sig:
            raise argparse.ArgumentTypeError("gaussian needs a sigma in input pixels: gaussian:SY[,SX]")
        try:
            vals = [float(s) for s in sig.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{spec!r}: sigmas must be numbers (gaussian:SY[,SX])") from None
        if len(vals) not in (1, 2):
            raise argparse.ArgumentTypeError(f"{spec!r}: give one sigma or two (y,x)")
        sy, sx = (vals[0], vals[0]) if len(vals) == 1 else vals
        if not all(math.isfinite(v) and 0 <= v <= MAX_SIGMA for v in (sy, sx)) or max(sy, sx) == 0:
            raise argparse.ArgumentTypeError(
                f"{spec!r}: sigmas must be between 0 and {MAX_SIGMA:g} pixels, not both 0")
        return ("gaussian", sy, sx)
    if low.endswith(KERNEL_FILE_EXTS):
        return load_kernel_file(spec)
    raise argparse.ArgumentTypeError(
        f"unknown kernel {spec!r}; use bicubic, gaussian:SY[,SX] or a .npy/.tif file")


def load_kernel_file(path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"kernel file {str(path)!r} not found")
    try:
        if path.suffix.lower() == ".npy":
            k = np.load(path, allow_pickle=False)
        else:
            from ..io import read_image
            k = read_image(path).data
    except Exception as exc:  # corrupt file: one line
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise argparse.ArgumentTypeError(f"cannot read kernel file {str(path)!r} ({reason})") from None
    k = np.squeeze(np.asarray(k))
    if k.dtype.kind not in "uif":
        raise argparse.ArgumentTypeError(f"kernel file {str(path)!r}: {k.dtype} is not numeric")
    if k.ndim != 2:
        raise argparse.ArgumentTypeError(f"kernel file {str(path)!r}: expected a 2-D array, got shape {k.shape}")
    try:
        return validate_kernel(k)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"kernel file {str(path)!r}: {exc}") from None


def positive_int(minimum: int = 1):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {v}")
        return v
    parse.__name__ = "integer"
    return parse


def steps_count(text: str) -> int:
    """'auto' -> 0 (the engine's auto), else an integer >= 1."""
    if text.strip().lower() == "auto":
        return 0
    return positive_int(1)(text)


def non_negative_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return v


def parse_axes(text: str) -> str:
    axes = str(text).strip().upper()
    if not axes or not re.fullmatch(r"[A-Z]+", axes):
        raise argparse.ArgumentTypeError(f"{text!r} is not an axes string like ZYX or TZCYX")
    return axes


# --- the options -----------------------------------------------------------------------------

def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Every option of the single-image command except INPUT, -o and the final summary."""
    g = parser.add_argument_group("super-resolution")
    g.add_argument("--scale", type=parse_scale, metavar="S|SY,SX",
                   help="upscaling factor: one number, or y,x (e.g. 2,1.5); in axial mode the z factor. "
                        "Default: 2 (lateral), from the pixel sizes (axial)")
    g.add_argument("--kernel", type=parse_kernel, metavar="SPEC",
                   help="downscaling kernel: bicubic (default), gaussian:SY[,SX] (sigma in input pixels), "
                        "or a 2-D kernel in a .npy/.tif file. Axial mode: bicubic or a file (z profile); "
                        "use --z-fwhm for a Gaussian slice profile")
    g.add_argument("--steps", type=steps_count, metavar="N|auto",
                   help="gradual SR: number of scale increases sharing the iterations (1 = one jump; auto, "
                        "the default preset's: x2 in 4 steps of x1.19; past x2 steps of 250 iterations, x4 in 24 "
                        "of x1.06; the paper used 6)")
    g.add_argument("--no-back-projection", action="store_true", help="skip back-projection")
    g.add_argument("--no-ensemble", action="store_true", help="skip the geometric self-ensemble (8x faster inference)")
    g.add_argument("--noise-std", type=non_negative_float, metavar="X",
                   help="noise added to the training sons (normalised intensities, e.g. 0.01)")
    g.add_argument("--max-iters", type=positive_int(1), metavar="N",
                   help="training iterations per model; a gradual run past x2 trains up to 3x as many "
                        "(default preset: 2000 on 96x96 crops, cosine schedule; x4: 6000 on 128x128; "
                        "paper: at most 3000, its plateau rule stops earlier; fast: 1600 on 64x64 crops)")
    g.add_argument("--seed", type=int, metavar="N", help="random seed (default 0)")
    g.add_argument("--device", choices=DEVICES, default="auto", help="compute device (default auto)")
    g.add_argument("--preset", choices=tuple(PRESETS), default="default",
                   help="settings preset (default: default; paper = the authors' code; fast = a preview)")

    m = parser.add_argument_group("microscopy")
    m.add_argument("--axes", type=parse_axes, metavar="AXES",
                   help="override the axes read from the file, letters from TZCYXS (e.g. ZYX, TZCYX)")
    m.add_argument("--axial", type=parse_axial, nargs="?", const="auto", default=None, metavar="auto|F",
                   help="axial mode: super-resolve z towards isotropic voxels; the factor is F, or "
                        "z step / xy pixel size from the metadata (auto, the default)")
    m.add_argument("--z-fwhm", type=parse_z_fwhm, metavar="F[um|steps]",
                   help="axial: FWHM of the z slice profile, e.g. 1.5um or 1steps (plain number = z steps; "
                        "default: one z step)")
    m.add_argument("--axial-method", choices=AXIAL_METHODS, default=None,
                   help="axial: learn from xy planes (isotropic, default) or from xz/yz slices (zssr)")
    m.add_argument("--fusion", choices=FUSIONS, default=None,
                   help="axial: how the xz and yz results are fused (default geometric)")
    planes = m.add_mutually_exclusive_group()
    planes.add_argument("--per-plane", dest="planes", action="store_const", const="per-plane",
                        help="stacks: one model per plane (default: one shared model)")
    planes.add_argument("--warm-start", dest="planes", action="store_const", const="warm-start",
                        help="stacks: each plane's model starts from the previous one")
    m.add_argument("--channels", choices=CHANNELS, default="independent",
                   help="C axis: one model per channel (independent, default) or all jointly")
    m.add_argument("--tile", type=positive_int(16), metavar="N",
                   help="inference tile edge in output pixels (default: from memory)")
    m.add_argument("--dtype", choices=DTYPES, default="input",
                   help="output data type: the input's (default; integer results are rounded and "
                        "clipped to its range, float inputs give float32) or float32")

    o = parser.add_argument_group("output")
    o.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    o.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")


def add_model_options(parser: argparse.ArgumentParser, save: bool = True) -> None:
    """--model PATH (apply a saved network, no training) and, with save, --save-model PATH."""
    g = parser.add_argument_group("saved networks")
    g.add_argument("--model", metavar="PATH",
                   help="apply a network saved with --save-model instead of training; refused "
                        "when it was trained for another mode, factor or channel count")
    if save:
        g.add_argument("--save-model", metavar="PATH",
                       help="also save the trained network(s) with their settings and intensity "
                            "normalisation (safetensors + JSON header) for reuse with --model")


def check_model_args(args, nd_kwargs: dict) -> None:
    """Validate --model / --save-model before any work; --model goes into nd_kwargs["model"]."""
    model, save = getattr(args, "model", None), getattr(args, "save_model", None)
    if model is not None:
        from ..engine.model_io import read_model_meta
        try:
            meta = read_model_meta(model)
        except ValueError as exc:
            raise OptionError(f"--model {exc}") from None
        mode = (meta.get("extra") or {}).get("mode")
        if mode and mode != nd_kwargs["mode"]:
            raise OptionError(f"--model {model}: the model was trained for {mode} mode, not {nd_kwargs['mode']}")
        nd_kwargs["model"] = str(model)
    if save is not None:
        path = Path(save)
        if model is not None:
            raise OptionError("--save-model with --model: nothing is trained, so there is nothing new to save")
        if nd_kwargs.get("planes") in ("per-plane", "warm-start"):
            raise OptionError(f"--save-model needs one shared network; --{nd_kwargs['planes']} trains one per plane")
        if path.is_dir():
            raise OptionError(f"--save-model {path}: is a directory")
        if not (path.parent if str(path.parent) else Path(".")).is_dir():
            raise OptionError(f"--save-model {path}: directory {path.parent} does not exist")
        if path.exists() and not getattr(args, "overwrite", False):
            raise OptionError(f"--save-model {path}: file exists (pass --overwrite to replace it)")


def normalise_argv(argv):
    """`--axial` takes an optional value: keep it from swallowing a following path (INPUT)."""
    argv = list(argv)
    out = []
    for i, tok in enumerate(argv):
        out.append(tok)
        if tok == "--axial" and i + 1 < len(argv):
            nxt = argv[i + 1]
            if not nxt.startswith("-") and nxt.lower() != "auto" and not _is_number(nxt):
                out.append("auto")
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def config_from_args(args) -> tuple:
    """(ZSSRConfig, nd kwargs) from parsed options; OptionError for combinations that make no sense."""
    axial = args.axial is not None
    if axial:
        if args.scale is not None and len(args.scale) != 1:
            raise OptionError("axial mode takes one z factor (--scale F or --axial F), not a y,x pair")
        if args.scale is not None and isinstance(args.axial, float) and args.scale[0] != args.axial:
            raise OptionError(f"--axial {args.axial:g} and --scale {args.scale[0]:g} disagree; give one")
        scale = args.axial if isinstance(args.axial, float) else (args.scale[0] if args.scale else None)
        if isinstance(args.kernel, tuple):
            raise OptionError("in axial mode give the z slice profile with --z-fwhm, not --kernel gaussian")
        if args.z_fwhm is not None and args.kernel is not None:
            raise OptionError("--z-fwhm and --kernel both set the axial profile; give one")
        if args.planes is not None:
            raise OptionError(f"--{args.planes} applies to lateral mode, not --axial")
    else:
        for flag, value in (("--z-fwhm", args.z_fwhm), ("--axial-method", args.axial_method),
                            ("--fusion", args.fusion)):
            if value is not None:
                raise OptionError(f"{flag} applies only with --axial")
        if args.scale is None:
            scale = 2.0
        else:
            scale = args.scale[0] if len(args.scale) == 1 else tuple(args.scale)

    if args.device != "auto":
        from ..engine.device import available_devices
        if args.device not in available_devices():
            raise OptionError(f"device {args.device!r} is not available here "
                              f"(available: {', '.join(available_devices())})")

    overrides = dict(n_steps=args.steps, noise_std=args.noise_std, max_iters=args.max_iters, seed=args.seed,
                     device=args.device)
    if args.no_back_projection:
        overrides["back_projection_iters"] = 0
    if args.no_ensemble:
        overrides["ensemble"] = False
    try:
        config = ZSSRConfig.from_preset(args.preset, **overrides)
    except ValueError as exc:
        raise OptionError(str(exc)) from None

    nd_kwargs = dict(
        mode="axial" if axial else "lateral",
        scale=scale,
        kernel=args.kernel,                   # None: bicubic (lateral) / one-z-step Gaussian profile (axial)
        planes=args.planes or "shared",
        channels=args.channels,
        out_dtype=args.dtype,
        tile=args.tile,
    )
    if axial:
        nd_kwargs.update(axial_method=args.axial_method or "isotropic", fusion=args.fusion or "geometric")
        if args.z_fwhm is not None:
            nd_kwargs.update(z_fwhm=args.z_fwhm[0], z_fwhm_unit=args.z_fwhm[1])
    check_model_args(args, nd_kwargs)
    return config, nd_kwargs


def describe_kernel_arg(kernel) -> object:
    """A JSON-friendly record of --kernel for the output's params."""
    if kernel is None or isinstance(kernel, str):
        return kernel
    if isinstance(kernel, tuple):
        return list(kernel)
    return {"array_shape": list(np.shape(kernel))}

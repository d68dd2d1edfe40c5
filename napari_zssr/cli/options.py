"""Options shared by `zssr` (one image) and `zssr batch` (many): argument parsing only.

    parser = ZSSRArgumentParser(prog="zssr")     # errors -> OptionError (one line), not SystemExit
    add_common_options(parser)
    args = parser.parse_args(normalise_argv(argv))
    config, spec = config_from_args(args)        # ZSSRConfig + nd RunSpec; OptionError on bad values

Allowed values, limits and their checks live in `napari_zssr.nd.spec` (RunSpec) and the engine
config; the options here only turn text into values and name each setting as the config and the
metadata do (old spellings stay as aliases: --scale, --steps, --dtype, --no-back-projection,
--per-plane, --warm-start). Parsing is pure: no torch work and no file is read except a kernel
file given to --kernel.
"""
from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import numpy as np

from ..engine.config import PRESETS, ZSSRConfig
from ..engine.kernels import validate_kernel
from ..nd.spec import AXIAL_METHODS, CHANNELS, FUSIONS, INITS, OUT_DTYPES, PLANES, RunSpec, parse_factors

KERNEL_FILE_EXTS = (".npy", ".tif", ".tiff")


class OptionError(ValueError):
    """A bad command line or option value; the message is one line."""


class ZSSRArgumentParser(argparse.ArgumentParser):
    """argparse that raises OptionError (one line) instead of printing usage and exiting."""

    def error(self, message):  # noqa: D401 (argparse API)
        raise OptionError(f"{message} (see {self.prog} --help)")


# --- value parsers (argparse `type=` functions) ---------------------------------------------

def _type(parse, name: str):
    """An argparse `type=` from a parser raising ValueError (the rule's one-line message)."""
    def convert(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = name
    return convert


def factors_arg(text: str) -> tuple:
    """'2' -> (2.0,); '2,1.5' -> (2.0, 1.5) (y, x): nd.spec.parse_factors on the command line."""
    return _type(parse_factors, "factors")(text)


def parse_axial(text: str):
    """--axial value: 'auto' (factor from the z and xy pixel sizes) or a z factor."""
    if str(text).lower() == "auto":
        return "auto"
    try:
        return RunSpec(mode="axial", factors=(float(text),)).factors[0]
    except ValueError as exc:
        msg = str(exc) if "could not convert" not in str(exc) else f"expected 'auto' or a z factor, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


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
        try:
            return RunSpec(kernel=("gaussian", sy, sx)).kernel
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{spec!r}: {exc}") from None
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


def holdout_fraction(text: str) -> float:
    from ..quality.holdout import MAX_FRACTION
    v = non_negative_float(text)
    if v > MAX_FRACTION:
        raise argparse.ArgumentTypeError(f"at most {MAX_FRACTION:g} of the image can be held out; got {text!r}")
    return v


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
    """Every option of the single-image command except INPUT, -o and the final summary.

    Each setting has the name the config, the widget and the metadata use (--factors, --n-steps,
    --back-projection-iters, --noise-std, --num-threads, --out-dtype, --planes, --init)."""
    g = parser.add_argument_group("super-resolution")
    g.add_argument("--factors", "--scale", dest="factors", type=factors_arg, metavar="S|SY,SX",
                   help="upscaling factor: one number, or y,x (e.g. 2,1.5); in axial mode the z factor. "
                        "Default: 2 (lateral), from the pixel sizes (axial)")
    g.add_argument("--kernel", type=parse_kernel, metavar="SPEC",
                   help="downscaling kernel: bicubic (default), gaussian:SY[,SX] (sigma in input pixels), "
                        "or a 2-D kernel in a .npy/.tif file. Axial mode: bicubic or a file (z profile); "
                        "use --z-fwhm for a Gaussian slice profile")
    g.add_argument("--n-steps", "--steps", dest="n_steps", type=steps_count, metavar="N|auto",
                   help="gradual SR: number of scale increases sharing the iterations (1 = one jump; auto, "
                        "the default preset's: x2 in 4 steps of x1.19; past x2 steps of 250 iterations, x4 in 24 "
                        "of x1.06; the paper used 6)")
    g.add_argument("--back-projection-iters", dest="back_projection_iters", type=positive_int(0), metavar="N",
                   help="back-projection iterations after inference (preset: 10; 0 = off)")
    g.add_argument("--no-back-projection", dest="back_projection_iters", action="store_const", const=0,
                   help="skip back-projection (= --back-projection-iters 0)")
    g.add_argument("--always-back-project", action="store_true",
                   help="back-project even where it does worse on the held-out part (by default it is kept "
                        "only where it helps: it amplifies noise)")
    g.add_argument("--holdout-fraction", type=holdout_fraction, metavar="F",
                   help="part of the image kept out of training to measure the expected gain over cubic "
                        "(default 0.1 of a stack's planes, or a band of a single image; 0 = off, and "
                        "back-projection always)")
    g.add_argument("--no-ensemble", action="store_true", help="skip the geometric self-ensemble (8x faster inference)")
    g.add_argument("--noise-std", type=non_negative_float, metavar="X",
                   help="noise added to the training sons (normalised intensities, e.g. 0.01)")
    g.add_argument("--max-iters", type=positive_int(1), metavar="N",
                   help="training iterations per model; a gradual run past x2 trains up to 3x as many, 4x "
                        "from the learned prior (which trains 1000, axial 2000, fast 500; from random weights: "
                        "default 2000 on 96x96 crops, cosine schedule, x4 6000 on 128x128; paper at most 3000, "
                        "its plateau rule stops earlier; fast 1600 on 64x64 crops)")
    g.add_argument("--seed", type=int, metavar="N", help="random seed (default 0)")
    g.add_argument("--init", choices=INITS, default=None,
                   help="network start: auto (default: the learned prior for one plane and for axial runs, "
                        "random weights on a 32-wide network for a lateral stack), prior (learned starting "
                        "weights of a 32-wide network: 1000 iterations in gradual stages, axial 2000; Set5 at "
                        "the paper's quality in 1/9-1/20 of its time), or random (the paper's)")
    g.add_argument("--device", default="auto", metavar="DEVICE",
                   help="compute device: auto (default), cpu, cuda, cuda:N or mps")
    g.add_argument("--num-threads", type=positive_int(1), metavar="N",
                   help="CPU threads for torch (default: all cores)")
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
                        "default: estimated from the data, one z step when the estimate is unreliable; "
                        "a value given is used, with a notice when the data clearly disagree)")
    m.add_argument("--axial-method", choices=AXIAL_METHODS, default=None,
                   help="axial: learn from xy planes (isotropic, default) or from xz/yz slices (zssr)")
    m.add_argument("--fusion", choices=FUSIONS, default=None,
                   help="axial: how the xz and yz results are fused (default geometric)")
    planes = m.add_mutually_exclusive_group()
    planes.add_argument("--planes", choices=PLANES, default=None,
                        help="stacks: one model shared by all planes (default), one per plane, or each "
                             "plane's model started from the previous one")
    planes.add_argument("--per-plane", dest="planes", action="store_const", const="per-plane",
                        help="= --planes per-plane")
    planes.add_argument("--warm-start", dest="planes", action="store_const", const="warm-start",
                        help="= --planes warm-start")
    m.add_argument("--channels", choices=CHANNELS, default=None,
                   help="C axis: one model per channel (independent, default) or all jointly")
    m.add_argument("--tile", type=positive_int(1), metavar="N",
                   help="inference tile edge in output pixels (default: from memory)")
    m.add_argument("--out-dtype", "--dtype", dest="out_dtype", choices=OUT_DTYPES, default="input",
                   help="output data type: the input's (default; integer results are rounded and "
                        "clipped to its range, float inputs give float32) or float32")

    o = parser.add_argument_group("output")
    o.add_argument("--overwrite", action="store_true",
                   help="replace an existing output file (never an input: that is always refused)")
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
                            "normalisation (safetensors + JSON header) for reuse with --model; a name "
                            "ending in .zip writes a bioimage.io model package (see zssr export)")
        add_package_options(g)


def add_package_options(group) -> None:
    """--license and --author of a bioimage.io package (zssr export, --save-model NAME.zip)."""
    group.add_argument("--license", default="CC-BY-4.0", metavar="SPDX",
                       help="licence of a bioimage.io package (an SPDX id; default CC-BY-4.0)")
    group.add_argument("--author", action="append", metavar="NAME",
                       help="author of a bioimage.io package (repeatable; default $ZSSR_AUTHOR, "
                            "$GIT_AUTHOR_NAME or the login name)")


def check_model_args(args, spec: RunSpec) -> RunSpec:
    """Validate --model / --save-model before any work; returns the spec with its model."""
    model, save = getattr(args, "model", None), getattr(args, "save_model", None)
    if model is not None:
        from ..nd.models import check_model_file
        try:
            check_model_file(model, spec.mode)
        except ValueError as exc:
            raise OptionError(f"--model {exc}") from None
        spec = spec.replace(model=str(model))
    if save is not None:
        path = Path(save)
        if model is not None:
            raise OptionError("--save-model with --model: nothing is trained, so there is nothing new to save")
        if spec.planes != "shared":
            raise OptionError(f"--save-model needs one shared network; --planes {spec.planes} trains one per plane")
        if path.is_dir():
            raise OptionError(f"--save-model {path}: is a directory")
        if not (path.parent if str(path.parent) else Path(".")).is_dir():
            raise OptionError(f"--save-model {path}: directory {path.parent} does not exist")
        if path.exists() and not getattr(args, "overwrite", False):
            raise OptionError(f"--save-model {path}: file exists (pass --overwrite to replace it)")
        if path.suffix.lower() == ".zip":
            from ..modelzoo import check_license
            try:
                check_license(getattr(args, "license", "CC-BY-4.0"))
            except ValueError as exc:
                raise OptionError(f"--save-model {path}: {exc}") from None
    return spec


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
    """(ZSSRConfig, RunSpec) from parsed options; OptionError for combinations that make no sense."""
    axial = args.axial is not None
    if axial:
        if args.factors is not None and isinstance(args.axial, float) and args.factors != (args.axial,):
            raise OptionError(f"--axial {args.axial:g} and --factors {','.join(f'{v:g}' for v in args.factors)} "
                              f"disagree; give one")
        factors = (args.axial,) if isinstance(args.axial, float) else args.factors
        if args.planes is not None:
            raise OptionError(f"--planes {args.planes} applies to lateral mode, not --axial")
    else:
        for flag, value in (("--z-fwhm", args.z_fwhm), ("--axial-method", args.axial_method),
                            ("--fusion", args.fusion)):
            if value is not None:
                raise OptionError(f"{flag} applies only with --axial")
        factors = args.factors or (2.0,)

    if args.device != "auto":
        from ..engine.device import available_devices
        if args.device.split(":")[0] not in available_devices():
            raise OptionError(f"device {args.device!r} is not available here "
                              f"(available: {', '.join(available_devices())})")

    # --max-iters is the run's length whatever its start (random weights or the prior)
    overrides = dict(n_steps=args.n_steps, noise_std=args.noise_std, max_iters=args.max_iters,
                     prior_iters=args.max_iters, seed=args.seed,
                     device=args.device, back_projection_iters=args.back_projection_iters,
                     num_threads=args.num_threads, holdout_fraction=args.holdout_fraction)
    if args.always_back_project:
        overrides["back_projection_auto"] = False
    if args.no_ensemble:
        overrides["ensemble"] = False
    try:
        config = ZSSRConfig.from_preset(args.preset, **overrides)
    except ValueError as exc:
        raise OptionError(str(exc)) from None

    z_fwhm = args.z_fwhm or (None, "steps")
    try:
        given = dict(axial_method=args.axial_method, fusion=args.fusion, planes=args.planes,
                     channels=args.channels)                   # not given: RunSpec's defaults
        spec = RunSpec(mode="axial" if axial else "lateral", factors=factors, kernel=args.kernel,
                       z_fwhm=z_fwhm[0], z_fwhm_unit=z_fwhm[1], out_dtype=args.out_dtype, tile=args.tile,
                       init=args.init, **{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        raise OptionError(_flagged(str(exc))) from None
    return config, check_model_args(args, spec)


# RunSpec field -> the option that sets it, for one-line errors that name what to change
_FLAGS = {"factor": "--factors", "kernel": "--kernel", "z_fwhm": "--z-fwhm", "z FWHM": "--z-fwhm",
          "tile": "--tile", "Gaussian": "--kernel"}


def _flagged(message: str) -> str:
    for word, flag in _FLAGS.items():
        if word in message:
            return f"{flag}: {message}"
    return message

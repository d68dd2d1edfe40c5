"""Options shared by `zssr` (one image) and `zssr batch` (many): argument parsing only.

    parser = ZSSRArgumentParser(prog="zssr")     # errors -> OptionError (one line), not SystemExit
    add_common_options(parser)
    args = parser.parse_args(normalise_argv(argv))
    config, spec = config_from_args(args)        # ZSSRConfig + nd RunSpec; OptionError on bad values

Each option is made from its setting in `napari_zssr.nd.settings` (default, limits, parsing,
help); this module only adds the flags, named as the config and the metadata name the settings
(old spellings stay as aliases: --scale, --steps, --dtype, --no-back-projection, --per-plane,
--warm-start). Parsing is pure: no torch work and no file is read except a kernel file given to
--kernel.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from ..engine.config import ZSSRConfig
from ..engine.kernels import validate_kernel
from ..nd import settings as S
from ..nd.spec import RunSpec

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


def parse_axial(text: str):
    """--axial value: 'auto' (factor from the z and xy pixel sizes) or a z factor."""
    if str(text).lower() == "auto":
        return "auto"
    try:
        return RunSpec(mode="axial", factors=(float(text),)).factors[0]
    except ValueError as exc:
        msg = str(exc) if "could not convert" not in str(exc) else f"expected 'auto' or a z factor, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def parse_z_fwhm(text: str) -> tuple:
    """'1.5um' -> (1.5, 'um'); '1steps' / '1step' / '1' -> (1.0, 'steps') (nd.settings' rule)."""
    return _type(S.parse_z_fwhm, "z_fwhm")(text)


def parse_kernel(text: str):
    """'bicubic'; 'gaussian:SY[,SX]' -> ('gaussian', sy, sx); FILE.npy|.tif -> 2-D array (read here)."""
    spec = str(text).strip()
    if spec.lower().endswith(KERNEL_FILE_EXTS):
        return load_kernel_file(spec)
    if spec.lower() == "gaussian":
        raise argparse.ArgumentTypeError("gaussian needs a sigma in output pixels: gaussian:SY[,SX] "
                                         "(axial: --z-fwhm)")
    return _type(S.parse_kernel, "kernel")(spec)


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
    """An argparse `type=` for the options that are no run setting (workers, threads of a cluster)."""
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


def parse_axes(text: str) -> str:
    axes = str(text).strip().upper()
    if not axes or not re.fullmatch(r"[A-Z]+", axes):
        raise argparse.ArgumentTypeError(f"{text!r} is not an axes string like ZYX or TZCYX")
    return axes


# --- the options -----------------------------------------------------------------------------

def _help(name: str) -> str:
    """The setting's help line and its default, as --help shows them."""
    s = S.setting(name)
    v = s.default_value()
    if s.default == S.PRESET and s.kind is not bool:
        return f"{s.describe()} (default: the preset's, {v:g} in the default preset)" if s.kind is not str \
            else f"{s.describe()} (default: the preset's, {v})"
    return s.describe() if v is None or s.kind is bool else f"{s.describe()} (default: {v})"


def add_setting(group, name: str, *aliases: str, **kw) -> None:
    """The option --NAME (and its aliases) made from the setting NAME: its parser or choices, its help.
    Not given, it is None: the spec's or the preset's default applies."""
    s = S.setting(name)
    if s.choices and s.text is None:
        kw.setdefault("choices", s.choices)
    else:
        kw.setdefault("type", _type(s.parse, name))
    kw.setdefault("default", None)
    group.add_argument(s.flag, *aliases, dest=name, help=_help(name), **kw)


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Every option of the single-image command except INPUT, -o and the final summary.

    Each run setting is made from nd.settings and named as the config, the widget and the metadata
    name it (--factors, --n-steps, --back-projection-iters, --noise-std, --num-threads, --out-dtype, ...)."""
    g = parser.add_argument_group("super-resolution")
    add_setting(g, "factors", "--scale", metavar="S|SY,SX")
    add_setting(g, "kernel", type=parse_kernel, metavar="SPEC")
    add_setting(g, "n_steps", "--steps", metavar="N|auto")
    add_setting(g, "back_projection_iters", metavar="N")
    g.add_argument("--no-back-projection", dest="back_projection_iters", action="store_const", const=0,
                   help="skip back-projection (= --back-projection-iters 0)")
    g.add_argument("--always-back-project", dest="back_projection_auto", action="store_const", const=False,
                   help=S.setting("back_projection_auto").describe())
    add_setting(g, "holdout_fraction", metavar="F")
    g.add_argument("--no-ensemble", dest="ensemble", action="store_const", const=False,
                   help=f"skip the {S.setting('ensemble').describe()}")
    add_setting(g, "noise_std", metavar="X")
    add_setting(g, "max_iters", metavar="N")
    add_setting(g, "crop_size", metavar="N")
    add_setting(g, "seed", metavar="N")
    add_setting(g, "init")
    add_setting(g, "device", metavar="DEVICE")
    add_setting(g, "num_threads", metavar="N")
    add_setting(g, "preset")

    m = parser.add_argument_group("microscopy")
    m.add_argument("--axes", type=parse_axes, metavar="AXES",
                   help="override the axes read from the file, letters from TZCYXS (e.g. ZYX, TZCYX)")
    m.add_argument("--axial", type=parse_axial, nargs="?", const="auto", default=None, metavar="auto|F",
                   help="axial mode: super-resolve z towards isotropic voxels; the factor is F, or "
                        "z step / xy pixel size from the metadata (auto, the default)")
    add_setting(m, "z_fwhm", metavar="F[um|steps]")
    add_setting(m, "axial_method")
    add_setting(m, "fusion")
    planes = m.add_mutually_exclusive_group()
    add_setting(planes, "planes")
    planes.add_argument("--per-plane", dest="planes", action="store_const", const="per-plane",
                        help="= --planes per-plane")
    planes.add_argument("--warm-start", dest="planes", action="store_const", const="warm-start",
                        help="= --planes warm-start")
    add_setting(m, "channels")
    add_setting(m, "tile", metavar="N")
    add_setting(m, "out_dtype", "--dtype")

    o = parser.add_argument_group("output")
    o.add_argument("--overwrite", action="store_true",
                   help="replace an existing output file (never an input: that is always refused)")
    o.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")


def add_chunked_options(group) -> None:
    """The run settings only a chunked run has (a volume bigger than memory): --train-planes."""
    add_setting(group, "train_planes", metavar="N", default=S.setting("train_planes").default)


def add_model_options(parser: argparse.ArgumentParser, save: bool = True) -> None:
    """--model PATH (apply a saved network, no training) and, with save, --save-model PATH."""
    g = parser.add_argument_group("saved networks")
    g.add_argument("--model", metavar="PATH", help=S.setting("model").describe())
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
        factors = args.factors                 # None: from the pixel sizes (nd.settings' default)

    args.device = args.device or S.setting("device").default
    if args.device != "auto":
        from ..engine.device import available_devices
        if args.device.split(":")[0] not in available_devices():
            raise OptionError(f"device {args.device!r} is not available here "
                              f"(available: {', '.join(available_devices())})")

    # the engine knobs given (None: the preset's); --max-iters is the run's length whatever its
    # start (random weights or the prior)
    overrides = {name: getattr(args, name) for name in CONFIG_OPTIONS}
    overrides.update(prior_iters=args.max_iters, num_threads=args.num_threads or None)
    try:
        config = ZSSRConfig.from_preset(args.preset or S.setting("preset").default, **overrides)
        S.check_config(config)
    except ValueError as exc:
        raise OptionError(_flagged(str(exc))) from None

    z_fwhm = args.z_fwhm or (None, "steps")
    try:
        given = dict(axial_method=args.axial_method, fusion=args.fusion, planes=args.planes,
                     channels=args.channels)                   # not given: RunSpec's defaults
        spec = RunSpec(mode="axial" if axial else "lateral", factors=factors, kernel=args.kernel,
                       z_fwhm=z_fwhm[0], z_fwhm_unit=z_fwhm[1], tile=args.tile,
                       out_dtype=args.out_dtype or S.default_out_dtype(to_file=True),
                       init=args.init, **{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        raise OptionError(_flagged(str(exc))) from None
    return config, check_model_args(args, spec)


# the ZSSRConfig fields the common options set
CONFIG_OPTIONS = ("n_steps", "noise_std", "max_iters", "seed", "device", "back_projection_iters",
                  "back_projection_auto", "ensemble", "holdout_fraction", "crop_size")

# a word of a one-line error -> the option that sets it, so the message names what to change
_FLAGS = {"factor": "--factors", "kernel": "--kernel", "z_fwhm": "--z-fwhm", "z FWHM": "--z-fwhm",
          "tile": "--tile", "Gaussian": "--kernel", **{n: S.setting(n).flag for n in CONFIG_OPTIONS}}


def _flagged(message: str) -> str:
    for word, flag in _FLAGS.items():
        if word in message:
            return f"{flag}: {message}"
    return message

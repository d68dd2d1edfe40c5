"""Each run setting once: its default, its limits, how text becomes its value, its one-line help.

    from napari_zssr.nd.settings import setting
    setting("tile").parse("64")     # 64; ValueError (one line) below the minimum
    setting("tile").check(8)        # the same rule for a value from the widget or the Python API
    setting("max_iters").describe() # the help line, with the preset's numbers filled in

Every front end reads these definitions: the command line builds its options from them
(`cli/options.py`; `zssr batch` takes the same options), the widget its fields' ranges, tooltips
and first values (`plugin/qt/widget.py`), and `RunSpec` (nd/spec.py) and `check_config` check values
with them. A front end that shows a setting is named in its `where`; a test walks every setting
through all three front ends (tests/test_settings_once.py).

A default is a value, PRESET (the engine preset's: `ZSSRConfig.from_preset`) or DERIVED (from the
image: the factors from its pixel sizes, the slice profile from its data, the tile from memory).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from ..engine.config import PRESETS, ZSSRConfig
from ..engine.kernels import resolve_kernel
from ..engine import zssr as engine_rules
from ..engine.zssr import MAX_FACTOR, parse_scale
from ..quality.holdout import MAX_FRACTION
from .sample import DEFAULT_TRAIN_PLANES

PRESET = "the preset's"            # default: ZSSRConfig.from_preset(preset).<name>
DERIVED = "from the image"         # default: worked out for each image

CLI, BATCH, WIDGET = "cli", "batch", "widget"
EVERYWHERE = (CLI, BATCH, WIDGET)

# --- the allowed values (the only place they are listed) ------------------------------------------
MODES = ("lateral", "axial")
KERNELS = ("bicubic", "gaussian")          # named kernels; a 2-D array (or a file of one) also works
AXIAL_METHODS = ("isotropic", "zssr")
FUSIONS = ("geometric", "arithmetic")
PLANES = ("shared", "per-plane", "warm-start")
CHANNELS = ("independent", "joint")
OUT_DTYPES = ("float32", "input")
Z_FWHM_UNITS = ("steps", "um")
INITS = ("auto", "prior", "random")

# --- limits that other modules name (the settings below are their one home) ------------------------
MAX_SIGMA = 30.0                           # Gaussian kernel sigma, output (high-resolution) pixels
MIN_TILE = 16                              # inference tile edge, output pixels
MAX_FWHM_STEPS = 64.0                      # slice profile FWHM, in z steps
MIN_Z_PLANES = 4                           # axial mode


@dataclass(frozen=True)
class Setting:
    """One run setting: what the front ends show and what every value is checked against."""
    name: str                          # the RunSpec / ZSSRConfig field (and the option --name-with-dashes)
    help: str                          # one line; {cfg.<field>} (the preset) and {engine.<NAME>} filled in
    default: Any = None                # a value, PRESET or DERIVED
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    above_minimum: bool = False        # the minimum itself is refused (a FWHM > 0)
    choices: Tuple[str, ...] = ()
    kind: type = float                 # int, float, str or bool
    where: Tuple[str, ...] = EVERYWHERE   # front ends with an option / field of its own for it
    text: Optional[Callable[[str], Any]] = None   # how text becomes the value (default: by kind)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def describe(self, preset: str = "default") -> str:
        return self.help.format(cfg=ZSSRConfig.from_preset(preset), engine=engine_rules)

    def default_value(self, preset: str = "default"):
        """The first value a front end shows (None where it is derived from the image)."""
        if self.default == PRESET:
            return getattr(ZSSRConfig.from_preset(preset), self.name)
        return None if self.default == DERIVED else self.default

    def check(self, value):
        """The value if it is allowed, else ValueError naming the setting and its limits."""
        if self.choices and value not in self.choices:
            raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}; got {value!r}")
        if self.kind in (int, float) and value is not None:
            v = float(value)
            low = self.minimum is not None and (v <= self.minimum if self.above_minimum else v < self.minimum)
            if not math.isfinite(v) or low or (self.maximum is not None and v > self.maximum):
                raise ValueError(f"{self.name} must be {self.range_text()}; got {value!r}")
        return value

    def range_text(self) -> str:
        lo = None if self.minimum is None else f"{'above' if self.above_minimum else 'at least'} {self.minimum:g}"
        hi = None if self.maximum is None else f"at most {self.maximum:g}"
        return " and ".join(p for p in (lo, hi) if p) or "a finite number"

    def parse(self, text: str):
        """Text (the command line) -> the checked value; ValueError with a one-line reason."""
        return self.text(text) if self.text is not None else self.parse_plain(text)

    def parse_plain(self, text: str):
        """Text -> a value of the setting's kind, checked (no special spellings)."""
        if self.kind in (int, float):
            try:
                value = self.kind(text)
            except ValueError:
                raise ValueError(f"{text!r} is not {'an integer' if self.kind is int else 'a number'}") from None
            return self.check(value)
        return self.check(text)


# --- parsing that more than one front end needs ------------------------------------------------------

def parse_factors(value) -> Tuple[float, ...]:
    """'2' / 2 -> (2.0,); '2,1.5' / (2, 1.5) -> (2.0, 1.5) (y, x); each in the factors setting's range."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        if not 1 <= len(parts) <= 2 or not all(parts):
            raise ValueError(f"{value!r} is not a factor or a 'y,x' pair of factors")
        try:
            vals = tuple(float(p) for p in parts)
        except ValueError:
            raise ValueError(f"{value!r} is not a number (e.g. 2 or 2,1.5)") from None
    elif np.isscalar(value):
        vals = (float(value),)
    else:
        vals = tuple(float(v) for v in value)
        if not 1 <= len(vals) <= 2:
            raise ValueError(f"give one factor or a (y, x) pair, not {len(vals)} values")
    check_factor(*vals)
    parse_scale(vals if len(vals) == 2 else vals[0])       # the engine's rule: at least one > 1
    return vals


def check_factor(*factors: float) -> None:
    """Each factor within the factors setting's limits (the message the tests and users know)."""
    s = setting("factors")
    for f in factors:
        if math.isfinite(f) and f > s.maximum:
            raise ValueError(f"scale factor {f:g} is too large; at most {s.maximum:g} is supported")


_FWHM_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zµμ]*)\s*$", re.IGNORECASE)
_FWHM_UNITS = {"": "steps", "step": "steps", "steps": "steps", "um": "um", "µm": "um", "μm": "um",
               "micron": "um", "microns": "um"}


def parse_z_fwhm(text: str) -> Tuple[float, str]:
    """'1.5um' -> (1.5, 'um'); '1steps' / '1step' / '1' -> (1.0, 'steps'); checked by check_z_fwhm."""
    m = _FWHM_RE.match(str(text))
    unit = _FWHM_UNITS.get(m.group(2).lower()) if m else None
    if m is None or unit is None:
        raise ValueError(f"{text!r} is not a FWHM like 1.5um or 1steps (plain number = z steps)")
    return check_z_fwhm(float(m.group(1)), unit), unit


def check_z_fwhm(value: float, unit: str = "steps") -> float:
    """A slice-profile FWHM: > 0, and in z steps at most the setting's maximum."""
    s = setting("z_fwhm")
    v = float(value)
    if not math.isfinite(v) or v <= s.minimum or (unit == "steps" and v > s.maximum):
        raise ValueError(f"the z FWHM must be {s.range_text()} z steps; got {value!r}"
                         if unit == "steps" else f"the z FWHM must be above {s.minimum:g}; got {value!r}")
    return v


def parse_kernel(value):
    """A kernel as text or value -> what RunSpec keeps: 'bicubic', ('gaussian', sy, sx) or a 2-D
    array. Text: bicubic | gaussian:SY[,SX] (sigma in output pixels). ValueError (one line)."""
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("bicubic", "cubic"):
            return "bicubic"
        if low == "gaussian":
            return "gaussian"                       # axial: the slice profile; lateral needs sigmas
        if not low.startswith("gaussian:"):
            raise ValueError(f"unknown kernel {value!r}; use bicubic, gaussian:SY[,SX] or a 2-D array")
        try:
            sig = [float(s) for s in low.partition(":")[2].split(",")]
        except ValueError:
            raise ValueError(f"{value!r}: sigmas must be numbers (gaussian:SY[,SX])") from None
        value = ("gaussian", *sig)
    if isinstance(value, (tuple, list)):
        if len(value) not in (2, 3) or value[0] != "gaussian":
            raise ValueError(f"a Gaussian kernel is ('gaussian', sy, sx) or ('gaussian', s); got {value!r}")
        sy, sx = float(value[1]), float(value[-1])
        s = setting("sigma")
        if not all(math.isfinite(v) and s.minimum <= v <= s.maximum for v in (sy, sx)) or max(sy, sx) == 0:
            raise ValueError(f"Gaussian sigmas must be between {s.minimum:g} and {s.maximum:g} output pixels, "
                             f"not both 0")
        return ("gaussian", sy, sx)
    if value is None:
        return None
    resolve_kernel(np.asarray(value))                 # validates; the engine normalises the original
    return np.asarray(value)


def parse_n_steps(text: str) -> int:
    """'auto' -> 0 (the engine's auto rule), else an integer in the setting's range."""
    return 0 if str(text).strip().lower() == "auto" else setting("n_steps").parse_plain(text)


def default_out_dtype(to_file: bool = False, rgb_layer: bool = False) -> str:
    """out_dtype when none is chosen, the one rule for every front end: a file written by the
    command line keeps the input's data type (a PNG or TIFF keeps its bit depth), and so does an RGB
    napari layer (shown as 8-bit colour); an array (Python API) or another layer is float32 (no
    rounding, no clipping)."""
    return "input" if to_file or rgb_layer else "float32"


def check_config(config) -> None:
    """The engine knobs that are run settings, within their limits (ValueError, one line)."""
    for s in SETTINGS.values():
        if s.kind in (int, float) and hasattr(config, s.name):
            s.check(getattr(config, s.name))


# --- the settings ---------------------------------------------------------------------------------
_ALL = (
    # what is computed (RunSpec)
    Setting("mode", "lateral: sharpen / upsample y and x; axial: upsample z towards isotropic voxels",
            "lateral", choices=MODES, kind=str, where=(WIDGET,)),               # the command line: --axial
    Setting("factors", "upscaling factor: one number, or y,x (e.g. 2,1.5); axial: the z factor. Default: "
            "square pixels from the pixel sizes (x2 when they are square); axial: z step / xy pixel size",
            DERIVED, minimum=1.0, maximum=MAX_FACTOR, text=parse_factors),
    Setting("kernel", "downscaling kernel: bicubic, gaussian:SY[,SX] (sigma in output pixels) or a 2-D kernel "
            "(a .npy/.tif file); axial: bicubic, a file (z profile) or gaussian with the z FWHM",
            "bicubic", choices=KERNELS, kind=str, text=parse_kernel),
    Setting("sigma", "Gaussian kernel sigma in output (high-resolution) pixels; 0 = no blur on that axis",
            1.0, minimum=0.0, maximum=MAX_SIGMA, where=(WIDGET,)),          # the command line: in --kernel
    Setting("z_fwhm", "axial: FWHM of the z slice profile (default: estimated from the data, one z step when "
            "the estimate is unreliable; a value given is used, with a notice when the data clearly disagree)",
            DERIVED, minimum=0.0, above_minimum=True, maximum=MAX_FWHM_STEPS, text=parse_z_fwhm),
    Setting("z_fwhm_unit", "the z FWHM in z steps or in the pixel sizes' unit (um)", "steps",
            choices=Z_FWHM_UNITS, kind=str, where=(WIDGET,)),                   # the command line: in --z-fwhm
    Setting("axial_method", "axial: learn from xy planes degraded like z (isotropic) or from the xz/yz "
            "slices themselves (zssr)", "isotropic", choices=AXIAL_METHODS, kind=str),
    Setting("fusion", "axial: how the xz and yz results are combined", "geometric", choices=FUSIONS, kind=str),
    Setting("planes", "stacks: one model shared by all planes, one per plane, or each plane's model started "
            "from the previous one", "shared", choices=PLANES, kind=str),
    Setting("channels", "C axis: one model per channel (independent) or all channels jointly", "independent",
            choices=CHANNELS, kind=str),
    Setting("out_dtype", "output data type: the input's (integer results are rounded and clipped to its "
            "range, the count is reported) or float32. Default: the input's for a file the command line "
            "writes and for an RGB layer, float32 for other napari layers and Python arrays",
            DERIVED, choices=OUT_DTYPES, kind=str),
    Setting("tile", "inference tile edge in output pixels (default: from memory)", DERIVED,
            minimum=MIN_TILE, kind=int, where=(CLI, BATCH)),
    Setting("model", "apply a saved network (.zssr, or a bioimage.io package made by napari-zssr) instead of "
            "training; refused when it was trained for another mode, factor or channel count", None, kind=str),
    Setting("init", "network start: auto (the learned prior for one plane and axial runs, random weights "
            "for a lateral stack), prior (learned starting weights) or random (the paper's)", PRESET,
            choices=INITS, kind=str),
    # how it is trained (ZSSRConfig)
    Setting("preset", "settings preset: default; paper = the authors' code; fast = a preview", "default",
            choices=tuple(PRESETS), kind=str),
    Setting("n_steps", "gradual SR: scale increases sharing the iterations (1 = one jump; 0 or auto: "
            "{engine.STEPS_PER_DOUBLING} steps per doubling up to x2, past x2 steps of at least "
            "{engine.MIN_STAGE_ITERS} iterations)", PRESET, minimum=0, maximum=64, kind=int,
            text=parse_n_steps),
    Setting("back_projection_iters", "back-projection iterations after inference (0 = off)", PRESET,
            minimum=0, maximum=50, kind=int),
    Setting("back_projection_auto", "back-project even where it does worse on the held-out part (by default "
            "it is kept only where it helps: it amplifies noise)", PRESET, kind=bool, where=(CLI, BATCH)),
    Setting("noise_std", "noise added to the training inputs (normalised intensities, e.g. 0.01)", PRESET,
            minimum=0.0, maximum=0.5),
    Setting("ensemble", "geometric self-ensemble: inference on 8 flips/rotations, averaged (8x the inference "
            "time; the 4 that keep the axes for outputs above 2 Mpx per image)", PRESET, kind=bool),
    Setting("holdout_fraction", "part of the image kept out of training to measure the expected gain over "
            "cubic (a stack's planes, or a band of a single image; 0 = off, and back-projection always)",
            PRESET, minimum=0.0, maximum=MAX_FRACTION),
    Setting("max_iters", "training iterations per model, from random weights or from the learned prior (the "
            "default preset: {cfg.max_iters} from random weights, {cfg.prior_iters} from the prior, an axial "
            "run from the prior {cfg.prior_axial_growth:g}x as many; a gradual run past x2 trains up to "
            "{cfg.budget_growth:g}x as many, {cfg.prior_budget_growth:g}x from the prior)",
            PRESET, minimum=1, maximum=1_000_000, kind=int),
    Setting("crop_size", "training crop edge in pixels", PRESET, minimum=8, maximum=4096, kind=int),
    Setting("seed", "random seed", 0, minimum=0, maximum=2**31 - 1, kind=int),
    Setting("device", "compute device: auto, cpu, cuda, cuda:N or mps (only those this machine has)", "auto",
            kind=str),
    Setting("num_threads", "CPU threads for torch (0 = all cores)", 0, minimum=0, kind=int),
    # chunked runs (a volume bigger than memory)
    Setting("train_planes", "train on a random subset of this many planes, read on demand",
            DEFAULT_TRAIN_PLANES, minimum=1, kind=int, where=(CLI,)),
)
SETTINGS: Dict[str, Setting] = {s.name: s for s in _ALL}


def setting(name: str) -> Setting:
    """The definition in force (a test may replace one in SETTINGS: everything reads it here)."""
    return SETTINGS[name]


__all__ = ["Setting", "SETTINGS", "setting", "PRESET", "DERIVED", "CLI", "BATCH", "WIDGET", "parse_factors",
           "parse_kernel", "parse_z_fwhm", "default_out_dtype", "check_z_fwhm", "check_factor", "check_config",
           "MODES", "KERNELS", "AXIAL_METHODS", "FUSIONS", "PLANES", "CHANNELS", "OUT_DTYPES", "Z_FWHM_UNITS", "INITS",
           "MAX_SIGMA", "MIN_TILE", "MAX_FWHM_STEPS", "MIN_Z_PLANES"]

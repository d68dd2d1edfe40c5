"""The N-D plan: axes, lateral vs axial mode, shared vs per-plane models, dtype handling.

CONTRACT (front ends rely on this; implementation lands in this package):

    super_resolve_nd(
        data: np.ndarray,                 # any real dtype (uint8/16, int, float)
        axes: str,                        # one letter per dim from "TZCYXS"; "S" = RGB(A) samples (joint)
        *,
        mode: str = "lateral",            # "lateral" (yx planes) or "axial" (z towards isotropic)
        scale=None,                       # lateral: s or (sy, sx); axial: z factor; None -> from pixel sizes
        pixel_sizes: dict | None = None,  # physical size per axis letter, e.g. {"z": 2.0, "y": 0.5, "x": 0.5}
        config: ZSSRConfig | None = None,
        kernel=None,                      # lateral downscaling kernel: "bicubic", ("gaussian", sy, sx), ndarray
        z_fwhm: float | None = None,      # axial slice-profile FWHM ...
        z_fwhm_unit: str = "steps",       # ... in "steps" (z steps) or "um" (physical units of pixel_sizes)
        axial_method: str = "isotropic",  # "isotropic" (learn from xy planes) or "zssr" (from xz/yz slices)
        fusion: str = "geometric",        # "geometric" or "arithmetic" mean of the xz and yz results
        planes: str = "shared",           # "shared", "per-plane" or "warm-start"
        channels: str = "independent",    # "independent" or "joint"
        out_dtype: str | None = None,     # None -> float32; "input" -> input dtype (clipped, reported)
        tile: int | None = None,          # inference tile size; None -> from available memory
        progress: ProgressCallback | None = None,
        cancel: CancelFlag = None,
    ) -> NDResult

    NDResult: data (np.ndarray), axes (str), pixel_sizes (dict, new), factors (dict axis->float,
    e.g. {"y": 2.0, "x": 2.0} or {"z": 4.0}), params (dict, JSON-serialisable record of the run),
    clipped (int, number of values clipped when out_dtype="input").

    output_scale_translate(scale, translate, factors_per_dim) -> (new_scale, new_translate)
        napari convention: scale d/s, translate t + (d/s - d)/2, so pixel centres coincide.

Errors on bad input raise ValueError with a one-line message before any work.
"""

from .axes import AXES, canonical_order, validate_axes
from .intensity import Normalizer
from .models import load_for_run, save_result_models
from .plan import NDResult, output_scale_translate, super_resolve_nd

__all__ = ["super_resolve_nd", "output_scale_translate", "NDResult", "Normalizer", "AXES", "validate_axes",
           "canonical_order", "save_result_models", "load_for_run"]

"""N-D runs: axes, lateral vs axial mode, shared vs per-plane models, dtype handling.

CONTRACT (front ends rely on this; implementation lands in this package):

    super_resolve_nd(
        data: np.ndarray,                 # any real dtype (uint8/16, int, float)
        axes: str,                        # one letter per dim from "TZCYXS"; "S" = RGB(A) samples (joint)
        spec: RunSpec | None = None,      # every option of the run (nd/spec.py); or its fields as keywords
        *,
        pixel_sizes: dict | None = None,  # physical size per axis letter, e.g. {"z": 2.0, "y": 0.5, "x": 0.5}
        config: ZSSRConfig | None = None, # engine knobs (iterations, crop, seed, device, ...)
        progress: ProgressCallback | None = None,
        cancel: CancelFlag = None,
        allow_constant: bool = False,     # a constant (one-channel) array is upscaled as is, not refused
    ) -> NDResult

    RunSpec(mode, factors, kernel, z_fwhm, z_fwhm_unit, axial_method, fusion, planes, channels,
            out_dtype, tile, model, init): see napari_zssr.nd.spec for the allowed values and limits.

    NDResult: data (np.ndarray), axes (str), pixel_sizes (dict, new), factors (dict axis->float,
    e.g. {"y": 2.0, "x": 2.0} or {"z": 4.0}), params (dict, JSON-serialisable record of the run),
    clipped (int, number of values clipped when out_dtype="input"), notices (one-line remarks, e.g.
    a constant channel upscaled as it is).

    output_scale_translate(scale, translate, factors_per_dim) -> (new_scale, new_translate)
        napari convention: scale d/s, translate t + (d/s - d)/2, so pixel centres coincide.

Errors on bad input raise ValueError with a one-line message before any work.
"""

from ..axes import AXES, canonical_order, validate_axes
from .intensity import Normalizer
from .models import check_model_file, check_models, load_for_run, save_result_models
from .pipeline import output_scale_translate
from .in_memory import NDResult, merge_channel_results, super_resolve_nd
from .spec import Resolved, RunSpec

__all__ = ["super_resolve_nd", "output_scale_translate", "NDResult", "Normalizer", "AXES", "validate_axes",
           "canonical_order", "save_result_models", "load_for_run", "check_model_file", "check_models",
           "RunSpec", "Resolved", "merge_channel_results"]

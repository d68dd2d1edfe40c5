"""Save the networks of an N-D run and check that saved or given ones fit a new run.

The one home of "trained for another mode, factor or channel count": the CLI, batch, the widget
and nd itself call these.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from ..engine.model_io import load_models, models_to_bytes, read_model_meta
from ..engine.zssr import TrainedModel
from ..io import atomic_file


def save_result_models(result, path, overwrite: bool = False, inputs=()) -> Path:
    """Store the networks an NDResult was made with, with what is needed to reuse them safely."""
    data = result_model_bytes(result, inputs)
    path = Path(path)
    try:
        with atomic_file(path, overwrite, inputs) as fh:
            fh.write(data)
    except FileExistsError:
        raise FileExistsError(f"{path} exists; refusing to overwrite it (use overwrite)") from None
    return path


def result_model_bytes(result, inputs=()) -> bytes:
    """The model file of an NDResult's networks (save_result_models writes it; a bioimage.io
    export packs it), refused for runs that have no one complete set of networks."""
    p = result.params
    if p.get("planes") in ("per-plane", "warm-start") and p.get("mode") == "lateral" and len(result.models) > 1:
        raise ValueError("a per-plane run trained one network per plane; save a shared-network run instead")
    if any(n.get("constant") for n in p.get("normalisation", [])):
        raise ValueError("a constant channel had no network trained; there is no complete model to save")
    extra = {k: p.get(k) for k in ("mode", "factors", "channels", "axial_method", "normalisation", "axes")}
    extra["groups"] = len(p.get("normalisation", [])) or 1
    extra.update(_export_extra(result, inputs))
    models = result.models
    if p.get("mode") == "axial" and len(models) > extra["groups"]:
        models = models[-extra["groups"]:] if extra["groups"] == 1 else models
    return models_to_bytes(models, extra)


def _export_extra(result, inputs=()) -> dict:
    """What a bioimage.io export of the saved file needs besides the networks (issue 30): the
    inference settings the run used (self-ensemble; back-projection as the held-out check kept
    it), the fusion, kernel, gain and slice profile, the input's pixel sizes and name."""
    p = result.params
    cfg = p.get("config") or {}
    planes = 1
    for a in "TZ":
        if a in result.axes and p.get("mode") == "lateral":
            planes *= int(result.data.shape[result.axes.index(a)])
    single = p.get("mode") == "lateral" and planes == 1
    ensemble = bool(cfg.get("ensemble", True)) and (single or bool(cfg.get("stack_ensemble", False)))
    bp = int(cfg.get("back_projection_iters", 10))
    bp_iters = [0 if ((q or {}).get("back_projection") or {}).get("used") is False else bp
                for q in (p.get("quality") or [None])]
    sizes = {a: float(v) * float(result.factors.get(a, 1.0)) for a, v in (result.pixel_sizes or {}).items()}
    out = {"inference": {"ensemble": ensemble, "bp_iters": bp_iters}, "pixel_sizes": sizes,
           "fusion": p.get("fusion"), "kernel": p.get("kernel"), "expected_gain_db": p.get("expected_gain_db"),
           "z_fwhm": p.get("z_fwhm"), "z_fwhm_unit": p.get("z_fwhm_unit"), "iterations": p.get("iterations"),
           "expected_gain_withheld": any((q or {}).get("held_out_trusted") is False for q in p.get("quality") or [])}
    if inputs:
        src = Path(inputs[0])
        out["source"] = {"name": src.name, "path": str(src.resolve())}
    return out


def check_model_file(path, mode: Optional[str] = None, n_groups: Optional[int] = None) -> dict:
    """Cheap check of a saved model (header only) before any work: readable, right mode, and one
    network or one per channel group. Returns the header."""
    meta = read_model_meta(path)
    saved = (meta.get("extra") or {}).get("mode")
    if mode is not None and saved and saved != mode:
        raise ValueError(f"{path}: the model was trained for {saved} mode, not {mode}")
    n_nets = len(meta.get("models", []))
    if n_groups is not None and n_nets not in (1, n_groups):
        raise ValueError(f"{path}: the model holds {n_nets} network(s) (one per channel); "
                         f"this data has {n_groups} channel(s)")
    return meta


def check_models(models: Sequence[TrainedModel], sf: Optional[Tuple[float, float]], n_groups: int,
                 channels_per_group: int, where: str = "the model") -> None:
    """Refuse networks trained for other factors (sf None: not checked) or channel counts, or the
    wrong number of them."""
    want = None if sf is None else tuple(round(float(v), 4) for v in sf)
    for m in models:
        if want is not None and tuple(round(float(v), 4) for v in m.sf) != want:
            raise ValueError(f"{where} was trained for factors {tuple(m.sf)}, not {tuple(sf)}")
        if m.channels != channels_per_group:
            raise ValueError(f"{where} expects {m.channels} channel(s) per network; "
                             f"this data gives {channels_per_group}")
    if len(models) not in (1, n_groups):
        raise ValueError(f"{where} holds {len(models)} network(s) (one per channel); "
                         f"this data has {n_groups} channel(s)")


def load_for_run(path, mode: str, factors: dict, n_groups: int, channels_per_group: int,
                 device: str = "auto") -> Tuple[List[TrainedModel], dict]:
    """Load a saved model and refuse it when it was trained for another mode, factor or channel count."""
    check_model_file(path, mode)
    models, extra = load_models(path, device=device)
    saved = extra.get("factors") or {}
    want = tuple(round(float(factors[a]), 4) for a in sorted(factors))
    have = tuple(round(float(saved[a]), 4) for a in sorted(saved)) if saved else None
    if have is not None and (sorted(saved) != sorted(factors) or have != want):
        raise ValueError(f"{path}: the model was trained for factors {saved}, not {factors}")
    check_models(models, None, n_groups, channels_per_group, where=f"{path}: the model")
    return models, extra

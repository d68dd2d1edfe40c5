"""Save the networks of an N-D run and check that a saved one fits a new run."""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

from ..engine.model_io import load_models, save_models
from ..engine.zssr import TrainedModel


def save_result_models(result, path, overwrite: bool = False) -> Path:
    """Store the networks an NDResult was made with, with what is needed to reuse them safely."""
    p = result.params
    if p.get("planes") in ("per-plane", "warm-start") and p.get("mode") == "lateral" and len(result.models) > 1:
        raise ValueError("a per-plane run trained one network per plane; save a shared-network run instead")
    extra = {k: p.get(k) for k in ("mode", "factors", "channels", "axial_method", "normalisation", "axes")}
    extra["groups"] = len(p.get("normalisation", [])) or 1
    models = result.models
    if p.get("mode") == "axial" and len(models) > extra["groups"]:
        models = models[-extra["groups"]:] if extra["groups"] == 1 else models
    return save_models(models, path, extra=extra, overwrite=overwrite)


def load_for_run(path, mode: str, factors: dict, n_groups: int, channels_per_group: int,
                 device: str = "auto") -> Tuple[List[TrainedModel], dict]:
    """Load a saved model and refuse it when it was trained for another mode, factor or channel count."""
    models, extra = load_models(path, device=device)
    if extra.get("mode") and extra["mode"] != mode:
        raise ValueError(f"{path}: the model was trained for {extra['mode']} mode, not {mode}")
    want = tuple(round(float(factors[a]), 4) for a in sorted(factors))
    saved = extra.get("factors") or {}
    have = tuple(round(float(saved[a]), 4) for a in sorted(saved)) if saved else None
    if have is not None and (sorted(saved) != sorted(factors) or have != want):
        raise ValueError(f"{path}: the model was trained for factors {saved}, not {factors}")
    if models[0].channels != channels_per_group:
        raise ValueError(f"{path}: the model expects {models[0].channels} channel(s) per network; "
                         f"this data gives {channels_per_group}")
    if len(models) not in (1, n_groups):
        raise ValueError(f"{path}: the model holds {len(models)} network(s) (one per channel); "
                         f"this data has {n_groups} channel(s)")
    return models, extra

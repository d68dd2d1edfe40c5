"""Save and load trained networks as plain tensors (safetensors) with their settings as JSON.

Never pickles: the file holds the conv weights and a JSON header (scale factors, channels, kernel,
config, and whatever the caller adds, e.g. the nd mode and intensity normalisation).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load, load_file, save

from .config import ZSSRConfig
from .device import pick_device, resolve_precision, train_channels_last
from .model_package import is_package, package_model_bytes
from .zssr import TrainedModel, new_net

FORMAT = "napari-zssr-model/1"


def _model_meta(model: TrainedModel) -> dict:
    return {
        "sf": list(model.sf),
        "channels": model.channels,
        "kernel": None if model.kernel is None else model.kernel.tolist(),
        "config": model.config.to_dict(),
        "iterations": model.iterations,
        "rec_error": model.rec_error,
    }


def models_to_bytes(models: Sequence[TrainedModel], extra: Optional[dict] = None) -> bytes:
    """One or more trained networks (e.g. one per channel) as the bytes of one safetensors file;
    the caller writes them (napari_zssr.nd.models.save_result_models, atomically via io)."""
    if not models:
        raise ValueError("there is no trained network to save")
    meta = {"format": FORMAT, "models": [_model_meta(m) for m in models], "extra": extra or {}}
    tensors = {f"{i}.{k}": v.detach().to("cpu").contiguous()
               for i, m in enumerate(models) for k, v in m.net.state_dict().items()}
    return save(tensors, metadata={"zssr": json.dumps(meta)})


def _meta_from_bytes(data: bytes) -> dict:
    """The JSON header of a safetensors file held in memory (a bioimage.io package's attachment)."""
    n = int.from_bytes(data[:8], "little")
    return json.loads(json.loads(data[8:8 + n].decode("utf-8"))["__metadata__"]["zssr"])


def read_model_meta(path) -> dict:
    """The header of a model file, or of the model file inside a napari-zssr bioimage.io package."""
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such model file")
    try:
        if is_package(path):
            meta = _meta_from_bytes(package_model_bytes(path))
        else:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {})["zssr"])
    except ValueError as e:  # the package's own one-line reasons
        if str(e).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a napari-zssr model ({type(e).__name__})") from None
    except Exception as e:  # not a safetensors file, or not ours
        raise ValueError(f"{path}: not a napari-zssr model ({type(e).__name__})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: unsupported model format {meta.get('format')!r}")
    return meta


def load_models(path, device: str = "auto", precision: str = "auto") -> Tuple[List[TrainedModel], dict]:
    """(models, extra): the networks run on `device` regardless of where they were trained."""
    meta = read_model_meta(path)
    state = load(package_model_bytes(path)) if is_package(path) else load_file(str(path), device="cpu")
    dev = pick_device(device)
    fields = set(ZSSRConfig.__dataclass_fields__)
    models = []
    for i, mm in enumerate(meta["models"]):
        raw = {k: v for k, v in mm["config"].items() if k in fields}
        if raw.get("clip") is not None:
            raw["clip"] = tuple(raw["clip"])
        cfg = ZSSRConfig(**raw).replace(device=device, precision=precision)
        net = new_net(int(mm["channels"]), cfg, dev)
        prefix = f"{i}."
        net.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
        net.eval()
        prec = resolve_precision(precision, dev)
        # the weights' memory layout as training leaves it: oneDNN picks its kernels by it, and in
        # bf16 another kernel rounds a few outputs one unit differently from the trained run's
        layout = torch.channels_last if train_channels_last(dev, prec, cfg.channels_last) else torch.contiguous_format
        net.to(memory_format=layout)
        kernel = None if mm["kernel"] is None else np.asarray(mm["kernel"], dtype=np.float64)
        models.append(TrainedModel(net, tuple(mm["sf"]), int(mm["channels"]), kernel, cfg, dev, prec))
    return models, meta.get("extra", {})

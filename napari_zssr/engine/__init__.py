"""The ZSSR engine: numpy + torch only (no napari, no Qt)."""
from .config import PRESETS, ZSSRConfig
from .progress import Cancelled, ProgressEvent
from .zssr import TrainedModel, apply, super_resolve, train

__all__ = ["ZSSRConfig", "PRESETS", "super_resolve", "train", "apply", "TrainedModel", "Cancelled",
           "ProgressEvent"]

"""napari-zssr: Zero-Shot Super-Resolution (Shocher, Cohen & Irani, CVPR 2018) for microscopy."""
__version__ = "0.1.0"

from .engine import Cancelled, ProgressEvent, ZSSRConfig, super_resolve

__all__ = ["super_resolve", "ZSSRConfig", "Cancelled", "ProgressEvent", "__version__"]

"""The ZSSR CNN: 8 conv layers 3x3, 64 channels, ReLU after all but the last, residual output.

It lives in engine/inference_module.py, the self-contained file bioimage.io packages ship as
their architecture; this name stays for the rest of the engine.
"""
from __future__ import annotations

from .inference_module import ZSSRNet

__all__ = ["ZSSRNet"]

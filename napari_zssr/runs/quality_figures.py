"""A file's quality figures for the manifest and the summary: the held-out expected gain and the
in-sample reconstruction errors (means over its networks)."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np


def gain_db(rec_error: Optional[float], cubic_rec_error: Optional[float]) -> Optional[float]:
    """Gain of the network's reconstruction over cubic interpolation: 10 log10(cubic / rec) dB."""
    if not rec_error or not cubic_rec_error or rec_error <= 0 or cubic_rec_error <= 0:
        return None
    return float(10 * math.log10(cubic_rec_error / rec_error))


def quality(params: dict) -> dict:
    """rec_error / cubic_rec_error lists (one per trained network) -> per-file figures (means)."""
    rec = [r for r in params.get("rec_error") or [] if r is not None]
    cub = [c for c in params.get("cubic_rec_error") or [] if c is not None]
    gains = [g for g in (gain_db(r, c) for r, c in zip(params.get("rec_error") or [],
                                                          params.get("cubic_rec_error") or []))
             if g is not None]
    from ..quality.holdout import expected_gain
    return {
        # measured on held-out parts of the image (quality/holdout.py); gain_db is the in-sample figure
        "expected_gain_db": expected_gain(params),
        "rec_error": float(np.mean(rec)) if rec else None,
        "cubic_rec_error": float(np.mean(cub)) if cub else None,
        "gain_db": float(np.mean(gains)) if gains else None,
        "rec_errors": list(params.get("rec_error") or []),
        "cubic_rec_errors": list(params.get("cubic_rec_error") or []),
    }

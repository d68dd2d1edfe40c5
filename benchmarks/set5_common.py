"""Set5 for the benchmarks: loading and the SR literature's protocol (Y channel, 8-bit, shave = scale).

One implementation, shared with the tests: tests/_set5.py (numpy + imageio only). This module adds the
images' names (baby, bird, ...) and the folder as a constant, as the benchmarks use them.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from _set5 import NAMES, set5_dir, to_y, y_psnr  # noqa: E402,F401
from _set5 import set5_pairs as _set5_pairs  # noqa: E402

SET5 = set5_dir()


def set5_pairs(scale: int):
    """[(name, hr uint8, lr uint8)] or [] when Set5 is absent."""
    return [(NAMES.get(key, key), hr, lr) for key, hr, lr in _set5_pairs(scale)]

"""What every benchmark ends with: print its markdown table and write it where --out says."""
from __future__ import annotations

from pathlib import Path


def write_report(text: str, out) -> Path:
    print(text)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written to {out}")
    return out

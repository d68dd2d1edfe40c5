"""What every benchmark ends with: print its markdown table and write it where --out says."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from napari_zssr.engine.device import pick_device, resolve_precision


def cpu_name() -> str:
    """The CPU's model name and its vector extensions that matter here (bf16, AMX, AVX-512)."""
    import platform
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    ext = [f for f in ("avx512_bf16", "amx_bf16", "avx512f", "avx2") if f in flags]
    return f"{name} ({os.cpu_count()} cores{', ' + ' '.join(ext) if ext else ''})"


def describe_device(device: str = "auto") -> str:
    """The device the presets' "auto" picks, named so a table says which machine gave its numbers."""
    dev = pick_device(device)
    if dev.type == "cuda":
        name = f"cuda ({torch.cuda.get_device_name(dev)}, torch {torch.__version__}, CUDA {torch.version.cuda})"
    else:
        name = f"{dev.type}: {cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    return f"{name}; default precision {resolve_precision('auto', dev)}"


def use_prior_dir(folder) -> None:
    """Load the priors from `folder` instead of the shipped ones (--prior-dir; None: shipped)."""
    if folder:
        from napari_zssr.engine import prior as prior_mod
        prior_mod.PRIOR_DIR = Path(folder)


def write_report(text: str, out) -> Path:
    print(text)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written to {out}")
    return out


def append_record(path, rec: dict) -> None:
    """One JSON line appended to `path` as a run finishes, so a long suite can stop and resume."""
    with open(path, "a") as fh:
        fh.write(json.dumps(rec, default=float) + "\n")


def preset_config(spec: str, **fixed):
    """'default', or a preset with overrides: 'default:init=random', 'fast:prior_iters=100;seed=1'."""
    import ast

    from napari_zssr.engine import ZSSRConfig
    name, _, rest = spec.partition(":")
    over = {k: ast.literal_eval(v) for k, v in (kv.split("=", 1) for kv in rest.split(";") if kv)}
    return ZSSRConfig.from_preset(name, **fixed).replace(**over)

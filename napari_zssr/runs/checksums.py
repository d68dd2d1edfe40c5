"""What identifies a batch task's input and settings: file checksums and the parameters' hash."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Optional

import numpy as np


def sha256_file(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def file_facts(path: Path) -> dict:
    st = path.stat()
    return {"input_size": st.st_size, "input_mtime": st.st_mtime, "input_sha256": sha256_file(path)}


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return {"array_sha256": hashlib.sha256(np.ascontiguousarray(value, dtype=np.float64).tobytes()).hexdigest(),
                "shape": list(value.shape)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


# config fields that change where/how fast a result is computed, not what it is
_NOT_PARAMS = ("device", "num_threads", "tile")


def run_params(config, spec, *, axes: Optional[str], model_sha256: Optional[str],
               suffix: str) -> dict:
    """What decides the output of a task: the JSON the manifest stores and compares."""
    cfg = {k: v for k, v in config.to_dict().items() if k not in _NOT_PARAMS}
    nd = {k: v for k, v in spec.to_record().items() if k not in ("model", "tile")}
    nd["kernel"] = spec.kernel if spec.kernel is not None else "bicubic"   # an array: by its checksum
    return _jsonable({"config": cfg, "nd": nd, "axes": axes, "model_sha256": model_sha256, "suffix": suffix})


def params_sha256(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()

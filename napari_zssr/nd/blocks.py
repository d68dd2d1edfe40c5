"""The work of one block of a chunked run, as it runs on a dask worker, and its completion marker.

A block reads its part of the (lazy) input, runs the trained network on it exactly as the in-memory
path (nd.in_memory) runs it on the whole volume, writes whole chunks of a zarr array (each chunk file is
replaced atomically by zarr's local store) and then a marker holding a hash of what it wrote. A
rerun verifies that hash against the store before it skips a block, so a block is never assumed
finished because a marker exists.

Blocks need no halo because they are cut along the boundaries of the engine's own 2-D jobs:
    lateral:  whole yx planes (planes are independent in the in-memory path too);
    axial:    slabs of whole xz slices (all z, some y rows, all x) and of whole yz slices; the
              fused output is then made tile by tile from the two stored results.
Inside a plane or slice the engine tiles the network with its receptive-field halo (infer.run_net),
and back-projection and the cubic resizes see the whole 2-D image, as in memory. (A yx block cut
through a plane would need a halo of the receptive field plus ~4 low-resolution pixels per
back-projection iteration, 20 of them by default, and would still differ at the image border.)
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine.zssr import apply
from ..quality.holdout import fusion_sums, fusion_z_range
from .intensity import cast_output

MARKERS = ".zssr_blocks"        # inside the output store: markers, the models, scratch arrays
FULL = "TZCYX"                  # the order of the 5-D view of the input that blocks index
STORE = "TCZYX"                 # NGFF order of the output store (absent axes dropped)


@dataclass
class Block:
    """One task: `kind` in lateral / xz / yz / fuse; t, channel group g, and ranges along z/y/x."""
    kind: str
    t: int
    g: int
    z: tuple = (0, None)
    y: tuple = (0, None)
    x: tuple = (0, None)

    @property
    def id(self) -> str:
        def r(a) -> str:
            return f"{a[0]}-{a[1]}"
        return f"{self.kind}_t{self.t}_g{self.g}_z{r(self.z)}_y{r(self.y)}_x{r(self.x)}"


def digest(data: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()


def _store_region(region5: tuple, present: str) -> tuple:
    """A region over TCZYX -> over the axes present in the store (absent ones have size 1)."""
    return tuple(r for a, r in zip(STORE, region5) if a in present)


def _marker(root: Path, block: Block) -> Path:
    return root / MARKERS / f"{block.id}.json"


def _write_marker(root: Path, block: Block, info: dict) -> None:
    path = _marker(root, block)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, path)                    # a marker is complete or absent


class Context:
    """What every block of a run shares, scattered to the workers once (weights included)."""

    def __init__(self, source, root, present: str, models, configs, norms, out_dtype, fusion, groups):
        self.source = source            # 5-D (T, Z, C, Y, X) dask array over the input
        self.root = Path(root)
        self.present = present          # output store axes (NGFF order)
        self.models, self.configs, self.norms = models, configs, norms   # per channel group
        self.out_dtype = out_dtype      # "float32", or "input": rounded and clipped to the input's dtype
        self.fusion = fusion
        self.groups = groups            # per group: slice of channels
        self._arrays = {}

    @property
    def store_dtype(self) -> np.dtype:
        return np.dtype(np.float32) if self.out_dtype == "float32" else np.dtype(self.source.dtype)

    def array(self, name: str):
        if name not in self._arrays:    # opened once per worker process
            import zarr
            self._arrays[name] = zarr.open_array(str(self.root / name), mode="r+")
        return self._arrays[name]

    def read(self, region5: tuple) -> np.ndarray:
        from .intensity import check_values

        data = np.asarray(self.source[region5].compute(scheduler="synchronous"))
        check_values(data)              # NaN/Inf, or values beyond what float32 computes
        return data


def verify(ctx: Context, block: Block, name: str, region5: tuple, dtype) -> dict | None:
    """The marker of a block if what the store holds now is what the block wrote, else None."""
    path = _marker(ctx.root, block)
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text())
        held = ctx.array(name)[_store_region(region5, ctx.present if name == "0" else STORE)]
    except Exception:  # noqa: BLE001 -- a torn marker or an unreadable chunk: redo the block
        return None
    return info if info.get("sha256") == digest(np.asarray(held, dtype=dtype)) else None


def _finish(ctx: Context, block: Block, name: str, region5: tuple, data: np.ndarray, **extra) -> dict:
    present = ctx.present if name == "0" else STORE
    # the block's 5-D data without the axes the store lacks (they have size 1)
    ctx.array(name)[_store_region(region5, present)] = data.reshape(
        [n for a, n in zip(STORE, data.shape) if a in present])
    info = {"id": block.id, "sha256": digest(data), **extra}
    _write_marker(ctx.root, block, info)
    return {**info, "skipped": False}


def _apply_batches(model, batch: np.ndarray, cfg, chunk: int = 8) -> np.ndarray:
    """As nd.in_memory._apply_chunks: (N, C, H, W) in batches of 8 planes or slices."""
    outs = [apply(model, batch[i:i + chunk], config=cfg).cpu().numpy() for i in range(0, batch.shape[0], chunk)]
    return np.concatenate(outs)


def _cast(ctx: Context, data: np.ndarray):
    if ctx.out_dtype == "float32":
        return data.astype(np.float32, copy=False), 0
    return cast_output(data, ctx.store_dtype)


def run_block(block: Block, ctx: Context, shapes: dict) -> dict:
    """Do one block (or verify and skip it); returns its marker plus 'skipped'."""
    from ..engine.device import set_threads

    set_threads(ctx.configs[block.g].num_threads or 1)
    g = ctx.groups[block.g]
    model, cfg, norm = ctx.models[block.g], ctx.configs[block.g], ctx.norms[block.g]
    if block.kind == "lateral":
        region = (block.t, slice(*block.z), g, slice(None), slice(None))             # input, TZCYX
        out_region = (slice(block.t, block.t + 1), g, slice(*block.z), slice(None), slice(None))
        done = verify(ctx, block, "0", out_region, ctx.store_dtype)
        if done:
            return {**done, "skipped": True}
        planes = norm.forward(ctx.read(region))                                     # (nz, cg, Y, X)
        out = norm.inverse(_apply_batches(model, planes, cfg))                       # (nz, cg, Y', X')
        out, clipped = _cast(ctx, np.moveaxis(out, 0, 1)[None])                      # (1, cg, nz, Y', X')
        return _finish(ctx, block, "0", out_region, out, clipped=clipped)
    if block.kind in ("xz", "yz"):
        name = f"{MARKERS}/{block.kind}"
        zo = shapes["Z_out"]
        if block.kind == "xz":
            region = (block.t, slice(None), g, slice(*block.y), slice(None))
            out_region = (slice(block.t, block.t + 1), g, slice(0, zo), slice(*block.y), slice(None))
        else:
            region = (block.t, slice(None), g, slice(None), slice(*block.x))
            out_region = (slice(block.t, block.t + 1), g, slice(0, zo), slice(None), slice(*block.x))
        done = verify(ctx, block, name, out_region, np.float32)
        if done:
            return {**done, "skipped": True}
        vol = norm.forward(ctx.read(region))                                        # (Z, cg, Y, X)
        # slices as the in-memory path cuts them: xz (Y, C, Z, X), yz (X, C, Z, Y)
        slices = np.ascontiguousarray(np.transpose(vol, (2, 1, 0, 3) if block.kind == "xz" else (3, 1, 0, 2)))
        res = _apply_batches(model, slices, cfg)                                    # (n, cg, Z', other)
        res = np.transpose(res, (1, 2, 0, 3) if block.kind == "xz" else (1, 2, 3, 0))[None]
        return _finish(ctx, block, name, out_region, res.astype(np.float32), min=float(res.min()))
    if block.kind == "fuse":
        out_region = (slice(block.t, block.t + 1), g, slice(*block.z), slice(*block.y), slice(*block.x))
        done = verify(ctx, block, "0", out_region, ctx.store_dtype)
        if done:
            return {**done, "skipped": True}
        a = np.asarray(ctx.array(f"{MARKERS}/xz")[out_region])
        b = np.asarray(ctx.array(f"{MARKERS}/yz")[out_region])
        fused = fuse_with_shift(a, b, ctx.fusion, shapes["shift"][(block.t, block.g)])
        out, clipped = _cast(ctx, norm.inverse(fused))
        # what fusion cancels of the errors, summed over the planes the run's estimate uses
        lo, hi = fusion_z_range(shapes["Z_out"], shapes["factor"])
        first, last = max(lo, block.z[0]) - block.z[0], min(hi, block.z[1]) - block.z[0]
        sums = fusion_sums(a[0], b[0], fused[0], (first, max(first, last)))
        return _finish(ctx, block, "0", out_region, out, clipped=clipped, fusion_sums=list(sums))
    raise ValueError(f"unknown block kind {block.kind!r}")


def fuse_with_shift(a: np.ndarray, b: np.ndarray, how: str, m: float | None) -> np.ndarray:
    """nd.in_memory.fuse with its shift given: the geometric mean needs the minimum of the whole volume
    (over both results), which a tile cannot see; the run collects it from the slab markers."""
    if how == "arithmetic":
        return 0.5 * (a + b)
    return (np.sqrt((a - m) * (b - m)) + m).astype(np.float32)

"""The chunked runner: volumes bigger than memory, trained on a sample, inferred block by block on a
dask cluster into OME-Zarr.

    run_chunked(source, output, spec, config, layout=BlockLayout(...), cluster=ClusterOptions(...),
                sample=TrainingSample(...)) -> ChunkedResult

`source` is a path (OME-Zarr, TIFF, a bioio format; opened lazily), an ImageData, or a `Source`
(a numpy/dask array with its axes, pixel sizes and where it came from). The steps every N-D run
takes (settings, channel groups, the slice profile, training and the held-out check, the output's
geometry, the record) are nd.pipeline's, as for the in-memory runner; what is this runner's own is
below: the store, the blocks, their markers and the cluster (nd.cluster). The run
  1. estimates the slice profile when an axial run has none (from a central column of the volume),
     fits the intensity normalisation and trains one network per channel group on a bounded
     random subset of planes read on demand (nd.sample), or uses the given model; as in memory, a
     few of those planes are held out to measure the expected gain over cubic and to decide on
     back-projection (quality.holdout);
  2. creates the output OME-Zarr (or resumes it: same run fingerprint, models stored inside it);
  3. runs the blocks of nd.blocks as tasks on a dask.distributed cluster (an in-process
     LocalCluster by default, a running scheduler or the caller's client), with the
     models, normalisation and settings scattered to the workers once; each block writes whole
     chunks of the output and a verified completion marker, so a rerun after a kill skips what is
     finished and gives the same result;
  4. writes the downsampled pyramid and the final metadata, and removes the scratch arrays.
The output equals what nd.super_resolve_nd gives in memory with the same model and normalisation
(the blocks follow the engine's 2-D jobs; see nd.blocks). Nothing here knows about napari or Qt.
"""
from __future__ import annotations

import hashlib
import json
import math
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..engine.config import ZSSRConfig
from ..engine.progress import CancelFlag, ProgressCallback, ProgressEvent, is_cancelled
from ..axes import validate_axes
from .blocks import FULL, MARKERS, STORE, Block, Context, run_block
from .cluster import ClusterOptions, connect
from ..quality.holdout import expected_gain, with_fusion, with_profile
from .intensity import Normalizer, check_values
from .pipeline import (channel_groups, engine_config, estimate_profile, given_models, group_model, inference_config,
                       model_notices, output_geometry, output_size, profile_config, run_record, train_checked)
from ..quality.profile_estimate import profile_notice, profile_record
from .spec import RunSpec, kernel_record
from .sample import DEFAULT_TRAIN_PLANES, choose_planes, read_planes, read_slices

RUN_KEY = "zssr_run"          # output attribute: fingerprint and state of the chunked run
NET_TILE = 512                # network tile edge when the config leaves it to free memory: a
                              # worker's activations stay ~0.3 GiB whatever the plane size (exact:
                              # tiles overlap by the receptive field)


@dataclass(frozen=True)
class BlockLayout:
    """How a chunked run cuts the volume into tasks, and the chunks of the output's level 0."""
    block_planes: int = 1                  # lateral: yx planes per task
    slab: int = 16                         # axial: rows (xz) or columns (yz) per slab task
    tile: int = 256                        # axial: y/x edge of a fusion task (a multiple of slab)
    zband: int = 64                        # axial: z depth of a fusion task
    chunks: Optional[tuple] = None         # output level-0 chunks (None: whole blocks)

    def check(self) -> None:
        if self.tile % self.slab or self.slab < 1:
            raise ValueError(f"tile ({self.tile}) must be a multiple of slab ({self.slab})")


@dataclass(frozen=True)
class TrainingSample:
    """What a chunked run trains on: a random subset of planes read on demand (nd.sample), and the
    intensity normalisation (None: fitted on that subset; else one Normalizer per channel group)."""
    planes: int = DEFAULT_TRAIN_PLANES
    normalizers: Optional[tuple] = None


@dataclass
class Source:
    """A chunked run's input with what the caller knows about it: a path, an ImageData or a numpy
    or dask array; its axes and pixel sizes (needed for an array; for the others they override
    what the file says); where it came from (a layer's file and name: for the input fingerprint
    and the refusal line; a path is its own)."""
    data: Any
    axes: Optional[str] = None
    pixel_sizes: Optional[dict] = None
    path: Optional[str] = None
    name: Optional[str] = None


@dataclass
class ChunkedResult:
    path: Path
    axes: str                              # of the output store (NGFF order)
    shape: tuple
    pixel_sizes: dict
    factors: dict
    params: dict
    blocks: int = 0                        # blocks in the run
    computed: int = 0                      # computed in this call
    skipped: int = 0                       # verified as finished by an earlier call and skipped
    clipped: int = 0
    cancelled: bool = False
    seconds: dict = field(default_factory=dict)


def _open(source):
    """(5-D TZCYX dask array, input axes, pixel sizes, translate, channel names, path or None, name)."""
    import dask.array as da

    from ..io import ImageData
    from ..io.lazy import open_lazy

    axes = pixel_sizes = path = name = None
    if isinstance(source, Source):
        axes, pixel_sizes = source.axes, source.pixel_sizes
        path, name = (Path(source.path) if source.path else None), source.name
        source = source.data
    if isinstance(source, (str, Path)):
        path = Path(source)
        source = open_lazy(path)
    if isinstance(source, ImageData):
        axes = axes or source.axes
        pixel_sizes = pixel_sizes if pixel_sizes is not None else source.pixel_sizes
        translate, names, data = source.translate, source.channel_names, source.data
    else:
        translate, names, data = {}, None, source
        if axes is None:
            raise ValueError("axes are needed for an array source (e.g. Source(array, 'ZYX'))")
    data = data if isinstance(data, da.Array) else da.from_array(np.asarray(data), chunks="auto")
    axes = validate_axes(axes, data.ndim)
    check_values(np.zeros(1, data.dtype))               # dtype only: values are checked per block
    if "S" in axes:                                     # before the transpose below, which has no S
        raise ValueError("RGB(A) images are not supported by the chunked path; use the in-memory one")
    order = [axes.index(a) for a in FULL if a in axes]
    full = data.transpose(order)
    for i, a in enumerate(FULL):
        if a not in axes:
            full = da.expand_dims(full, i)
    sizes = {k.lower(): float(v) for k, v in (pixel_sizes or {}).items() if v}
    return full, axes, sizes, translate, names, path, name


def _fingerprint(**parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


FINGERPRINT_PLANES = 8        # planes (t, z) whose windows the input fingerprint hashes
FINGERPRINT_GRID = 3          # windows per plane along y and along x
FINGERPRINT_WINDOW = 64       # window edge


def input_fingerprint(full, path=None, pixel_sizes=None) -> dict:
    """What identifies the input of a run by its content, read lazily: a hash of a deterministic
    sample (up to FINGERPRINT_PLANES evenly spaced (t, z) planes, all channels, a 3x3 grid of
    64x64 windows in each, read in one dask pass) plus shape, dtype, pixel sizes and the source
    path when there is one. Two same-shape volumes (two layers, two files, a file replaced by
    another) differ; the same data from the same place give the same record.

    -> {"sha256": ..., "shape": [...], "dtype": ..., "path": str | None}"""
    import dask.array as da

    n_t, n_z, n_c, n_y, n_x = full.shape
    n_p = n_t * n_z
    k = min(FINGERPRINT_PLANES, n_p)
    picks = sorted({int(round(i * (n_p - 1) / max(k - 1, 1))) for i in range(k)}) if n_p else []

    def starts(n):
        e = min(FINGERPRINT_WINDOW, n)
        g = min(FINGERPRINT_GRID, max(n - e + 1, 1))
        return sorted({int(round(i * (n - e) / max(g - 1, 1))) for i in range(g)}), e
    ys, ey = starts(n_y)
    xs, ex = starts(n_x)
    pieces = [full[p // n_z, p % n_z, :, y0:y0 + ey, x0:x0 + ex] for p in picks for y0 in ys for x0 in xs]
    h = hashlib.sha256()
    if pieces:
        values = da.compute(*pieces) if isinstance(full, da.Array) else pieces
        for v in values:
            h.update(np.ascontiguousarray(v).tobytes())
    sizes = {str(a).lower(): float(v) for a, v in sorted((pixel_sizes or {}).items()) if v}
    h.update(json.dumps([list(full.shape), str(full.dtype), sizes]).encode())
    return {"sha256": h.hexdigest()[:32], "shape": [int(n) for n in full.shape], "dtype": str(full.dtype),
            "pixel_sizes": sizes, "path": None if path is None else str(Path(path).resolve())}


def _describe(record: dict) -> str:
    """An input record in a few words, for the refusal line."""
    shape = "x".join(str(n) for n in record.get("shape", []))
    where = record.get("path") or record.get("name") or "an array in memory"
    return f"{where}, {shape} {record.get('dtype', '')}".strip()


def resume_refusal(output, stored: dict, input_rec: dict, settings_fp: str) -> str:
    """The one line refusing to resume `output` (stored run record) for another input or other settings."""
    old = stored.get("input")
    if not isinstance(old, dict) or old.get("sha256") != input_rec["sha256"] or \
            old.get("path") != input_rec.get("path"):
        made = f" ({_describe(old)})" if isinstance(old, dict) else ""
        return (f"{output}: this store was made from another input{made}, not {_describe(input_rec)}; "
                f"choose another output, or pass overwrite to replace it")
    return (f"{output}: this store was made from the same input with other settings (a different run); "
            f"choose another output, or pass overwrite to replace it")


def _model_key(model) -> str | None:
    """What identifies given networks in the fingerprint: the file, or a hash of the weights."""
    if model is None or isinstance(model, (str, Path)):
        return None if model is None else str(Path(model).resolve())
    h = hashlib.sha256()
    for m in (model if isinstance(model, (list, tuple)) else [model]):
        for k, v in m.net.state_dict().items():
            h.update(k.encode() + v.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:32]


def check_supported(axes: str, spec: RunSpec) -> None:
    """What the chunked path cannot do, as a one-line ValueError before any work."""
    if "S" in axes:
        raise ValueError("RGB(A) images are not supported by the chunked path; use the in-memory one")
    if spec.planes != "shared":
        raise ValueError("a chunked run trains one network per channel group; planes must be 'shared'")


def check_output(output, inputs=(), overwrite: bool = False) -> Path:
    """Before any work, one line on a bad output: the path rules (io.check_zarr_output_path), and an
    existing path must be a chunked napari-zssr output (resumed if it is the same run; refused in
    run_chunked if not) unless overwrite. An empty folder counts as absent."""
    from ..io import check_zarr_output_path

    output = check_zarr_output_path(output, inputs)
    if output.is_dir() and not any(output.iterdir()):
        return output
    if output.exists() and not overwrite and _stored_run(output) is None:
        raise ValueError(f"{output}: exists (not a chunked napari-zssr output); pass overwrite to replace it")
    return output


def _stored_run(output: Path):
    """The run record of an existing chunked output, or None if it is not one of ours."""
    import zarr
    try:
        return dict(zarr.open_group(str(output), mode="r").attrs).get(RUN_KEY)
    except Exception:  # noqa: BLE001 -- not a zarr store at all
        return None


def run_chunked(source, output, spec: RunSpec | None = None, config: ZSSRConfig | None = None, *,
                layout: BlockLayout = BlockLayout(), cluster: ClusterOptions | None = None,
                sample: TrainingSample = TrainingSample(), overwrite: bool = False,
                progress: ProgressCallback | None = None, cancel: CancelFlag = None) -> ChunkedResult:
    """Super-resolve a volume block by block into an OME-Zarr store (see the module docstring).

    `spec` and `config` as for nd.super_resolve_nd (None: their defaults); `layout` cuts the volume
    into tasks, `cluster` says where they run, `sample` what training reads; an existing store is
    resumed when it holds this run, refused otherwise unless `overwrite`.
    """
    t0 = time.perf_counter()
    spec, cluster = spec or RunSpec(), cluster or ClusterOptions()
    layout.check()
    output = Path(output)
    full, axes, sizes, translate, names, in_path, source_name = _open(source)
    check_supported(axes, spec)
    check_output(output, [in_path], overwrite)
    cfg = engine_config(spec, config, default_tile=NET_TILE)
    n_t, n_z, n_c, n_y, n_x = full.shape
    order = "".join(a for a in FULL if a in axes)
    shape = [full.shape[FULL.index(a)] for a in order]
    run = spec.resolve(shape, order, sizes)   # every check, one line
    profile = None
    if spec.model is None:
        profile, spec, run = estimate_profile(spec, run, lambda f: _column_profile(full, spec.channels, f),
                                              lambda s: s.resolve(shape, order, sizes), progress,
                                              where="(a central column)")
        cfg = profile_config(cfg, profile)
    z_out, y_out, x_out = output_size(run, n_z, n_y, n_x)
    groups = channel_groups(n_c, spec.channels)
    present = "".join(a for a in STORE if a in axes)
    out_shape5 = (n_t, n_c, z_out, y_out, x_out)
    out_shape = tuple(n for a, n in zip(STORE, out_shape5) if a in present)
    dtype = np.dtype(np.float32) if spec.out_dtype == "float32" else np.dtype(full.dtype)

    # --- a new store or a resumed one ------------------------------------------------------------
    planes = choose_planes(n_t, n_z, sample.planes, cfg.seed)
    if progress:
        progress(ProgressEvent(stage="fingerprint", message="identifying the input (a sample of its blocks)"))
    in_rec = input_fingerprint(full, in_path, sizes)
    if source_name:
        in_rec["name"] = str(source_name)
    settings_fp = _fingerprint(shape=list(full.shape), dtype=str(full.dtype), axes=axes, mode=spec.mode,
                               factors=run.factors, config=cfg.to_dict(), kernel=kernel_record(spec.kernel),
                               z_fwhm=spec.z_fwhm, z_fwhm_unit=spec.z_fwhm_unit, axial_method=spec.axial_method,
                               fusion=spec.fusion, channels=spec.channels, out_dtype=str(dtype), planes=planes,
                               blocks=[layout.block_planes, layout.slab, layout.tile, layout.zband],
                               model=_model_key(spec.model),
                               norms=None if sample.normalizers is None else [n.to_dict() for n in sample.normalizers])
    fp = _fingerprint(settings=settings_fp, input=in_rec["sha256"], path=in_rec["path"])
    stored = _resumable(output, fp, in_rec, settings_fp, overwrite)

    def say(message, **kw):
        if progress:
            progress(ProgressEvent(stage=kw.pop("stage", "blocks"), message=message, **kw))

    subset = {"planes": [list(p) for p in planes], "of": n_t * n_z, "kind": "tz planes"}
    if stored is not None:
        from ..engine.model_io import load_models
        norms = [Normalizer(**d) for d in stored["normalisation"]]
        models, _ = load_models(output / MARKERS / "models.safetensors", device=cfg.device, precision=cfg.precision)
        subset = stored["training_subset"]
        quals, bp_iters = stored.get("quality", [None] * len(models)), stored["back_projection_iters"]
        say("resuming: models, normalisation and settings from the store")
    else:
        say(f"reading {len(planes)} training planes of {n_t * n_z}", stage="read")
        norms = list(sample.normalizers) if sample.normalizers is not None else [
            Normalizer.fit(read_planes(full, planes, g)) for g in groups]
        if len(norms) != len(groups):
            raise ValueError(f"{len(norms)} normalisation(s) given for {len(groups)} channel group(s)")
        given = given_models(spec.model, run, len(groups), n_c // len(groups), cfg.device)
        many = _many(spec.mode, n_t, n_z)
        models, quals, bp_iters = [], [], []
        for gi, g in enumerate(groups):
            gcfg = cfg.replace(clip=norms[gi].valid_range())
            say(f"training on {len(planes)} of {n_t * n_z} planes", stage="train")
            # the sampled planes: trained on less a held-out few, which measure the gain over
            # cubic and decide on back-projection, as a run in memory does (nd.pipeline)
            srcs = list(norms[gi].forward(read_planes(full, planes, g)))
            slices = None
            if given is None and spec.mode == "axial" and spec.axial_method == "zssr":
                slices, subset = read_slices(full, 0, sample.planes, cfg.seed, g)
                subset["kind"] = "xz/yz slices"
                slices = [norms[gi].forward(s) for s in slices]
            m, icfg, q = train_checked(srcs, run, gcfg, inference_config(gcfg, many), progress, cancel,
                                       model=group_model(given, gi), sources=slices)
            models.append(m)
            quals.append(q)
            bp_iters.append(icfg.back_projection_iters)
    t_train = time.perf_counter() - t0

    # --- the metadata of the result --------------------------------------------------------------
    new_sizes, new_translate = output_geometry(sizes, translate or {}, run.factors)
    notices = model_notices(models, [])               # e.g. "no learned prior for ...; random weights"
    if profile is not None and profile_notice(profile):
        notices.append(profile_notice(profile))
    params = run_record(run, cfg, models, quals, axes=axes, normalisation=[n.to_dict() for n in norms],
                        notices=notices)
    if stored is not None:              # what the networks did in training, as the first call recorded it
        params.update(stored.get("training_record") or {})
    params["training_subset"] = subset
    params["chunked"] = {"block_planes": layout.block_planes, "slab": layout.slab, "tile": layout.tile,
                         "zband": layout.zband}
    if profile is not None:
        params["z_fwhm_estimate"] = profile

    if stored is None:
        group = _create_store(output, params, dtype, present, layout, (new_sizes, new_translate), names,
                              {RUN_KEY: {"fingerprint": fp, "complete": False, "input": in_rec,
                                         "settings_fingerprint": settings_fp, "normalisation": params["normalisation"],
                                         "training_subset": subset, "quality": quals, "back_projection_iters": bp_iters,
                                         "training_record": {k: params[k] for k in TRAINING_RECORD}}},
                              models, out_shape5)
    else:
        import zarr
        group = zarr.open_group(str(output), mode="r+")
    level0 = group["0"]
    _check_chunks(level0.chunks, level0.shape, present, spec.mode, layout)

    # --- the blocks on the cluster ---------------------------------------------------------------
    configs = [inference_config(cfg.replace(clip=norms[gi].valid_range(), back_projection_iters=bp_iters[gi]),
                                _many(spec.mode, n_t, n_z)) for gi in range(len(groups))]
    ctx = Context(full, output, present, models, configs, norms, spec.out_dtype, spec.fusion, groups)
    phases = _phases(spec.mode, layout, full.shape, z_out, len(groups))
    n_blocks = sum(len(p) for p in phases)
    result = ChunkedResult(output, present, out_shape, new_sizes, dict(run.factors), params, blocks=n_blocks)
    say("starting the dask cluster" if cluster.client is None and not cluster.scheduler else
        "connecting to the cluster", stage="cluster")
    results = _run_phases(connect(cluster), ctx, phases, result, {"Z_out": z_out, "factor": run.sf[0]}, progress,
                          cancel)
    t_blocks = time.perf_counter() - t0 - t_train
    if result.cancelled:
        result.seconds = {"train": t_train, "blocks": t_blocks}
        return result
    if spec.mode == "axial":            # the held-out estimates, corrected for the fusion of xz and yz
        for gi in range(len(groups)):
            sums = np.sum([r.get("fusion_sums", (0, 0, 0)) for b, r in zip(phases[1], results) if b.g == gi],
                          axis=0)
            params["quality"][gi] = with_fusion(params["quality"][gi], sums, spec.fusion)
        params["quality"] = with_profile(params["quality"], profile)
        params["expected_gain_db"] = expected_gain(params)
    _finish_store(group, output, present, params, result.clipped)
    result.seconds = {"train": t_train, "blocks": t_blocks, "total": time.perf_counter() - t0}
    if progress:
        progress(ProgressEvent(stage="done", fraction=1.0, job=n_blocks, n_jobs=n_blocks))
    return result


# what the networks did in training: kept in the store, so a resumed run records the first call's
TRAINING_RECORD = ("init", "started_from", "network", "rec_error", "cubic_rec_error", "noise_on_sons_std",
                   "noise_on_sons_model")


def _resumable(output: Path, fp: str, in_rec: dict, settings_fp: str, overwrite: bool):
    """The stored run record when `output` holds this very run (resume it), else None; an empty
    folder goes, another run's store is refused (or removed with overwrite)."""
    if output.is_dir() and not any(output.iterdir()):       # e.g. made by a file dialog
        output.rmdir()
    if not output.exists():
        return None
    stored = _stored_run(output)
    if stored is not None and stored.get("fingerprint") == fp and (output / MARKERS / "models.safetensors").is_file():
        return stored
    if not overwrite:
        if stored is None:
            raise ValueError(f"{output}: exists (not a chunked napari-zssr output); pass overwrite to replace it")
        raise ValueError(resume_refusal(output, stored, in_rec, settings_fp))
    shutil.rmtree(output) if output.is_dir() else output.unlink()
    return None


def _create_store(output: Path, params: dict, dtype, present: str, layout: BlockLayout, geometry, names,
                  run_attrs: dict, models, out_shape5):
    """The new output store: level 0 and its pyramid (empty), the record, the networks and, for an
    axial run, the scratch arrays of the xz and yz slabs."""
    from ..engine.model_io import models_to_bytes
    from ..io import atomic_file
    from ..io.ome_zarr import OmeMetadata, create_ome_zarr

    axial = "z" in params["factors"]
    out_shape = tuple(n for a, n in zip(STORE, out_shape5) if a in present)
    default = tuple({"Y": layout.tile, "X": layout.tile}.get(a, 1) if axial else
                    {"Y": 512, "X": 512}.get(a, 1) for a in present)
    new_sizes, new_translate = geometry
    meta = OmeMetadata(pixel_sizes=new_sizes, unit="um", channel_names=names, params=params, translate=new_translate)
    try:
        group = create_ome_zarr(output, out_shape, dtype, present, meta, chunks=layout.chunks or default,
                                extra_attrs=run_attrs)
    except (OSError, PermissionError) as exc:
        raise ValueError(f"{output}: cannot create the output ({exc})") from None
    (output / MARKERS).mkdir()
    with atomic_file(output / MARKERS / "models.safetensors", overwrite=False) as fh:
        fh.write(models_to_bytes(models))
    if axial:
        import zarr
        z_out = out_shape5[2]
        for name in ("xz", "yz"):
            ch = (1, 1, min(layout.zband, z_out), layout.slab, layout.tile) if name == "xz" else \
                (1, 1, min(layout.zband, z_out), layout.tile, layout.slab)
            zarr.create_array(str(output / MARKERS / name), shape=out_shape5, dtype=np.float32,
                              chunks=tuple(min(c, n) for c, n in zip(ch, out_shape5)), fill_value=0, zarr_format=3)
    return group


def _phases(mode: str, layout: BlockLayout, shape5, z_out: int, n_groups: int) -> list:
    """The blocks of a run, phase by phase: lateral planes; or axial xz and yz slabs, then fusion tiles."""
    n_t, n_z, _, n_y, n_x = shape5
    bp, slab, tile, zband = layout.block_planes, layout.slab, layout.tile, layout.zband
    if mode == "lateral":
        return [[Block("lateral", t, g, z=(z0, min(z0 + bp, n_z)))
                 for g in range(n_groups) for t in range(n_t) for z0 in range(0, n_z, bp)]]
    slabs = [Block("xz", t, g, y=(y0, min(y0 + slab, n_y))) for g in range(n_groups) for t in range(n_t)
             for y0 in range(0, n_y, slab)]
    slabs += [Block("yz", t, g, x=(x0, min(x0 + slab, n_x))) for g in range(n_groups)
              for t in range(n_t) for x0 in range(0, n_x, slab)]
    fuses = [Block("fuse", t, g, z=(z0, min(z0 + zband, z_out)), y=(y0, min(y0 + tile, n_y)),
                   x=(x0, min(x0 + tile, n_x)))
             for g in range(n_groups) for t in range(n_t) for z0 in range(0, z_out, zband)
             for y0 in range(0, n_y, tile) for x0 in range(0, n_x, tile)]
    return [slabs, fuses]


def _run_phases(cl, ctx: Context, phases: list, result: ChunkedResult, shapes: dict, progress, cancel):
    """Every phase's blocks as tasks on the cluster (closed after); counts and progress go into
    `result`. -> the last phase's block results (result.cancelled once `cancel` is set)."""
    n_blocks, done = result.blocks, 0

    def count(info: dict) -> None:          # each block as it finishes: counts and progress
        nonlocal done
        done += 1
        result.skipped += info["skipped"]
        result.computed += not info["skipped"]
        result.clipped += int(info.get("clipped", 0))
        if progress:
            progress(ProgressEvent(stage="blocks", iteration=done, total=n_blocks, job=done - 1, n_jobs=n_blocks,
                                   fraction=done / n_blocks, message=f"block {done} of {n_blocks}"))
    client, results = cl.client, []
    try:
        shared = client.scatter(ctx, broadcast=True, hash=False)
        token = secrets.token_hex(6)
        for pi, blocks in enumerate(phases):
            if pi == 1:                                    # the fusion shift: min over both slab results
                shapes["shift"] = {}
                for b, info in zip(phases[0], results):
                    key = (b.t, b.g)
                    shapes["shift"][key] = min(shapes["shift"].get(key, np.inf), info["min"])
                shapes["shift"] = {k: float(np.float32(v)) - 1e-3 for k, v in shapes["shift"].items()}
            # keys unique to this call: a rerun on the same cluster must not get the last call's results
            # _gather holds the only references: each block's future is released as it finishes
            results = _gather(client, [client.submit(run_block, b, shared, shapes, key=f"zssr-{token}-{b.id}",
                                                     pure=False) for b in blocks], cancel, count)
            if results is None:
                result.cancelled = True
                break
    finally:
        cl.close()
    return results


def _finish_store(group, output: Path, present: str, params: dict, clipped: int) -> None:
    """The pyramid, the final record, the run marked complete, the scratch arrays removed."""
    from ..io.ome_zarr import update_params, write_pyramid

    write_pyramid(group, present)
    params["clipped_values"] = clipped
    update_params(group, params)
    attrs = dict(group.attrs)
    attrs[RUN_KEY] = {**attrs[RUN_KEY], "complete": True}
    group.attrs.update(attrs)
    for name in ("xz", "yz"):
        shutil.rmtree(output / MARKERS / name, ignore_errors=True)


def _many(mode: str, n_t: int, n_z: int) -> bool:
    """Inferred as a stack (no self-ensemble unless stack_ensemble): axial slices, or many planes."""
    return mode == "axial" or n_t * n_z > 1


def _column_profile(full, channels: str, factor: float):
    """The slice-profile estimate from a central column (all z, at most 256x256 in xy) of the first
    time point: enough z lines for the estimate, and never more than one column in memory."""
    _, n_z, n_c, n_y, n_x = full.shape
    e = min(256, n_y, n_x)
    y0, x0 = (n_y - e) // 2, (n_x - e) // 2
    col = np.asarray(full[0, :, :, y0:y0 + e, x0:x0 + e])                          # (Z, C, e, e)
    check_values(col)                                  # before the float32 cast (values beyond it)
    col = col.astype(np.float32)
    vol = col[:, :1] if channels != "joint" else col                  # channel groups: the first
    if vol.min() == vol.max():
        return None
    return profile_record(Normalizer.fit(vol).forward(vol).mean(axis=1), factor)    # as in memory


def _check_chunks(chunks, shape, present: str, mode: str, layout: BlockLayout) -> None:
    """Every block must write whole chunks: a chunk shared by two tasks could lose one's data."""
    c, n = dict(zip(present, chunks)), dict(zip(present, shape))
    block_planes, tile, zband = layout.block_planes, layout.tile, layout.zband

    def fits(axis, step):        # blocks of `step` along `axis` cover whole chunks
        return axis not in c or step % c[axis] == 0 or c[axis] >= n[axis]
    if mode == "lateral":
        ok = fits("Z", block_planes)
    else:
        ok = fits("Z", zband) and fits("Y", tile) and fits("X", tile)
    if not ok or c.get("C", 1) != 1 or c.get("T", 1) != 1:
        raise ValueError(f"output chunks {tuple(chunks)} do not fit the blocks; use one plane/channel/time "
                         f"point deep and y/x chunks dividing {tile}")


def _gather(client, futures: list, cancel, on_done, poll: float = 0.2):
    """Results in submission order, on_done(result) as each finishes; None once `cancel` is set
    (blocks not yet started are cancelled; running ones finish and leave their markers).

    Takes over `futures` (the list is emptied) and drops each future once its result is read, so
    the cluster releases finished tasks as the run goes. Each future reports its end once, through
    a done-callback into a queue, which is read with a timeout to look at `cancel`. (Polling with
    distributed.wait(pending, timeout, FIRST_COMPLETED) instead leaves one never-cancelled waiter
    task per pending future on the client's event loop at every poll: millions of tasks, GiBs of
    client memory over a long axial run; issue 15.)"""
    import queue

    pending = {f.key: (i, f) for i, f in enumerate(futures)}
    futures.clear()
    finished = queue.Queue()
    for _, f in pending.values():
        f.add_done_callback(finished.put)
    results = [None] * len(pending)
    while pending:
        try:
            i, f = pending.pop(finished.get(timeout=poll).key)
        except queue.Empty:
            pass
        else:
            if f.status == "error":
                client.cancel([g for _, g in pending.values()])
                raise f.exception()
            results[i] = f.result()
            del f                                      # the last reference: released on the cluster
            on_done(results[i])
        if is_cancelled(cancel):
            client.cancel([f for _, f in pending.values()])
            return None
    return results


def plan_summary(result: ChunkedResult) -> str:
    """One line for a front end: what was done."""
    mins = result.seconds.get("total", 0) / 60
    return (f"{result.path}: {math.prod(result.shape)} voxels {result.axes} in {result.blocks} blocks "
            f"({result.computed} computed, {result.skipped} resumed) in {mins:.1f} min")

"""Issue 28, item 4: bad input, fuzzed. Small random inputs (0-5 dimensions, degenerate sizes, every
numpy dtype, NaN/Inf, constant and empty channels, random axes strings, factors, kernels, slice
profiles and settings inside and outside the spec) give either a valid result (right shape, dtype
and metadata) or a one-line error: exit 2 from `zssr`, a ValueError from the API and from the
widget's job (which the widget shows as a notification). Never a traceback (exit 1 or another
exception), never a file written after an error, never a changed input.

Most valid examples run nd with the network mocked (training returns at once, inference is a
nearest-neighbour upscale of the right shape), so the plan, the checks, the assembly, the casts
and the writers are what is fuzzed; one in eight runs the real engine end to end (a few
iterations), and test_real_engine_on_edge_inputs always does. Example counts: ZSSR_FUZZ_EXAMPLES
scales them (CI: 200 + 150 + 60); benchmarks/fuzz_inputs.py runs the same properties for longer.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import types
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

SCALE = float(os.environ.get("ZSSR_FUZZ_SCALE", "1"))
N_CLI, N_API, N_JOB = (max(1, int(n * SCALE)) for n in (200, 150, 60))
FUZZ = dict(deadline=None, derandomize=os.environ.get("ZSSR_FUZZ_RANDOM") is None, database=None,
            suppress_health_check=list(HealthCheck), print_blob=True)

NUMERIC = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
           "float16", "float32", "float64"]
DTYPES = NUMERIC + ["bool", "complex64", "complex128", "U3", "object", "datetime64[s]", "timedelta64[s]", "V2"]
SIZES = [0, 1, 2, 3, 4, 5, 6, 9, 12, 17]
CONTENT = ["random", "random", "random", "constant", "nan", "inf", "constant_channel", "extreme", "tiny_range"]


def _event(text: str) -> None:
    """hypothesis.event inside a property; nothing outside one (the plain tests share the checks)."""
    from hypothesis.errors import InvalidArgument
    try:
        event(text)
    except InvalidArgument:
        pass


def tiny_config():
    from napari_zssr.engine.config import ZSSRConfig
    return ZSSRConfig.from_preset("fast", max_iters=3, n_steps=1, crop_size=16, back_projection_iters=1,
                                  ensemble=False, num_threads=1, device="cpu", test_every=2)


# --- inputs -----------------------------------------------------------------------------------------
def fill(rng, shape, dtype, content):
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.random(shape) > 0.5
    if dt.kind == "U":
        return np.full(shape, "abc", dtype=dt)
    if dt.kind == "O":
        return rng.integers(0, 100, shape).astype(object)
    if dt.kind in "mM":
        return rng.integers(0, 100, shape).astype(dt)
    if dt.kind == "V":
        return np.zeros(shape, dt)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = max(int(info.min), -(2**62)), min(int(info.max), 2**62)
        if content == "extreme":
            data = np.where(rng.random(shape) > 0.5, info.max, info.min).astype(dt)
        elif content == "tiny_range":
            data = (rng.random(shape) > 0.9).astype(dt)
        else:
            data = rng.integers(lo, hi, shape, endpoint=True).astype(dt) if content != "random" else \
                rng.integers(max(lo, 0), min(hi, 3000), shape, endpoint=True).astype(dt)
    else:
        data = (rng.random(shape) * 1000 - 100).astype(dt)
        if dt.kind == "c":
            data = data + 1j * data
        if content == "extreme":
            data = (np.sign(data.real) * np.finfo(dt).max / 4).astype(dt)
        elif content == "tiny_range":
            data = (1 + rng.random(shape) * 1e-6).astype(dt)
        elif content in ("nan", "inf") and data.size:
            data.flat[rng.integers(0, data.size)] = np.nan if content == "nan" else -np.inf
    if content == "constant":
        data = np.full(shape, data.flat[0] if data.size else 0, dtype=dt)
    elif content == "constant_channel" and data.ndim >= 3 and data.size:
        data[0] = data.flat[0]
    return data


@st.composite
def arrays(draw, dtypes=DTYPES, max_dims=5, good=None):
    """An array; `good` (drawn when None, 3 in 4): a numeric one of 2-5 dimensions whose last two
    are big enough to learn from, mostly random values; otherwise anything."""
    good = draw(st.integers(0, 3)) < 3 if good is None else good
    if good:
        ndim = draw(st.integers(2, min(max_dims, 5)))
        shape = tuple(draw(st.sampled_from([1, 2, 3] if i < ndim - 3 else [5, 6, 8]) if i < ndim - 2 else
                           st.sampled_from([9, 12, 17])) for i in range(ndim))
        dtype = draw(st.sampled_from([d for d in dtypes if d in NUMERIC]))
        content = draw(st.sampled_from(["random"] * 6 + ["constant_channel", "tiny_range", "extreme"]))
    else:
        ndim = draw(st.integers(0, max_dims))
        shape = tuple(draw(st.sampled_from(SIZES)) for _ in range(ndim))
        dtype = draw(st.sampled_from(dtypes))
        content = draw(st.sampled_from(CONTENT))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return fill(rng, shape, dtype, content)


GOOD_AXES = {2: ["YX"], 3: ["ZYX", "CYX", "TYX"], 4: ["CZYX", "TZYX", "ZCYX"], 5: ["TZCYX", "TCZYX"]}
AXES_TEXT = st.one_of(st.none(), st.text(alphabet="TZCYXSQIzyx ", max_size=6))
FACTORS = st.one_of(st.none(), st.sampled_from([2.0, 1.0, 0.5, 1.5, 3.0, 16.0, 17.0, -2.0, 0.0, math.nan, math.inf]),
                    st.tuples(st.sampled_from([1.0, 2.0, 2.5, 0.9]), st.sampled_from([1.0, 2.0, 3.0, -1.0])),
                    st.just((2.0, 2.0, 2.0)), st.just("2"), st.just("abc"), st.just(()))
KERNELS = st.sampled_from([None, "bicubic", ("gaussian", 0.8, 0.8), ("gaussian", -1.0, 1.0), ("gaussian", 100.0, 1.0),
                           ("gaussian", math.nan, 1.0), "nope", "ones3", "zeros3", "nan2", "ones41", "line5"])


@st.composite
def axes_for(draw, data):
    """None (the guess), axes that fit the data (2 in 3), or any string."""
    pick = draw(st.integers(0, 5))
    if pick < 4 and data.ndim in GOOD_AXES:
        return draw(st.sampled_from(GOOD_AXES[data.ndim]))
    return None if pick == 4 else draw(AXES_TEXT)


def kernel_value(name):
    return {"ones3": np.ones((3, 3)), "zeros3": np.zeros((3, 3)), "nan2": np.full((2, 2), np.nan),
            "ones41": np.ones((41, 41)), "line5": np.ones((5, 1))}.get(name, name) if isinstance(name, str) else name


@st.composite
def spec_kwargs(draw):
    """RunSpec keywords: inside the spec (2 in 3) or anything (values outside it too)."""
    if draw(st.integers(0, 2)) < 2:
        mode = draw(st.sampled_from(["lateral", "axial"]))
        kw = dict(mode=mode)
        if mode == "lateral":
            kw.update(factors=draw(st.sampled_from([None, (2.0,), (1.5,), (3.0,), (2.0, 1.5), (1.0, 2.0)])),
                      kernel=draw(st.sampled_from([None, "bicubic", ("gaussian", 0.8, 1.0)])),
                      planes=draw(st.sampled_from(["shared", "shared", "per-plane", "warm-start"])))
        else:
            kw.update(factors=draw(st.sampled_from([None, (2.0,), (2.5,)])),
                      z_fwhm=draw(st.sampled_from([None, 1.0, 1.5])),
                      axial_method=draw(st.sampled_from(["isotropic", "zssr"])),
                      fusion=draw(st.sampled_from(["geometric", "arithmetic"])))
        kw.update(channels=draw(st.sampled_from(["independent", "joint"])),
                  out_dtype=draw(st.sampled_from(["float32", "input"])),
                  tile=draw(st.sampled_from([None, None, 16, 64])))
        return kw
    kw = dict(mode=draw(st.sampled_from(["lateral", "lateral", "axial", "axial", "sideways"])),
              factors=draw(FACTORS), kernel=kernel_value(draw(KERNELS)))
    optional = dict(
        z_fwhm=st.sampled_from([None, 1.0, 0.5, 0.0, -2.0, 1e6, math.nan]),
        z_fwhm_unit=st.sampled_from(["steps", "um", "furlongs"]),
        axial_method=st.sampled_from(["isotropic", "zssr", "magic"]),
        fusion=st.sampled_from(["geometric", "arithmetic", "max"]),
        planes=st.sampled_from(["shared", "per-plane", "warm-start", "all"]),
        channels=st.sampled_from(["independent", "joint", "mixed"]),
        out_dtype=st.sampled_from(["float32", "input", "uint8"]),
        tile=st.sampled_from([None, 0, 8, 16, 64, -1]),
        init=st.sampled_from([None, "auto", "random", "prior", "zeros"]))
    for k, strat in optional.items():
        if draw(st.integers(0, 2)) == 0:
            kw[k] = draw(strat)
    return kw


PIXEL_SIZES = st.sampled_from([None, {}, {"z": 2.0, "y": 0.5, "x": 0.5}, {"z": 1.0}, {"z": -1.0, "y": 1.0, "x": 1.0},
                               {"z": math.nan, "y": 1.0, "x": 1.0}, {"y": 0.5, "x": 0.25}, {"q": 1.0}])


# --- the network mocked (most examples) or real (some) ------------------------------------------------
def _fake_train_checked(planes, run, cfg, icfg, prog, cancel, **kw):
    m = types.SimpleNamespace(sf=tuple(run.sf), iterations=0, rec_error=None, cubic_rec_error=None, init="random",
                              net=types.SimpleNamespace(depth=8, width=32), config=cfg, notices=[])
    return m, icfg, None


def _fake_apply(model, batch, cancel=None, config=None):
    import torch
    from napari_zssr.engine.infer import output_shape
    x = torch.as_tensor(np.asarray(batch, dtype=np.float32))
    squeeze = x.ndim == 3
    x = x[None] if squeeze else x
    y = torch.nn.functional.interpolate(x, size=output_shape(x.shape[-2:], model.sf), mode="nearest")
    return y[0] if squeeze else y


@contextlib.contextmanager
def engine(real: bool):
    if real:
        yield
        return
    import napari_zssr.nd.in_memory as in_memory
    # in memory only: a chunked run keeps the real engine (its models are stored with the output)
    with mock.patch.object(in_memory, "train_checked", _fake_train_checked), \
            mock.patch.object(in_memory, "apply", _fake_apply):
        yield


# --- what every outcome must satisfy ----------------------------------------------------------------
def _snapshot(a):
    a = np.asarray(a)
    return (a.shape, str(a.dtype), a.tobytes() if a.dtype.kind != "O" else repr(a.tolist()))


def check_one_line(exc: BaseException):
    assert isinstance(exc, ValueError), f"{type(exc).__name__} instead of a one-line ValueError: {exc!r}"
    msg = str(exc)
    assert msg.strip() and "\n" not in msg and "Traceback" not in msg, repr(msg)


def expected_shape(shape, axes, factors):
    from napari_zssr.engine.infer import output_shape
    return tuple(output_shape((n, 1), (factors[a.lower()], 1))[0] if a.lower() in factors else n
                 for n, a in zip(shape, axes))


def check_result(res, data, axes_given, spec):
    """A valid result: the factors applied to the right axes, the dtype asked for, the metadata."""
    axes = res.axes
    assert len(axes) == data.ndim and set(axes) <= set("TZCYXS")
    if axes_given is not None:
        assert axes == "".join(axes_given.split()).upper()
    assert res.data.shape == expected_shape(data.shape, axes, res.factors)
    f = res.factors
    assert all(v >= 1 for v in f.values()) and any(v > 1 for v in f.values())
    if spec.mode == "axial":
        assert set(f) == {"z"}
    else:
        assert set(f) == {"y", "x"}
    want = data.dtype if spec.out_dtype == "input" else np.dtype(np.float32)
    assert res.data.dtype == want, (res.data.dtype, want)
    if res.data.dtype.kind == "f":
        assert not np.isnan(res.data).any()
    p = res.params
    assert p["mode"] == spec.mode and p["factors"] == f and p["axes"] == axes


# --- the API (what the widget's job and batch call) -----------------------------------------------------
def api_case(data, axes, kw, pixel_sizes, real):
    from napari_zssr.nd import super_resolve_nd
    from napari_zssr.nd.spec import RunSpec

    before = _snapshot(data)
    try:
        spec = RunSpec(**kw)
        # an overflow or an invalid value on the way is a wrong result, not a warning to ignore
        with engine(real), warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            res = super_resolve_nd(data, axes, spec, pixel_sizes=pixel_sizes, config=tiny_config())
    except Exception as exc:  # noqa: BLE001 -- the property: only one-line ValueErrors
        check_one_line(exc)
        _event(f"api refused: {str(exc)[:40]}")
        res = None
    assert _snapshot(data) == before, "the input was changed"
    if res is not None:
        _event(f"api valid ({'real' if real else 'mocked'} engine)")
        check_result(res, np.asarray(data), axes, spec)
    return res


@settings(max_examples=N_API, **FUZZ)
@given(case=st.data(), kw=spec_kwargs(), pixel_sizes=PIXEL_SIZES, real=st.integers(0, 7))
def test_fuzz_api(case, kw, pixel_sizes, real):
    from napari_zssr.axes import guess_axes

    data = case.draw(arrays(), "data")
    axes = case.draw(axes_for(data), "axes")
    if axes is None:                              # the API needs axes: nd's guess, as the front ends
        try:
            axes = guess_axes(np.shape(data))
        except Exception as exc:  # noqa: BLE001
            check_one_line(exc)
            return
    api_case(data, axes, kw, pixel_sizes, real == 7)


# --- the widget's job: a layer snapshot, build_job, run_job ---------------------------------------------
def job_case(data, axes, kw, scale, real, tmp: Path):
    from napari.layers import Image

    from napari_zssr.plugin import layer_job as lj
    from napari_zssr.nd.spec import RunSpec

    try:
        layer = Image(data, scale=scale[-data.ndim:] if scale and data.ndim else None)
    except Exception:  # noqa: BLE001 -- napari itself refuses it: not a layer a user can select
        _event("job: napari refuses the layer")
        return
    before = _snapshot(layer.data)
    try:
        spec = RunSpec(**kw)
        job = lj.build_job(layer, spec, tiny_config(), axes=axes, output=str(tmp / "out.zarr"))
        with engine(real):
            res = lj.run_job(job)
        tuples = lj.result_layer_data(job, res)
    except Exception as exc:  # noqa: BLE001
        check_one_line(exc)
        _event("job refused")
        res = None
        assert not (tmp / "out.zarr").exists() or job.chunked
    assert _snapshot(layer.data) == before, "the layer's data was changed"
    if res is not None:
        _event(f"job valid ({'chunked' if job.chunked else 'in memory'})")
        assert tuples and all(t[2] == "image" for t in tuples)
        if not job.chunked:
            check_result(res, np.asarray(layer.data), job.source.axes, job.spec)


@settings(max_examples=N_JOB, **FUZZ)
@given(case=st.data(), kw=spec_kwargs(),
       scale=st.sampled_from([None, (2.0, 0.5, 0.5), (1.0, 1.0, 1.0, 1.0), (0.3, 0.1, 0.1)]), real=st.integers(0, 7))
def test_fuzz_widget_job(tmp_path_factory, case, kw, scale, real):
    data = case.draw(arrays(dtypes=NUMERIC + ["bool", "complex64"], max_dims=4), "data")
    job_case(data, case.draw(axes_for(data), "axes"), kw, scale, real == 7, tmp_path_factory.mktemp("job"))


# --- the command line ---------------------------------------------------------------------------------
OPTIONS = {
    "--scale": ["2", "1", "0.5", "3", "1.5", "17", "nan", "inf", "-2", "abc", "2,3", "2,1", "1,1", "2,2,2", ""],
    "--axial": [None, "auto", "2", "0.5", "1", "x"],
    "--kernel": ["bicubic", "gaussian:1", "gaussian:0", "gaussian:-1", "gaussian:1,2", "gaussian:", "gaussian:abc",
                 "foo", "missing.npy", "KERNEL"],
    "--z-fwhm": ["1", "1um", "0", "-1", "abc", "1e9steps", "2furlongs"],
    "--axes": ["", "YX", "ZYX", "CYX", "yx", "XY", "QQ", "TZCYX", "ZZYX", "YXS", "Z Y X", "ABC"],
    "--out-dtype": ["input", "float32", "uint8"],
    "--planes": ["shared", "per-plane", "warm-start", "nope"],
    "--channels": ["independent", "joint", "nope"],
    "--tile": ["0", "16", "1", "abc", "100000"],
    "--n-steps": ["auto", "0", "1", "2", "-1"],
    "--max-iters": ["0", "2", "-5", "abc"],
    "--holdout-fraction": ["0", "0.1", "0.9", "-1", "nan"],
    "--noise-std": ["0", "0.01", "-1", "inf"],
    "--axial-method": ["isotropic", "zssr", "bogus"],
    "--fusion": ["geometric", "arithmetic", "x"],
    "--seed": ["0", "-1", "1.5"],
    "--preset": ["fast", "paper", "nope"],
}
FILE_DTYPES = NUMERIC + ["bool", "complex64"]


@st.composite
def cli_cases(draw):
    """A file and a command line: sensible (2 in 3: a good array, options inside the spec) or anything."""
    if draw(st.integers(0, 2)) < 2:
        data = draw(arrays(dtypes=FILE_DTYPES, good=True))
        kind = draw(st.sampled_from(["tif", "tif", "ometif", "png"]))
        out = ".zarr" if draw(st.integers(0, 24)) == 24 else draw(st.sampled_from([".tif", ".tif", ".ome.tif", ".png"]))
        opts = []
        if data.ndim >= 3 and draw(st.integers(0, 2)) == 2:
            opts += ["--axial", draw(st.sampled_from(["2", "2.5"]))]
            if draw(st.booleans()):
                opts += ["--z-fwhm", draw(st.sampled_from(["1", "1.5steps"]))]
            if draw(st.booleans()):
                opts += ["--axial-method", draw(st.sampled_from(["isotropic", "zssr"]))]
        else:
            opts += ["--scale", draw(st.sampled_from(["2", "1.5", "3", "2,1.5"]))]
            if draw(st.booleans()):
                opts += ["--kernel", draw(st.sampled_from(["bicubic", "gaussian:1", "KERNEL"]))]
        if data.ndim in GOOD_AXES and draw(st.booleans()):
            opts += ["--axes", draw(st.sampled_from(GOOD_AXES[data.ndim]))]
        if draw(st.booleans()):
            opts += ["--out-dtype", draw(st.sampled_from(["input", "float32"]))]
        if draw(st.booleans()):
            opts += ["--channels", draw(st.sampled_from(["independent", "joint"]))]
        return data, kind, out, opts, draw(st.integers(0, 7)) == 7
    data = draw(arrays(dtypes=FILE_DTYPES))
    kind = draw(st.sampled_from(["tif"] * 6 + ["ometif", "png", "garbage", "empty", "truncated"]))
    out = draw(st.sampled_from([".tif"] * 5 + [".ome.tif", ".png", ".jpg", "", ".zarr", "INPUT", "DIR"]))
    if out == ".zarr" and draw(st.integers(0, 3)) < 3:      # a chunked run starts a dask cluster: rarer
        out = ".tif"
    opts = []
    for flag, values in OPTIONS.items():
        if draw(st.integers(0, 4 if flag in ("--scale", "--axial", "--axes", "--kernel") else 9)) == 0:
            v = draw(st.sampled_from(values))
            opts += [flag] if v is None else [flag, v]
    return data, kind, out, opts, draw(st.integers(0, 7)) == 7


def _write_input(path: Path, data, kind):
    import tifffile
    if kind == "garbage":
        path.write_bytes(b"II*\0" + bytes(range(256)) * 3)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "png":
        import imageio.v3 as iio
        if data.dtype in (np.uint8, np.uint16) and (data.ndim == 2 or (data.ndim == 3 and data.shape[-1] in (3, 4))) \
                and data.size:
            iio.imwrite(path, data, extension=".png")
        else:                                          # not a PNG-able array: a TIFF (named .png) then
            tifffile.imwrite(path, data)
    else:
        tifffile.imwrite(path, data, ome=kind == "ometif" or None)
        if kind == "truncated":
            raw = path.read_bytes()
            path.write_bytes(raw[: max(8, len(raw) // 2)])


def _tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def cli_case(data, kind, out, opts, real, tmp: Path):
    from napari_zssr.cli import main
    from napari_zssr.io import read_image
    from napari_zssr.io.ome_zarr import read_ome_zarr

    src = tmp / ("in.png" if kind == "png" else "in.tif")
    try:
        _write_input(src, data, kind)
    except Exception:  # noqa: BLE001 -- tifffile cannot write it: garbage instead
        src.write_bytes(b"MM\0*" + b"\xff" * 64)
    np.save(tmp / "KERNEL.npy", np.ones((3, 3)))
    opts = [str(tmp / "KERNEL.npy") if o == "KERNEL" else o for o in opts]
    output = {"INPUT": src, "DIR": tmp}.get(out, tmp / f"out{out}")
    before = _tree(tmp)
    argv = [str(src), "-o", str(output), "--preset", "fast", "--max-iters", "3", "--steps", "1",
            "--num-threads", "1", "--device", "cpu", "--no-ensemble", "--back-projection-iters", "1", "-q", *opts]
    err = io.StringIO()
    with engine(real), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    lines = err.getvalue().strip().splitlines()
    assert rc in (0, 2), f"exit {rc}: {err.getvalue()!r} for {argv}"
    after = _tree(tmp)
    assert after.get("in.png" if kind == "png" else "in.tif") == before.get(src.name), "the input was changed"
    _event(f"cli exit {rc}" + (f": {lines[0][13:].replace(str(tmp), '')[:48]}" if rc and lines else ""))
    if rc == 2:
        assert len(lines) == 1 and lines[0].startswith("zssr: error: "), (lines, argv)
        assert after == before, f"files written after an error: {set(after) - set(before)} for {argv}"
        return rc
    written = set(after) - set(before)
    assert written, f"exit 0 without an output for {argv}"
    assert all(line.startswith("zssr: ") for line in lines), lines
    res = read_ome_zarr(output) if str(output).endswith(".zarr") else read_image(output)
    params = res.description_params
    assert params and params["mode"] in ("lateral", "axial")
    f = params["factors"]
    inp = read_image(src)
    # per axis letter both files know: the input's size times its factor
    given = opts[len(opts) - 1 - opts[::-1].index("--axes") + 1] if "--axes" in opts else None
    sizes_in = dict(zip(given.upper() if given else inp.axes, inp.data.shape))
    for a, n in zip(res.axes, res.data.shape):
        if a in sizes_in and a in "ZYX":
            assert n == expected_shape((sizes_in[a],), a, f)[0], (res.axes, res.data.shape, inp.axes,
                                                                   inp.data.shape, f, argv)
    return rc


@settings(max_examples=N_CLI, **FUZZ)
@given(case=cli_cases())
def test_fuzz_cli(tmp_path_factory, case):
    cli_case(*case, tmp_path_factory.mktemp("cli"))


# --- the real engine, always ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype,shape,axes,kw", [
    ("uint16", (2, 9, 12), "CYX", dict(factors=(2.0,), out_dtype="input")),            # a constant channel
    ("float16", (5, 9, 12), "ZYX", dict(mode="axial", factors=(2.0,))),
    ("uint64", (9, 12), "YX", dict(factors=(1.5, 2.0), out_dtype="input")),
    ("int8", (8, 9, 9), "ZYX", dict(mode="axial", factors=(3.0,), axial_method="zssr")),
])
def test_real_engine_on_edge_inputs(dtype, shape, axes, kw):
    data = fill(np.random.default_rng(0), shape, dtype, "constant_channel" if axes == "CYX" else "random")
    res = api_case(data, axes, kw, None, real=True)
    assert res is not None


def test_what_the_fuzz_found():
    """Integer results at the top of a wide integer type came out at its bottom (float32(2**31 - 1)
    is 2**31, which wraps in the cast), and float values beyond float32 gave NaN results."""
    from napari_zssr.nd.intensity import cast_output, check_values

    for dt in ("int32", "int64", "uint32", "uint64"):
        info = np.iinfo(dt)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            out, clipped = cast_output(np.array([float(info.max), 1e30, float(info.min), -1e30, 7.4], np.float32), dt)
        assert out[0] > info.max // 2 and out[1] > info.max // 2, (dt, out)
        assert out[2] == info.min and out[3] == info.min and out[4] == 7 and clipped == 2
    with pytest.raises(ValueError, match="beyond"):
        check_values(np.array([4e307, 1.0]))
    with pytest.raises(ValueError, match="beyond"):
        check_values(np.array([3e38, -3e38], np.float32))


def test_a_truncated_tiff_is_refused_not_zero_filled(tmp_path, capsys):
    """tifffile read a TIFF cut in half as the whole stack with the missing planes zero, and logged
    its complaint on stderr before the result was written; now one line, exit 2, nothing written."""
    import tifffile

    from napari_zssr.cli import main
    from napari_zssr.io import ImageReadError, read_image
    from napari_zssr.io.lazy import open_lazy

    src = tmp_path / "t.tif"
    tifffile.imwrite(src, np.random.default_rng(1).integers(0, 128, (5, 9, 9)).astype(np.int8))
    raw = src.read_bytes()
    src.write_bytes(raw[: len(raw) // 2])
    for reader in (read_image, open_lazy):
        with pytest.raises(ImageReadError, match="damaged|truncated"):
            reader(src)
    assert main([str(src), "-o", str(tmp_path / "o.tif"), "--scale", "2", "-q"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zssr: error: ") and "damaged" in lines[0], lines
    assert not (tmp_path / "o.tif").exists()


def test_chunked_refusals_the_fuzz_found(tmp_path):
    """A chunked run read float values beyond float32 into its training planes (RuntimeWarnings on
    stderr, NaN training), and an RGB input failed with numpy's "axes don't match array"."""
    from _chunked_run import chunked_run

    big = np.full((4, 9, 9), 4.4e307)
    big[0, 0, 0] = -4.4e307
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="beyond"):
            chunked_run(big, tmp_path / "a.zarr", axes="ZYX", scale=2.0, config=tiny_config())
        with pytest.raises(ValueError, match="beyond"):
            chunked_run(big, tmp_path / "b.zarr", axes="ZYX", mode="axial", scale=2.0, config=tiny_config())
    with pytest.raises(ValueError, match="RGB"):
        chunked_run(np.zeros((9, 9, 3), np.uint8), tmp_path / "c.zarr", axes="YXS", scale=2.0)
    assert not any(tmp_path.iterdir())                         # nothing written

"""The `zssr` command: real runs on tiny images (10 iterations), every refusal, Ctrl-C, kernels."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from napari_zssr.engine.config import ZSSRConfig
import pytest
import tifffile

from napari_zssr.cli import main
from napari_zssr.cli.options import (OptionError, ZSSRArgumentParser, add_common_options, config_from_args,
                                     normalise_argv, parse_kernel, parse_z_fwhm)
from napari_zssr.cli.single import build_parser
from napari_zssr.engine.device import available_devices
from napari_zssr.io import read_image
from napari_zssr.runs import file as _run
from napari_zssr.nd import RunSpec

FAST = ["--max-iters", "10", "--no-ensemble", "--device", "cpu", "-q"]


def _pattern(shape, rng):
    """Blobs + noise: structured and not constant."""
    yy, xx = np.mgrid[: shape[-2], : shape[-1]]
    base = np.sin(yy / 2.5) * np.cos(xx / 3.0)
    return base + 0.2 * rng.random(shape)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    p = {}
    p["png"] = d / "gray8.png"
    img = _pattern((24, 24), rng)
    iio.imwrite(p["png"], np.uint8(255 * (img - img.min()) / np.ptp(img)))
    p["tif16"] = d / "gray16.tif"  # ImageJ, 0.5 um pixels
    tifffile.imwrite(p["tif16"], np.uint16(1000 + 3000 * _pattern((24, 24), rng)), imagej=True,
                     resolution=(2.0, 2.0), metadata={"unit": "um", "axes": "YX"})
    p["zstack"] = d / "zstack.tif"  # ImageJ ZYX, z step 1.5 um, xy 0.5 um -> axial factor 3
    tifffile.imwrite(p["zstack"], np.uint16(500 + 2000 * _pattern((5, 24, 24), rng)), imagej=True,
                     resolution=(2.0, 2.0), metadata={"spacing": 1.5, "unit": "um", "axes": "ZYX"})
    p["stack_nometa"] = d / "stack_plain.tif"
    tifffile.imwrite(p["stack_nometa"], np.uint8(200 * _pattern((5, 24, 24), rng)))
    p["nan"] = d / "nan.tif"
    a = _pattern((24, 24), rng).astype(np.float32)
    a[3, 4] = np.nan
    tifffile.imwrite(p["nan"], a)
    p["tiny"] = d / "tiny.tif"
    tifffile.imwrite(p["tiny"], np.arange(9, dtype=np.uint8).reshape(3, 3))
    p["empty"] = d / "empty.tif"
    p["empty"].write_bytes(b"")
    p["garbage"] = d / "garbage.tif"
    p["garbage"].write_bytes(b"II*\0" + os.urandom(200))
    p["bool"] = d / "mask.png"
    from PIL import Image
    Image.fromarray(np.eye(24, dtype=bool)).save(p["bool"])
    p["kernel"] = d / "kernel.npy"  # asymmetric blur
    k = np.zeros((7, 7))
    k[2:5, 1:6] = 1.0
    np.save(p["kernel"], k)
    p["kernel3d"] = d / "kernel3d.npy"
    np.save(p["kernel3d"], np.ones((3, 3, 3)))
    p["kernelnan"] = d / "kernelnan.npy"
    np.save(p["kernelnan"], np.full((3, 3), np.nan))
    return p


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("zssr: error: "), err
    assert "Traceback" not in err
    return lines[0]


def _no_leftovers(directory: Path):
    assert not [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


# --- real runs ---------------------------------------------------------------------------------

def test_png_x2_keeps_uint8_and_records_params(files, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert main([str(files["png"]), "-o", str(out), "--scale", "2", "--max-iters", "10", "--no-ensemble",
                 "--device", "cpu", "--seed", "3"]) == 0
    err = capsys.readouterr().err
    assert "value(s) clipped to the uint8 range" in err.splitlines()[-1]
    img = read_image(out)
    assert img.data.shape == (48, 48) and img.data.dtype == np.uint8 and img.axes == "YX"
    params = img.description_params
    assert params["factors"] == {"y": 2.0, "x": 2.0}
    assert params["out_dtype"] == "input" and params["mode"] == "lateral"
    assert params["config"]["max_iters"] == 10 and params["config"]["ensemble"] is False
    assert params["config"]["seed"] == 3
    assert params["cli"]["argv"][:2] == [str(files["png"]), "-o"] and params["cli"]["command"] == "zssr"
    _no_leftovers(tmp_path)


def test_tif16_anisotropic_float32_and_pixel_sizes(files, tmp_path):
    out = tmp_path / "out.tif"
    assert main([str(files["tif16"]), "-o", str(out), "--scale", "2,1.5", "--dtype", "float32",
                 "--no-back-projection", *FAST]) == 0
    img = read_image(out)
    assert img.data.shape == (48, 36) and img.data.dtype == np.float32
    assert img.flavour == "imagej" and img.unit == "um"
    assert img.pixel_sizes["y"] == pytest.approx(0.25, rel=1e-4)
    assert img.pixel_sizes["x"] == pytest.approx(0.5 / 1.5, rel=1e-4)
    p = img.description_params
    assert p["factors"] == {"y": 2.0, "x": 1.5} and p["out_dtype"] == "float32"
    assert p["config"]["back_projection_iters"] == 0


def test_axial_factor_from_metadata(files, tmp_path):
    out = tmp_path / "iso.tif"
    # --axial right before INPUT must not swallow it
    assert main(["--axial", str(files["zstack"]), "-o", str(out), "--z-fwhm", "1steps", *FAST]) == 0
    img = read_image(out)
    assert img.axes == "ZYX" and img.data.shape == (15, 24, 24) and img.data.dtype == np.uint16
    assert img.pixel_sizes == pytest.approx({"z": 0.5, "y": 0.5, "x": 0.5}, rel=1e-4)
    p = img.description_params
    assert p["mode"] == "axial" and p["factors"] == {"z": pytest.approx(3.0)}
    assert p["z_fwhm"] == 1.0 and p["z_fwhm_unit"] == "steps" and p["axial_method"] == "isotropic"


def test_npy_kernel_run(files, tmp_path):
    out = tmp_path / "k.tif"
    assert main([str(files["png"]), "-o", str(out), "--kernel", str(files["kernel"]),
                 "--no-back-projection", *FAST]) == 0
    img = read_image(out)
    assert img.data.shape == (48, 48) and img.data.dtype == np.uint8
    assert img.description_params["kernel"] == {"array_shape": [7, 7]}


def test_subprocess_module_entry(files, tmp_path):
    out = tmp_path / "sub.tif"
    env = dict(os.environ, OMP_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-m", "napari_zssr.cli", str(files["png"]), "-o", str(out),
                           "--scale", "2", "--max-iters", "10", "--no-ensemble", "--no-back-projection",
                           "--device", "cpu"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    assert "it/s" in proc.stderr or "s/it" in proc.stderr            # the tqdm bar
    assert proc.stderr.splitlines()[-1].split("\r")[-1].startswith(f"zssr: wrote {out}: 48x48 YX uint8, x2")
    img = read_image(out)
    assert img.data.shape == (48, 48) and img.flavour == "imagej"


# --- overwrite ---------------------------------------------------------------------------------

def test_existing_output_needs_overwrite(files, tmp_path, capsys):
    out = tmp_path / "out.png"
    old = b"not an image, but mine"
    out.write_bytes(old)
    assert main([str(files["png"]), "-o", str(out), *FAST]) == 2
    assert "file exists" in _one_error_line(capsys)
    assert out.read_bytes() == old
    assert main([str(files["png"]), "-o", str(out), "--overwrite", "--no-back-projection", *FAST]) == 0
    assert read_image(out).data.shape == (48, 48)
    _no_leftovers(tmp_path)


# --- refusals: status 2, one line, nothing written ---------------------------------------------

ERROR_CASES = {
    "missing input": (["{missing}"], "no such file"),
    "empty file": (["{empty}"], "not a TIFF or PNG"),
    "garbage tiff": (["{garbage}"], "cannot read TIFF"),
    "nan": (["{nan}"], "NaN"),
    "tiny": (["{tiny}"], "too small"),
    "bool mask": (["{bool}"], "bool"),
    "scale 1": (["{png}", "--scale", "1"], "--scale"),
    "scale below 1": (["{png}", "--scale", "0.5"], "--scale"),
    "scale absurd": (["{png}", "--scale", "17"], "too large"),
    "scale unparsable": (["{png}", "--scale", "two"], "--scale"),
    "scale triple": (["{png}", "--scale", "2,2,2"], "--scale"),
    "kernel spec": (["{png}", "--kernel", "gaussian:abc"], "--kernel"),
    "kernel negative": (["{png}", "--kernel", "gaussian:-1"], "--kernel"),
    "kernel unknown": (["{png}", "--kernel", "lanczos"], "unknown kernel"),
    "kernel missing file": (["{png}", "--kernel", "{missing_npy}"], "not found"),
    "kernel 3-D": (["{png}", "--kernel", "{kernel3d}"], "2-D"),
    "kernel NaN": (["{png}", "--kernel", "{kernelnan}"], "NaN"),
    "axes length": (["{png}", "--axes", "ZYX"], "--axes"),
    "axes letters": (["{png}", "--axes", "QX"], "--axes"),
    "float png": (["{png}", "--dtype", "float32"], ".tif"),
    "axial without z": (["{png}", "--axial"], "Z axis"),
    "axial without spacing": (["{stack_nometa}", "--axial"], "pixel sizes"),
    "axial pair": (["{zstack}", "--axial", "--scale", "2,2"], "one z factor"),
    "z-fwhm lateral": (["{png}", "--z-fwhm", "1um"], "--axial"),
    "z-fwhm unit": (["{zstack}", "--axial", "--z-fwhm", "2parsec"], "--z-fwhm"),
    "tile": (["{png}", "--tile", "4"], "--tile"),
    "unknown option": (["{png}", "--frobnicate"], "unrecognized"),
}


@pytest.mark.parametrize("case", list(ERROR_CASES), ids=list(ERROR_CASES))
def test_refusals(case, files, tmp_path, capsys):
    args, expected = ERROR_CASES[case]
    names = dict({k: str(v) for k, v in files.items()}, missing=str(tmp_path / "nope.tif"),
                 missing_npy=str(tmp_path / "nope.npy"))
    out = tmp_path / ("out.png" if "png" in case else "out.tif")
    argv = [a.format(**names) for a in args] + ["-o", str(out), *FAST]
    assert main(argv) == 2
    line = _one_error_line(capsys)
    assert expected in line, line
    assert not out.exists()
    _no_leftovers(tmp_path)


@pytest.mark.parametrize("output", ["out.jpg", "nodir/out.tif", "."])
def test_bad_output_paths(output, files, tmp_path, capsys):
    out = tmp_path / output
    assert main([str(files["png"]), "-o", str(out), *FAST]) == 2
    _one_error_line(capsys)
    assert not (tmp_path / "out.jpg").exists() and not (tmp_path / "nodir").exists()


def test_read_only_output_folder(files, tmp_path, capsys):
    from conftest import read_only_dirs

    before = files["tif16"].read_bytes()
    for folder in read_only_dirs(tmp_path):
        out = folder / "out.tif"
        assert main([str(files["tif16"]), "-o", str(out), *FAST]) == 2
        line = _one_error_line(capsys)
        assert "is not writable" in line and str(out) in line, line
        assert not out.exists()
    assert files["tif16"].read_bytes() == before


def test_missing_output_option(files, capsys):
    assert main([str(files["png"])]) == 2
    assert "-o/--output" in _one_error_line(capsys)


@pytest.mark.skipif("cuda" in available_devices(), reason="CUDA is available here")
def test_unavailable_device(files, tmp_path, capsys):
    out = tmp_path / "out.tif"
    assert main([str(files["png"]), "-o", str(out), "--max-iters", "10", "--device", "cuda"]) == 2
    assert "not available" in _one_error_line(capsys)
    assert not out.exists()


def test_help_exits_zero(capsys):
    assert main(["--help"]) == 0
    assert "--axial" in capsys.readouterr().out


# --- Ctrl-C ------------------------------------------------------------------------------------

def test_ctrl_c_cancels_cleanly(files, tmp_path, monkeypatch, capsys):
    real_run = _run.run

    def run_and_interrupt(prep, config, *, progress=None, cancel=None):
        sent = []

        def progress_then_sigint(ev):
            if not sent:
                sent.append(True)
                signal.raise_signal(signal.SIGINT)   # what Ctrl-C does: the CLI's handler sets `cancel`
            if progress:
                progress(ev)
        return real_run(prep, config, progress=progress_then_sigint, cancel=cancel)

    monkeypatch.setattr(_run, "run", run_and_interrupt)
    out = tmp_path / "out.tif"
    before = signal.getsignal(signal.SIGINT)
    assert main([str(files["png"]), "-o", str(out), "--max-iters", "500", "--no-ensemble", "--device", "cpu",
                 "-q"]) == 130
    assert "cancelled" in _one_error_line(capsys)
    assert not out.exists()
    _no_leftovers(tmp_path)
    assert signal.getsignal(signal.SIGINT) is before


# --- option parsing ----------------------------------------------------------------------------

def test_kernel_parsing(files):
    assert parse_kernel("bicubic") == "bicubic"
    assert parse_kernel("gaussian:1.2") == ("gaussian", 1.2, 1.2)
    assert parse_kernel("gaussian:1,2") == ("gaussian", 1.0, 2.0)
    k = parse_kernel(str(files["kernel"]))
    assert k.shape == (7, 7) and k.sum() == pytest.approx(1.0)


def test_z_fwhm_parsing():
    assert parse_z_fwhm("1.5um") == (1.5, "um")
    assert parse_z_fwhm("1.5 µm") == (1.5, "um")
    assert parse_z_fwhm("1steps") == (1.0, "steps")
    assert parse_z_fwhm("2") == (2.0, "steps")


def _parse(*argv):
    return config_from_args(build_parser().parse_args(normalise_argv(["in.tif", "-o", "o.tif", *argv])))


def test_options_map_to_config_and_spec():
    cfg, spec = _parse("--scale", "2,1.5", "--steps", "3", "--no-back-projection", "--no-ensemble",
                       "--noise-std", "0.01", "--max-iters", "77", "--seed", "5", "--preset", "paper",
                       "--per-plane", "--channels", "joint", "--tile", "64", "--dtype", "float32",
                       "--kernel", "gaussian:1,2", "--num-threads", "1")
    assert (cfg.n_steps, cfg.back_projection_iters, cfg.ensemble, cfg.noise_std, cfg.max_iters, cfg.seed,
            cfg.num_threads) == (3, 0, False, 0.01, 77, 5, 1)
    assert cfg.precision == "fp32" and cfg.init == "random"  # the paper preset
    assert isinstance(spec, RunSpec)
    assert (spec.mode, spec.factors, spec.kernel, spec.planes, spec.channels, spec.out_dtype, spec.tile) == (
        "lateral", (2.0, 1.5), ("gaussian", 1.0, 2.0), "per-plane", "joint", "float32", 64)
    assert _parse("--steps", "auto")[0].n_steps == 0 == _parse("--steps", "0")[0].n_steps   # the engine's auto
    for bad in ("-1", "two", "65"):
        with pytest.raises(OptionError, match="--steps"):
            _parse("--steps", bad)
    cfg, spec = _parse("--warm-start")
    # factors: from the pixel sizes, as in the widget; a file keeps the input's data type
    assert spec.planes == "warm-start" and spec.factors is None and spec.out_dtype == "input"
    assert cfg.max_iters == ZSSRConfig.from_preset("default").max_iters and cfg.ensemble is True
    assert cfg.init == "auto" and spec.init is None            # the preset decides unless --init says
    _, spec = _parse("--axial", "3", "--z-fwhm", "1.5um", "--axial-method", "zssr", "--fusion", "arithmetic")
    assert spec.mode == "axial" and spec.factors == (3.0,)
    assert (spec.z_fwhm, spec.z_fwhm_unit, spec.axial_method, spec.fusion) == (1.5, "um", "zssr", "arithmetic")
    _, spec = _parse("--axial", "--scale", "4")
    assert spec.factors == (4.0,) and spec.kernel is None
    _, spec = _parse("--axial")
    assert spec.factors is None
    with pytest.raises(OptionError):
        _parse("--axial", "3", "--scale", "2")
    with pytest.raises(OptionError):
        _parse("--axial", "--kernel", "gaussian:1")


def test_one_name_per_setting_with_old_spellings_as_aliases():
    """The options carry the config's / spec's names; the old spellings give the same values."""
    new = _parse("--factors", "3", "--n-steps", "2", "--back-projection-iters", "0", "--out-dtype", "float32",
                 "--planes", "warm-start", "--init", "random", "--num-threads", "2")
    old = _parse("--scale", "3", "--steps", "2", "--no-back-projection", "--dtype", "float32", "--warm-start",
                 "--init", "random", "--num-threads", "2")
    assert new[0] == old[0] and new[1].to_record() == old[1].to_record()
    assert new[0].back_projection_iters == 0 and new[0].num_threads == 2 and new[0].n_steps == 2
    assert new[1].init == "random" and new[1].planes == "warm-start"
    assert _parse("--back-projection-iters", "4")[0].back_projection_iters == 4
    with pytest.raises(OptionError, match="--init"):
        _parse("--init", "zeros")


def test_limits_come_from_the_spec():
    """The CLI refuses exactly what RunSpec refuses (one home for each limit)."""
    from napari_zssr.nd import spec as S
    with pytest.raises(OptionError, match="too large"):
        _parse("--factors", str(S.MAX_FACTOR + 1))
    assert _parse("--factors", str(S.MAX_FACTOR))[1].factors == (S.MAX_FACTOR,)
    with pytest.raises(OptionError, match="--tile"):
        _parse("--tile", str(S.MIN_TILE - 1))
    with pytest.raises(OptionError, match="--kernel"):
        _parse("--kernel", f"gaussian:{S.MAX_SIGMA + 1}")
    with pytest.raises(OptionError, match="too large"):
        _parse("--axial", str(S.MAX_FACTOR + 1))


@pytest.mark.parametrize("argv, flag", [(["--factors", "17"], "too large"), (["--tile", "4"], "--tile"),
                                        (["--kernel", "gaussian:31"], "--kernel"), (["--init", "zeros"], "--init")])
def test_batch_refuses_what_the_spec_refuses(argv, flag, tmp_path, capsys):
    """`zssr batch` builds the same RunSpec: the same limits, before any cluster starts."""
    assert main(["batch", str(tmp_path), "-o", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err
    assert flag in err and err.startswith("zssr batch: error:") and not (tmp_path / "out").exists()


def test_add_common_options_for_other_commands():
    # what `zssr batch` builds on: the same options on another parser
    p = ZSSRArgumentParser(prog="zssr batch")
    p.add_argument("inputs", nargs="+")
    add_common_options(p)
    args = p.parse_args(normalise_argv(["a.tif", "b.tif", "--axial", "--max-iters", "5"]))
    cfg, spec = config_from_args(args)
    assert args.inputs == ["a.tif", "b.tif"] and cfg.max_iters == 5 and spec.mode == "axial"
    assert normalise_argv(["--axial", "x.tif"]) == ["--axial", "auto", "x.tif"]
    assert normalise_argv(["--axial", "2.5", "x.tif"]) == ["--axial", "2.5", "x.tif"]

"""Each run setting is defined once (nd.settings): `zssr`, `zssr batch` and the widget take its
default, its limits and its help from that definition, and follow when it changes."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from napari_zssr.plugin import layer_job as lj
from napari_zssr.cli import batch as batch_cli
from napari_zssr.cli import chunked as chunked_cli
from napari_zssr.cli import single as single_cli
from napari_zssr.cli.options import OptionError, config_from_args, normalise_argv
from napari_zssr.engine.config import ZSSRConfig
from napari_zssr.nd import settings as S
from napari_zssr.nd.spec import RunSpec, kernel_record

ARGV = {S.CLI: ["in.tif", "-o", "out.tif"], S.BATCH: ["in.tif", "-o", "out"]}
COMMAND_LINES = (S.CLI, S.BATCH)


def _parser(front: str, name: str = ""):
    if front == S.BATCH:
        return batch_cli.build_parser()
    # the settings of a chunked run are options of `zssr IN -o OUT.zarr`
    return chunked_cli.build_parser() if name == "train_planes" else single_cli.build_parser()


def _parse(front: str, *argv: str, name: str = ""):
    args = _parser(front, name).parse_args(normalise_argv(ARGV[front] + list(argv)))
    return (*config_from_args(args), args)


def _option(front: str, name: str):
    s = S.setting(name)          # a switch may be named for what it turns off (--no-ensemble)
    return next(a for a in _parser(front, name)._actions
                if a.dest == name and (s.flag in a.option_strings or s.kind is bool))


def _limits(s):
    """(value, allowed) at and just beyond each limit of a numeric setting."""
    step = 1 if s.kind is int else 0.01
    cases = []
    if s.minimum is not None:
        cases += [(s.minimum, not s.above_minimum), (s.minimum - step, False)]
    if s.maximum is not None:
        cases += [(s.maximum, True), (s.maximum + step, False)]
    return cases


def _given(front: str, name: str, value, allowed: bool):
    """Give VALUE to the option NAME; it is refused (OptionError naming the option) or not."""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    flag = S.setting(name).flag
    if name == "factors" and value == 1.0:
        text = "1,2"                    # the engine's rule: at least one factor above 1
    argv = (["--axial", "2"] if name in AXIAL_ONLY else []) + [f"{flag}={text}"]
    if allowed:
        _parse(front, *argv, name=name)
    else:
        with pytest.raises(OptionError, match=flag):
            _parse(front, *argv, name=name)


AXIAL_ONLY = ("z_fwhm", "axial_method", "fusion")


@pytest.mark.parametrize("front", COMMAND_LINES)
@pytest.mark.parametrize("name", [s.name for s in S.SETTINGS.values()])
def test_every_setting_on_the_command_line(front, name):
    """Its option (where it has one) carries its help, choices and limits; not given, its default holds."""
    s = S.setting(name)
    if front in s.where and not (front == S.BATCH and name == "train_planes"):
        option = _option(front, name)
        assert s.describe() in option.help
        if s.choices and s.text is None:
            assert tuple(option.choices) == s.choices
        for value, allowed in _limits(s) if s.kind in (int, float) else ():
            _given(front, name, value, allowed)
    if front == S.BATCH and name == "train_planes":
        return                                             # no chunked runs in a batch
    cfg, spec, args = _parse(front, name=name)
    assert _command_line_value(name, cfg, spec, args) == _expected(s)


def _command_line_value(name, cfg, spec, args):
    if name == "kernel":
        return kernel_record(spec.kernel)                  # None is bicubic
    if name == "num_threads":
        return cfg.num_threads or 0                         # None: all cores, given as 0
    if name == "init":
        return cfg.init if spec.init is None else spec.init    # None: the preset's
    if name == "preset":
        return "default" if cfg == ZSSRConfig.from_preset("default") else cfg
    if name == "sigma":
        return S.setting("sigma").default                   # only in --kernel gaussian:SY,SX
    for holder in (spec, cfg, args):
        if hasattr(holder, name):
            return getattr(holder, name)
    raise AssertionError(f"{name} reaches neither the spec, the config nor the options")


def _expected(s, **where):
    if s.name == "out_dtype":
        return S.default_out_dtype(**(where or {"to_file": True}))
    return s.default_value()


@pytest.mark.parametrize("front", COMMAND_LINES)
def test_the_help_names_the_sigma_unit_the_engine_uses(front):
    """The engine blurs the high-resolution father (kernels.gaussian_kernel): sigma in output pixels."""
    assert "sigma in output pixels" in _option(front, "kernel").help
    assert "input pixels" not in _parser(front).format_help()


# --- change the definition: every front end follows -----------------------------------------------
CHANGED = {"tile": dict(minimum=32), "max_iters": dict(maximum=5000), "holdout_fraction": dict(maximum=0.3),
           "z_fwhm": dict(maximum=10.0), "factors": dict(maximum=8.0), "sigma": dict(maximum=5.0),
           "n_steps": dict(maximum=10), "noise_std": dict(maximum=0.2), "crop_size": dict(minimum=16),
           "train_planes": dict(minimum=4)}


@pytest.fixture
def changed(monkeypatch):
    for name, kw in CHANGED.items():
        monkeypatch.setitem(S.SETTINGS, name, dataclasses.replace(S.SETTINGS[name], **kw))


@pytest.mark.parametrize("front", COMMAND_LINES)
def test_the_command_lines_follow_a_changed_limit(changed, front):
    for name in CHANGED:
        s = S.setting(name)
        if front not in s.where or (front == S.BATCH and name == "train_planes"):
            continue
        for value, allowed in _limits(s):
            _given(front, name, value, allowed)
    _parse(front, "--kernel", "gaussian:5")
    with pytest.raises(OptionError, match="--kernel"):
        _parse(front, "--kernel", "gaussian:5.5")
    with pytest.raises(OptionError, match="too large"):
        _parse(front, "--axial", "9")
    with pytest.raises(OptionError, match="--z-fwhm"):
        _parse(front, "--axial", "--z-fwhm", "11steps")


def test_the_python_api_follows_a_changed_limit(changed):
    with pytest.raises(ValueError, match="tile"):
        RunSpec(tile=20)
    with pytest.raises(ValueError, match="too large"):
        RunSpec(factors=(9.0,))
    with pytest.raises(ValueError, match="max_iters"):
        S.check_config(ZSSRConfig(max_iters=6000))
    assert RunSpec(tile=32).tile == 32 and RunSpec(factors=(8.0,)).factors == (8.0,)


# --- the widget ----------------------------------------------------------------------------------
def _widget(make_napari_viewer_proxy):
    from napari_zssr.plugin.qt.widget import ZSSRWidget

    viewer = make_napari_viewer_proxy()
    viewer.add_image(np.zeros((32, 32), np.float32), name="img")       # square pixels, not RGB
    return ZSSRWidget(viewer)


FIELDS = {"factors": ("factor_y", "factor_x", "factor_z"), "sigma": ("sigma_y", "sigma_x"),
          "model": ("model_path",)}


def _fields(widget, name):
    return [getattr(widget, f) for f in FIELDS.get(name, (name,))]


@pytest.mark.gui
def test_the_widget_takes_every_setting_from_its_definition(make_napari_viewer_proxy):
    widget = _widget(make_napari_viewer_proxy)
    shown = [s for s in S.SETTINGS.values() if S.WIDGET in s.where]
    assert {s.name for s in S.SETTINGS.values()} - {s.name for s in shown} == {
        "tile", "back_projection_auto", "train_planes"}          # command line only
    for s in shown:
        for field in _fields(widget, s.name):
            assert field.tooltip == s.describe(), s.name
            if s.kind in (int, float):
                low = field.min - (field.step if s.above_minimum else 0)
                assert low == pytest.approx(s.minimum), s.name
                if s.maximum is not None:
                    assert field.max == pytest.approx(s.maximum), s.name
            if s.choices:
                assert tuple(field.choices) == s.choices, s.name
            if s.default not in (S.DERIVED, None):
                assert field.value == pytest.approx(s.default_value()) if s.kind is float \
                    else field.value == s.default_value(), s.name
    assert widget.out_dtype.value == S.default_out_dtype(rgb_layer=False)
    # the form untouched gives the engine knobs the command line gives without options
    spec, cfg = lj.form_to_run(widget.form_values())
    assert cfg == ZSSRConfig.from_preset("default") == _parse(S.CLI)[0]
    assert spec.factors == (2.0, 2.0) and spec.init == "auto" and spec.model is None


@pytest.mark.gui
def test_the_widget_follows_a_changed_limit(changed, make_napari_viewer_proxy):
    widget = _widget(make_napari_viewer_proxy)
    assert widget.max_iters.max == 5000 and widget.n_steps.max == 10 and widget.crop_size.min == 16
    assert widget.factor_y.max == widget.factor_z.max == 8.0 and widget.sigma_y.max == 5.0
    assert widget.z_fwhm.max == 10.0 and widget.holdout_fraction.max == pytest.approx(0.3)
    assert widget.noise_std.max == pytest.approx(0.2)
    for values, word in ((dict(tile=20), "tile"), (dict(max_iters=6000), "max_iters"),
                         (dict(holdout_fraction=0.4), "holdout_fraction"), (dict(factors={"y": 9.0, "x": 1.0}),
                                                                           "too large")):
        with pytest.raises(ValueError, match=word):
            lj.form_to_run(values)

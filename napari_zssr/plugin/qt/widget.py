"""The napari dock widget: a form, a Run/Cancel button, a progress line and a tiny loss plot.

It holds no algorithm code. Run turns the form into a RunSpec and a ZSSRConfig
(:func:`napari_zssr.plugin.layer_job.form_to_run`), captures the chosen layer as plain data
(:func:`~napari_zssr.plugin.layer_job.build_job`) and starts a :class:`napari_zssr.plugin.qt.worker.Run`;
back in the main thread (worker signals) it adds the layers from
:func:`~napari_zssr.plugin.layer_job.result_layer_data`. Every form field is named as the setting it
sets (RunSpec / ZSSRConfig field names).
"""
from __future__ import annotations

import logging
import os
from functools import partial
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, FloatSpinBox, LineEdit, SpinBox
from napari.layers import Image
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QEvent, Qt, QTimer
from qtpy.QtWidgets import QFileDialog, QLabel, QPushButton, QVBoxLayout, QWidget
from superqt import QCollapsible

from napari_zssr.plugin import layer_job as lj
from napari_zssr.plugin import save_network as savenet
from napari_zssr.engine.progress import Cancelled
from napari_zssr.nd import settings as S
from napari_zssr.quality.holdout import summary as holdout_summary

from .plot import LossPlot
from .worker import Run, ZSSRWorker, format_event

if TYPE_CHECKING:
    import napari

log = logging.getLogger(__name__)

POLL_MS = 100
RUN_TIP = "train on the image itself, then super-resolve it"


def number_field(name: str, label: str, step: Optional[float] = None, value=None, decimals: Optional[int] = None,
                 maximum: Optional[float] = None):
    """A spin box for the setting NAME: its kind, limits (a minimum the setting refuses is one step
    above it), tooltip and first value (the default preset's where it has one)."""
    s = S.setting(name)
    cls = SpinBox if s.kind is int else FloatSpinBox
    step = step or (1 if s.kind is int else 0.1)
    low = s.minimum + (step if s.above_minimum else 0)
    first = s.default_value() if value is None else value
    kw = dict(label=label, min=low, max=s.maximum if maximum is None else maximum, tooltip=s.describe())
    if cls is FloatSpinBox:
        kw["step"] = step
    field = cls(value=low if first is None else first, **kw)
    if decimals is not None:
        field.native.setDecimals(decimals)
    return field


def choice_field(name: str, label: str, texts: Sequence[str] = (), value=None):
    """A combo box of the setting NAME's choices (shown as TEXTS where given), its tooltip and first
    value (its default, or VALUE where the default depends on the layer)."""
    s = S.setting(name)
    choices = list(zip(texts, s.choices)) if texts else list(s.choices)
    return ComboBox(label=label, choices=choices, value=s.default_value() if value is None else value,
                    tooltip=s.describe())


def _on_widget_destroyed(state: dict, *_) -> None:
    state["alive"] = False
    if state.get("run") is not None:
        state["run"].cancel()


class ZSSRWidget(QWidget):
    """Zero-Shot Super-Resolution dock widget (opened from Plugins > napari-zssr)."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        super().__init__()
        self.viewer = napari_viewer
        self.last_error: Optional[str] = None
        self.last_result_layers: list = []
        self.last_result = self.last_job = None     # the last in-memory run, for "Save network…"
        self.last_event = None            # the latest progress event shown (main thread)
        self._run: Optional[Run] = None
        self._warned: set = set()
        # plain data, still usable after the Qt side is gone: when the widget is destroyed (dock
        # removed, viewer closed) a running job is cancelled and its result dropped
        self._alive = {"alive": True, "run": None}
        self.destroyed.connect(partial(_on_widget_destroyed, self._alive))
        self._build_form()

        # ---- run / progress
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip(RUN_TIP)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plot = LossPlot()
        self.save_button = QPushButton("Save network…")
        self.save_button.setToolTip("save the last run's network: .zssr (reuse with 'reuse model' or "
                                    "zssr --model) or .zip (a bioimage.io model package)")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(lambda *_: self.save_network())
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        for w in (self.form.native, self.advanced, self.run_button, self.status, self.plot, self.save_button):
            layout.addWidget(w)
        layout.addStretch(1)

        # ---- reactions
        self.image.changed.connect(self._on_layer_changed)
        self.mode.changed.connect(self._on_mode_changed)
        self.axes.changed.connect(self._on_axes_changed)
        self.kernel.changed.connect(self._update_visibility)
        self.preset.changed.connect(self._on_preset_changed)
        self.init.changed.connect(self._show_iterations)
        for field in (self.factor_y, self.factor_x, self.factor_z, self.out_dtype):
            field.changed.connect(self._update_visibility)
        self.run_button.clicked.connect(self._on_run_clicked)

        self.reset_choices()
        self._on_layer_changed()

    def _build_form(self) -> None:
        """The form (magicgui widgets; public attributes so tests and scripts can set them). Each
        field's range, tooltip and first value come from its setting (nd.settings)."""
        from napari_zssr.engine.config import ZSSRConfig
        from napari_zssr.engine.device import available_devices

        self._ZSSRConfig = ZSSRConfig
        # ---- the form
        self.image = ComboBox(label="image", choices=self._image_choices, nullable=False,
                              tooltip="image layer to super-resolve (captured when Run is pressed)")
        self.axes = LineEdit(label="axes", tooltip=(
            "one letter per dimension from TZCYXS (S = RGB samples); guessed from the layer's "
            "axis labels and dimensions - edit to override, e.g. CYX for a channel stack"))
        self.mode = choice_field("mode", "mode", ("lateral (xy)", "axial (z → isotropic)"))
        self.factor_y = number_field("factors", "factor y", step=0.25, value=2.0, decimals=3)
        self.factor_x = number_field("factors", "factor x", step=0.25, value=2.0, decimals=3)
        self.factor_z = number_field("factors", "factor z", step=0.25, value=2.0, decimals=3)
        self.kernel = choice_field("kernel", "kernel")
        self.sigma_y = number_field("sigma", "sigma y (px)", step=0.1)
        self.sigma_x = number_field("sigma", "sigma x (px)", step=0.1)
        self.z_fwhm = number_field("z_fwhm", "z FWHM", step=0.1, value=1.0)
        self.z_fwhm_unit = choice_field("z_fwhm_unit", "z FWHM unit", ("z steps", "layer units"))
        self.axial_method = choice_field("axial_method", "axial method", ("isotropic (learn from xy)", "ZSSR on xz/yz"))
        self.fusion = choice_field("fusion", "fusion")
        self.n_steps = number_field("n_steps", "gradual steps")
        self.back_projection_iters = number_field("back_projection_iters", "back-projection")
        self.noise_std = number_field("noise_std", "noise std", step=0.005, decimals=3)
        self.ensemble = CheckBox(text="self-ensemble (8 flips/rotations)", value=S.setting("ensemble").default_value(),
                                 tooltip=S.setting("ensemble").describe())
        self.planes = choice_field("planes", "planes")
        self.channels = choice_field("channels", "channels")
        self.out_dtype = choice_field("out_dtype", "output", ("float32", "same dtype as input"),
                                      value=S.default_out_dtype())
        self.preset = choice_field("preset", "preset")
        # shown only for a result too big for memory (lj.CHUNKED_OUTPUT_BYTES): it is written there
        # block by block and shown lazily; a cancelled run's store resumes when run again
        self.zarr_output = FileEdit(label="OME-Zarr output", mode="w", filter="*.zarr", value="",
                                    tooltip="the result is too big for memory: it is written block by block "
                                            "to this OME-Zarr store (*.zarr) and shown from there; a store "
                                            "left by a cancelled run is resumed")
        self.overwrite_output = CheckBox(text="replace an existing store", value=False,
                                         tooltip="replace a store at that path made by other settings")
        self.form = Container(widgets=[
            self.image, self.axes, self.mode, self.factor_y, self.factor_x, self.factor_z,
            self.kernel, self.sigma_y, self.sigma_x, self.z_fwhm, self.z_fwhm_unit,
            self.axial_method, self.fusion,
            self.n_steps, self.back_projection_iters, self.noise_std, self.ensemble,
            self.planes, self.channels, self.out_dtype, self.preset,
            self.zarr_output, self.overwrite_output,
        ])

        # ---- advanced
        self.max_iters = number_field("max_iters", "iterations")
        self.crop_size = number_field("crop_size", "crop")
        self.seed = number_field("seed", "seed")
        self.holdout_fraction = number_field("holdout_fraction", "held out", step=0.05)
        self.device = ComboBox(label="device", choices=["auto", *available_devices()],
                               value=S.setting("device").default, tooltip=S.setting("device").describe())
        # no limit in the setting; more threads than this machine's cores would only wait
        self.num_threads = number_field("num_threads", "CPU threads", maximum=max(1, os.cpu_count() or 1))
        self.model_path = FileEdit(label="reuse model", mode="r", filter="*.zssr *.safetensors *.zip", value="",
                                   tooltip=S.setting("model").describe())
        self.init = choice_field("init", "start from", ("automatic", "learned prior", "random (paper)"))
        self.advanced_form = Container(widgets=[self.max_iters, self.crop_size, self.seed, self.init, self.device,
                                                self.num_threads, self.holdout_fraction, self.model_path])
        self.advanced = QCollapsible("Advanced")
        self.advanced.addWidget(self.advanced_form.native)
        self._on_preset_changed()

    # ------------------------------------------------------------------------------ form logic
    def _image_choices(self, *_):
        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, Image)]

    def reset_choices(self, *_):
        """Refresh the layer list (napari calls this when layers are added, removed, renamed)."""
        if self._alive["alive"]:
            self.image.reset_choices()

    def _current_layer(self):
        return self.image.value

    def _layer_axes_guess(self, layer) -> str:
        try:
            return lj.layer_guess_axes(layer)
        except ValueError:
            return ""

    def current_axes(self) -> Optional[str]:
        """The validated axes (the field, else the guess), or None when they are invalid."""
        layer = self._current_layer()
        if layer is None:
            return None
        try:
            return lj.layer_axes_checked(layer, self.axes.value)
        except ValueError:
            return None

    def _on_layer_changed(self, *_):
        layer = self._current_layer()
        if layer is None:
            self.axes.value = ""
            self._update_visibility()
            return
        self.axes.value = self._layer_axes_guess(layer)
        self.out_dtype.value = S.default_out_dtype(rgb_layer=bool(layer.rgb))
        self._set_default_factors()
        self._update_visibility()

    def _on_axes_changed(self, *_):
        if self.current_axes() is not None:
            self._set_default_factors()
        self._update_visibility()

    def _on_mode_changed(self, *_):
        self._set_default_factors()
        self._update_visibility()

    def _set_default_factors(self):
        layer, axes = self._current_layer(), self.current_axes()
        if layer is None or axes is None:
            return
        try:
            f = lj.form_factors(self.mode.value, axes, lj.pixel_sizes_from_scale(axes, layer.scale))
        except ValueError:
            return
        if "z" in f:
            self.factor_z.value = f["z"]
        else:
            self.factor_y.value, self.factor_x.value = f["y"], f["x"]

    def _update_visibility(self, *_):
        axial = self.mode.value == "axial"
        gaussian = self.kernel.value == "gaussian"
        axes = self.current_axes() or ""
        self.factor_y.visible = self.factor_x.visible = not axial
        self.factor_z.visible = axial
        self.sigma_y.visible = self.sigma_x.visible = gaussian and not axial
        self.z_fwhm.visible = self.z_fwhm_unit.visible = gaussian and axial
        self.axial_method.visible = self.fusion.visible = axial
        self.planes.visible = ("T" in axes) or ("Z" in axes and not axial)
        self.channels.visible = "C" in axes
        self.zarr_output.visible = self.overwrite_output.visible = self.result_is_big()

    def result_is_big(self) -> bool:
        """Whether Run would write the result block by block to an OME-Zarr store."""
        layer = self._current_layer()
        if layer is None or self.current_axes() is None:
            return False
        data = lj.full_resolution(layer)
        return lj.wants_chunked(np.shape(data), self.mode.value, self.form_values()["factors"],
                                lj.output_itemsize(self.out_dtype.value, data.dtype), data.dtype)

    def _on_preset_changed(self, *_):
        """A preset sets every field whose default is the preset's (nd.settings)."""
        cfg = self._ZSSRConfig.from_preset(self.preset.value)
        for s in S.SETTINGS.values():
            if s.default == S.PRESET and S.WIDGET in s.where and s.name != "max_iters":
                getattr(self, s.name).value = getattr(cfg, s.name)
        self._show_iterations()

    def _show_iterations(self, *_):
        """The iterations field shows the preset's length for the chosen start (prior or random)."""
        cfg = self._ZSSRConfig.from_preset(self.preset.value)
        self.max_iters.value = cfg.prior_iters if self.init.value == "prior" else cfg.max_iters

    def form_values(self) -> dict:
        """The form by setting name (RunSpec / ZSSRConfig fields; see lj.form_to_run)."""
        axial = self.mode.value == "axial"
        return dict(
            mode=self.mode.value,
            factors={"z": self.factor_z.value} if axial else {"y": self.factor_y.value, "x": self.factor_x.value},
            kernel=self.kernel.value, sigma=(self.sigma_y.value, self.sigma_x.value),
            z_fwhm=self.z_fwhm.value, z_fwhm_unit=self.z_fwhm_unit.value,
            axial_method=self.axial_method.value, fusion=self.fusion.value,
            planes=self.planes.value, channels=self.channels.value, out_dtype=self.out_dtype.value,
            init=self.init.value, model=lj.chosen_path(self.model_path.value),
            preset=self.preset.value, n_steps=self.n_steps.value,
            back_projection_iters=self.back_projection_iters.value, noise_std=self.noise_std.value,
            ensemble=self.ensemble.value, crop_size=self.crop_size.value, holdout_fraction=self.holdout_fraction.value,
            # from the prior: the run's length whatever the start; automatic: a cap on the prior's
            **({"prior_iters": self.max_iters.value} if self.init.value == "prior" else {}),
            max_iters=self.max_iters.value,
            seed=self.seed.value, device=self.device.value, num_threads=self.num_threads.value or None,
        )

    # ------------------------------------------------------------------------------ run / cancel
    @property
    def running(self) -> bool:
        return self._run is not None

    @property
    def worker(self) -> Optional[ZSSRWorker]:
        return self._run.worker if self._run is not None else None

    def _on_run_clicked(self, *_):
        self.cancel() if self.running else self.run()

    def run(self) -> Optional[ZSSRWorker]:
        """Start a run on the chosen layer; returns the worker (None if nothing started)."""
        layer = self.image.value
        if self.running or layer is None:
            return None if self.running else self._error("choose an image layer first")
        try:
            spec, config = lj.form_to_run(self.form_values())
            job = lj.build_job(layer, spec, config, axes=self.axes.value.strip() or None,
                               output=lj.chosen_path(self.zarr_output.value), overwrite=self.overwrite_output.value)
        except (ValueError, TypeError) as exc:
            return self._error(str(exc))
        self.last_error, self.last_result_layers, self.last_event, self._warned = None, [], None, set()
        self.last_result = self.last_job = None
        self.save_button.setEnabled(False)
        self._run = self._alive["run"] = Run(job, returned=self._on_returned, errored=self._on_errored,
                                             warned=self._on_warned, finished=self._on_finished)
        self.plot.clear()
        where = f", block by block into {job.output}" if job.chunked else ""
        self.status.setText(f"starting on {job.source.name!r} ({job.source.axes}, {job.mode}{where}) …")
        self._set_running(True)
        self._timer.start()
        self._run.start()
        return self._run.worker

    def cancel(self) -> None:
        """Ask the running job to stop (takes effect at the engine's next iteration)."""
        if self.running:
            self._run.cancel()
            self.run_button.setText("Cancelling…")
            self.run_button.setEnabled(False)
            self.status.setText("cancelling …")

    def _set_running(self, running: bool) -> None:
        self.run_button.setText("Cancel" if running else "Run")
        self.run_button.setToolTip("stop the run; nothing is added" if running else RUN_TIP)
        self.run_button.setEnabled(True)
        self.form.enabled = self.advanced_form.enabled = not running

    def changeEvent(self, event):  # noqa: N802 - Qt name
        """Removed from its dock (napari un-parents the widget): stop a running job."""
        if event.type() == QEvent.Type.ParentChange and self.parent() is None and self.running:
            self.cancel()
        super().changeEvent(event)

    # ------------------------------------------------------------------------------ main-thread slots
    def _poll(self):
        run = self._run
        if not self._alive["alive"] or run is None:
            return
        events = run.inbox.drain()
        for ev in events:
            if (getattr(ev, "stage", "") or "").startswith("train"):   # gradual SR: "train 2/4"
                rec = getattr(ev, "rec_error", None)
                if rec is not None and (not self.plot.values or rec != self.plot.values[-1]):
                    self.plot.add(rec)
                if getattr(ev, "loss", None) is not None:
                    self.plot.add_loss(ev.loss)
        if events and not run.cancelled:
            self.last_event = events[-1]
            self.status.setText(format_event(events[-1]))
            run.advance(events[-1])
        elif events:
            self.last_event = events[-1]

    def _on_returned(self, result):
        run = self._run   # read first: napari's progress widgets may process events re-entrantly
        if not self._alive["alive"] or result is None or run is None or run.cancelled:
            return
        # progress the worker sent last (e.g. its "done") is shown now, not by a later timer tick
        # that would overwrite the result's line below
        self._poll()
        try:
            tuples = lj.result_layer_data(run.job, result)
            self.last_result_layers = [self.viewer.add_image(data, **kwargs) for data, kwargs, _ in tuples]
            msg = f"done in {run.seconds():.1f} s → " + ", ".join(repr(t[1]["name"]) for t in tuples)
            if run.job.chunked:
                msg += f" (shown from {run.job.output}; {result.blocks} blocks, {result.skipped} resumed)"
            if int(getattr(result, "clipped", 0) or 0):
                msg += f" ({result.clipped} values clipped to the {np.dtype(result.data.dtype).name} range)"
            quality, worse = holdout_summary(getattr(result, "params", {}) or {})
            if quality:                                         # the held-out estimate, in the status
                msg += f"; {quality}"
            self.status.setText(msg)
            for notice in getattr(result, "notices", []):      # e.g. a constant channel
                show_info(f"ZSSR: {notice}")
            if worse:
                show_warning(f"ZSSR: {worse}")
            if not run.job.chunked and savenet.can_save(result) is None:
                self.last_result, self.last_job = result, run.job
                self.save_button.setEnabled(True)
        except Exception as exc:  # noqa: BLE001 - one line to the user, details to the log
            log.debug("adding the ZSSR result failed", exc_info=True)
            self._error(f"could not add the result: {exc}")

    def _on_errored(self, exc):
        if isinstance(exc, Cancelled):
            return
        log.debug("ZSSR run failed", exc_info=exc)
        if self._alive["alive"]:
            self._error(f"ZSSR failed: {exc}")

    def _on_warned(self, warning_args):
        """Warnings raised in the worker thread: each distinct message once per run."""
        message = str(warning_args[0]) if warning_args else ""
        if message and message not in self._warned and self._alive["alive"]:
            self._warned.add(message)
            show_warning(f"ZSSR: {message}")

    def _on_finished(self):
        run, self._run, self._alive["run"] = self._run, None, None
        if self._alive["alive"]:
            self._timer.stop()
            if run is not None and run.cancelled:
                self.status.setText("cancelled - nothing was added" + (
                    f"; {run.job.output} keeps the finished blocks: Run again resumes" if run.job.chunked else ""))
            self._set_running(False)
        if run is not None:
            run.close()

    def save_network(self, path: Optional[str] = None):
        """Save the last run's network; without a path, ask for one (.zssr or .zip). Returns the path."""
        why = savenet.can_save(self.last_result)
        if why:
            return self._error(why)
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save network", "", savenet.FILTERS)
            if not path:
                return None
            overwrite = True                # the dialog asked before replacing a file
        else:
            overwrite = False
        try:
            out = savenet.save_network(self.last_result, self.last_job, path, overwrite=overwrite)
        except Exception as exc:  # noqa: BLE001 - one line to the user
            log.debug("saving the network failed", exc_info=True)
            return self._error(f"could not save the network: {str(exc).splitlines()[0] if str(exc) else exc}")
        kind = " (a bioimage.io package)" if out.suffix == ".zip" else ""
        self.status.setText(f"saved the network to {out}{kind}")
        return out

    def _error(self, message: str) -> None:
        self.last_error = message
        try:
            self.status.setText(message)
        except RuntimeError:  # the Qt side is gone
            pass
        show_error(message)


__all__ = ["ZSSRWidget", "ZSSRWorker", "format_event"]

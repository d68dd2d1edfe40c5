"""The napari dock widget: a form, a Run/Cancel button, a progress line and a tiny loss plot.

It holds no algorithm code.  Run captures the chosen layer as plain data
(:func:`napari_zssr._layer_job.build_job`), runs :func:`napari_zssr._layer_job.run_job` in a
napari ``thread_worker`` and, back in the main thread (worker signals), adds the layers from
:func:`napari_zssr._layer_job.result_layer_data`.  Progress events from the engine go into a
thread-safe inbox that a 10 Hz timer in the main thread drains; cancelling sets a
``threading.Event`` that the engine checks at every iteration.
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from functools import partial
from typing import TYPE_CHECKING, Optional

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, FloatSpinBox, LineEdit, SpinBox
from napari.layers import Image
from napari.qt.threading import FunctionWorker, create_worker
from napari.utils import progress as napari_progress
from napari.utils.notifications import show_error, show_warning
from qtpy.QtCore import QEvent, QPointF, Qt, QTimer
from qtpy.QtGui import QColor, QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget
from superqt import QCollapsible

from napari_zssr import _layer_job as lj
from napari_zssr.engine.progress import Cancelled

if TYPE_CHECKING:
    import napari

log = logging.getLogger(__name__)

PROGRESS_TICKS = 1000
POLL_MS = 100


# ------------------------------------------------------------------------------- worker plumbing
class ZSSRWorker(FunctionWorker):
    """A FunctionWorker whose ``quit()`` (called by napari when the viewer closes) cancels the run."""

    cancel_event: Optional[threading.Event] = None

    def quit(self) -> None:  # noqa: A003 - napari's name
        if self.cancel_event is not None:
            self.cancel_event.set()
        super().quit()


def _work(job, inbox, cancel):
    """Runs in the worker thread: plain data in, NDResult (or None when cancelled) out."""
    try:
        return lj.run_job(job, progress=inbox.put, cancel=cancel)
    except Cancelled:
        return None


def _close_progress(holder: dict, *_) -> None:
    """Close a run's napari progress bar once, from whichever slot gets there first."""
    pbar = holder.pop("pbar", None)
    if pbar is not None:
        pbar.close()


def _on_widget_destroyed(state: dict, *_) -> None:
    state["alive"] = False
    if state.get("cancel") is not None:
        state["cancel"].set()


class _Inbox:
    """Progress events from the worker thread, drained by the main thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._events = []

    def put(self, event) -> None:
        with self._lock:
            self._events.append(event)

    def drain(self) -> list:
        with self._lock:
            events, self._events = self._events, []
        return events


def _fmt_eta(seconds) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def format_event(ev) -> str:
    """One line for the status label: stage, iteration, loss, lr, job and ETA."""
    parts = [str(getattr(ev, "stage", "") or "")]
    it, total = getattr(ev, "iteration", None), getattr(ev, "total", None)
    if it:
        parts.append(f"it {it}/{total}" if total else f"it {it}")
    if getattr(ev, "loss", None) is not None:
        parts.append(f"loss {ev.loss:.4g}")
    if getattr(ev, "lr", None) is not None:
        parts.append(f"lr {ev.lr:.1e}")
    if getattr(ev, "n_jobs", 1) and ev.n_jobs > 1:
        parts.append(f"job {ev.job + 1}/{ev.n_jobs}")
    if getattr(ev, "eta_s", None) is not None:
        parts.append(f"ETA {_fmt_eta(ev.eta_s)}")
    msg = getattr(ev, "message", "")
    if msg:
        parts.append(msg)
    return " · ".join(p for p in parts if p)


class LossPlot(QWidget):
    """Sparklines of the training loss (grey) and the reconstruction error (blue), log scale.

    Each series is scaled to its own range (they differ in magnitude); drawn in the main thread.
    """

    def __init__(self, parent=None, max_points: int = 400):
        super().__init__(parent)
        self.values: list = []          # reconstruction error (the engine's test, every few iterations)
        self.losses: list = []          # training loss (every progress event)
        self.max_points = max_points
        self.setMinimumHeight(48)
        self.setMaximumHeight(64)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("training loss (grey) and reconstruction error of the downscaled input (blue), log scale")

    def clear(self) -> None:
        self.values, self.losses = [], []
        self.update()

    def _append(self, series: list, value) -> None:
        if value is None or not math.isfinite(value) or value <= 0:
            return
        series.append(float(value))
        if len(series) > self.max_points:
            del series[: len(series) - self.max_points]
        self.update()

    def add(self, rec_error: float) -> None:
        self._append(self.values, rec_error)

    def add_loss(self, loss: float) -> None:
        self._append(self.losses, loss)

    def _line(self, p: QPainter, series: list, w: int, h: int) -> None:
        if len(series) < 2:
            return
        logs = np.log10(np.asarray(series))
        lo, hi = float(logs.min()), float(logs.max())
        span = hi - lo if hi > lo else 1.0
        n = len(logs)
        p.drawPolyline(QPolygonF([QPointF(3 + (w - 6) * i / (n - 1), 16 + (h - 19) * (1 - (v - lo) / span))
                                  for i, v in enumerate(logs)]))

    def paintEvent(self, event):  # noqa: N802 - Qt name
        p = QPainter(self)
        try:
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            w, h = self.width(), self.height()
            p.setPen(QPen(QColor(128, 128, 128, 90)))
            p.drawRect(0, 0, w - 1, h - 1)
            p.setPen(QPen(QColor(150, 150, 150), 1.0))
            self._line(p, self.losses, w, h)
            p.setPen(QPen(QColor(90, 170, 255), 1.8))
            self._line(p, self.values, w, h)
            text = []
            if self.losses:
                text.append(f"loss {self.losses[-1]:.3g}")
            if self.values:
                text.append(f"rec. error {self.values[-1]:.3g}")
            p.setPen(QPen(QColor(160, 160, 160)))
            p.drawText(6, 13, " · ".join(text) if text else "training loss / reconstruction error")
        finally:
            p.end()


# ------------------------------------------------------------------------------------ the widget
class ZSSRWidget(QWidget):
    """Zero-Shot Super-Resolution dock widget (opened from Plugins > napari-zssr)."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        super().__init__()
        self.viewer = napari_viewer
        self.worker: Optional[ZSSRWorker] = None
        self.last_error: Optional[str] = None
        self.last_result_layers: list = []
        self.last_event = None            # the latest progress event shown (main thread)
        self._job = None
        self._cancel_event: Optional[threading.Event] = None
        self._inbox: Optional[_Inbox] = None
        self._pbar = None
        self._pbar_holder: dict = {}
        self._pbar_n = 0
        self._t0 = 0.0
        self._stage = ""
        self._warned: set = set()
        # plain data, still usable after the Qt side is gone: when the widget is destroyed (dock
        # removed, viewer closed) a running job is cancelled and its result dropped
        self._alive = {"alive": True, "cancel": None}
        self.destroyed.connect(partial(_on_widget_destroyed, self._alive))

        from napari_zssr.engine.config import PRESETS, ZSSRConfig
        from napari_zssr.engine.device import available_devices

        self._ZSSRConfig = ZSSRConfig
        cfg = ZSSRConfig.from_preset("default")

        # ---- the form (magicgui widgets; public attributes so tests and scripts can set them)
        self.image = ComboBox(label="image", choices=self._image_choices, nullable=False,
                              tooltip="image layer to super-resolve (captured when Run is pressed)")
        self.axes = LineEdit(label="axes", tooltip=(
            "one letter per dimension from TZCYXS (S = RGB samples); guessed from the layer's "
            "axis labels and dimensions - edit to override, e.g. CYX for a channel stack"))
        self.mode = ComboBox(label="mode", choices=[("lateral (xy)", "lateral"), ("axial (z → isotropic)", "axial")],
                             tooltip="lateral: sharpen / upsample y and x; axial: upsample z towards isotropic voxels")
        self.factor_y = FloatSpinBox(label="factor y", min=1.0, max=16.0, step=0.25, value=2.0)
        self.factor_x = FloatSpinBox(label="factor x", min=1.0, max=16.0, step=0.25, value=2.0)
        self.factor_z = FloatSpinBox(label="factor z", min=1.0, max=32.0, step=0.25, value=2.0,
                                     tooltip="z spacing / xy spacing gives cubic voxels")
        for f in (self.factor_y, self.factor_x, self.factor_z):
            f.native.setDecimals(3)
        self.kernel = ComboBox(label="kernel", choices=list(lj.KERNELS),
                               tooltip="downscaling kernel: bicubic, or a Gaussian PSF (lateral: sigma in "
                                       "pixels; axial: the z slice profile FWHM)")
        self.sigma_y = FloatSpinBox(label="sigma y (px)", min=0.1, max=10.0, step=0.1, value=1.0)
        self.sigma_x = FloatSpinBox(label="sigma x (px)", min=0.1, max=10.0, step=0.1, value=1.0)
        self.z_fwhm = FloatSpinBox(label="z FWHM", min=0.1, max=100.0, step=0.1, value=1.0,
                                   tooltip="full width at half maximum of the axial PSF / slice profile")
        self.z_fwhm_unit = ComboBox(label="z FWHM unit", choices=[("z steps", "steps"), ("layer units", "um")])
        self.axial_method = ComboBox(
            label="axial method",
            choices=[("isotropic (learn from xy)", "isotropic"), ("ZSSR on xz/yz", "zssr")],
            tooltip="isotropic: train on xy planes degraded like z, apply to xz and yz slices; "
                    "ZSSR: learn from the xz/yz slices and their own downscaled copies")
        self.fusion = ComboBox(label="fusion", choices=list(lj.FUSIONS),
                               tooltip="how the xz and yz results are combined")
        self.n_steps = SpinBox(label="gradual steps", min=0, max=64, value=cfg.n_steps,
                               tooltip="reach the factor in this many gradual increases, which share the "
                                       "iterations (1 = one jump; 0 = auto: x2 in 4 steps, x4 in 24)")
        self.back_projection = SpinBox(label="back-projection", min=0, max=50, value=cfg.back_projection_iters,
                                       tooltip="iterations of back-projection (0 = off)")
        self.noise = FloatSpinBox(label="noise std", min=0.0, max=0.5, step=0.005, value=cfg.noise_std,
                                  tooltip="noise added to the training inputs (for noisy images)")
        self.noise.native.setDecimals(3)
        self.ensemble = CheckBox(text="self-ensemble (8 flips/rotations)", value=cfg.ensemble)
        self.planes = ComboBox(label="planes", choices=list(lj.PLANES),
                               tooltip="stacks / time series: one model shared by all planes, one per plane, "
                                       "or each plane warm-started from the previous one")
        self.channels = ComboBox(label="channels", choices=list(lj.CHANNEL_MODES),
                                 tooltip="independent: one model per channel; joint: all channels together")
        self.out_dtype = ComboBox(label="output", choices=[("float32", None), ("same dtype as input", "input")])
        self.preset = ComboBox(label="preset", choices=list(PRESETS), value="default" if "default" in PRESETS else None)
        self.form = Container(widgets=[
            self.image, self.axes, self.mode, self.factor_y, self.factor_x, self.factor_z,
            self.kernel, self.sigma_y, self.sigma_x, self.z_fwhm, self.z_fwhm_unit,
            self.axial_method, self.fusion,
            self.n_steps, self.back_projection, self.noise, self.ensemble,
            self.planes, self.channels, self.out_dtype, self.preset,
        ])

        # ---- advanced
        self.max_iters = SpinBox(label="iterations", min=1, max=1_000_000, value=cfg.max_iters,
                                 tooltip="training iterations per model (a gradual run past x2 trains up to 3x as many)")
        self.crop_size = SpinBox(label="crop", min=8, max=4096, value=cfg.crop_size,
                                 tooltip="training crop edge (pixels)")
        self.seed = SpinBox(label="seed", min=0, max=2**31 - 1, value=cfg.seed)
        devices = list(available_devices())
        self.device = ComboBox(label="device", choices=devices, value=devices[0],
                               tooltip="compute devices available here")
        self.threads = SpinBox(label="CPU threads", min=0, max=max(1, os.cpu_count() or 1), value=0,
                               tooltip="threads for computing on the CPU; 0 = all cores")
        self.model_path = FileEdit(label="reuse model", mode="r", filter="*.zssr *.safetensors", value="",
                                   tooltip="apply a network saved with `zssr --save-model` instead of training")
        self.advanced_form = Container(widgets=[self.max_iters, self.crop_size, self.seed, self.device,
                                                self.threads, self.model_path])
        self.advanced = QCollapsible("Advanced")
        self.advanced.addWidget(self.advanced_form.native)

        # ---- run / progress
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("train on the image itself, then super-resolve it")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plot = LossPlot()
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.form.native)
        layout.addWidget(self.advanced)
        layout.addWidget(self.run_button)
        layout.addWidget(self.status)
        layout.addWidget(self.plot)
        layout.addStretch(1)

        # ---- reactions
        self.image.changed.connect(self._on_layer_changed)
        self.mode.changed.connect(self._on_mode_changed)
        self.axes.changed.connect(self._on_axes_changed)
        self.kernel.changed.connect(self._update_visibility)
        self.preset.changed.connect(self._on_preset_changed)
        self.run_button.clicked.connect(self._on_run_clicked)

        self.reset_choices()
        self._on_layer_changed()

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
            return lj.guess_axes(layer.ndim, bool(layer.rgb), tuple(layer.axis_labels))
        except ValueError:
            return ""

    def current_axes(self) -> Optional[str]:
        """The validated axes (the field, else the guess), or None when they are invalid."""
        layer = self._current_layer()
        if layer is None:
            return None
        text = self.axes.value.strip() or self._layer_axes_guess(layer)
        try:
            return lj.validate_axes(text, layer.ndim + (1 if layer.rgb else 0), bool(layer.rgb))
        except ValueError:
            return None

    def _on_layer_changed(self, *_):
        layer = self._current_layer()
        if layer is None:
            self.axes.value = ""
            self._update_visibility()
            return
        self.axes.value = self._layer_axes_guess(layer)
        self.out_dtype.value = "input" if layer.rgb else None
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
            f = lj.default_factors(self.mode.value, axes, lj.pixel_sizes_from_scale(axes, layer.scale))
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

    def _on_preset_changed(self, *_):
        cfg = self._ZSSRConfig.from_preset(self.preset.value)
        self.n_steps.value = cfg.n_steps
        self.back_projection.value = cfg.back_projection_iters
        self.noise.value = cfg.noise_std
        self.ensemble.value = cfg.ensemble
        self.max_iters.value = cfg.max_iters
        self.crop_size.value = cfg.crop_size

    def job_kwargs(self) -> dict:
        """The form as keyword arguments of :func:`napari_zssr._layer_job.build_job`."""
        axial = self.mode.value == "axial"
        factors = {"z": self.factor_z.value} if axial else {"y": self.factor_y.value, "x": self.factor_x.value}
        return dict(
            axes=self.axes.value.strip() or None,
            mode=self.mode.value,
            factors=factors,
            kernel=self.kernel.value,
            sigma=(self.sigma_y.value, self.sigma_x.value),
            z_fwhm=self.z_fwhm.value,
            z_fwhm_unit=self.z_fwhm_unit.value,
            axial_method=self.axial_method.value,
            fusion=self.fusion.value,
            planes=self.planes.value,
            channels=self.channels.value,
            out_dtype=self.out_dtype.value,
            preset=self.preset.value,
            n_steps=self.n_steps.value,
            back_projection_iters=self.back_projection.value,
            noise_std=self.noise.value,
            ensemble=self.ensemble.value,
            max_iters=self.max_iters.value,
            crop_size=self.crop_size.value,
            seed=self.seed.value,
            device=self.device.value,
            num_threads=self.threads.value or None,
            model=self._model_value(),
        )

    def _model_value(self):
        path = str(self.model_path.value or "").strip()
        return path if path and path != "." else None

    # ------------------------------------------------------------------------------ run / cancel
    @property
    def running(self) -> bool:
        return self.worker is not None

    def _on_run_clicked(self, *_):
        if self.running:
            self.cancel()
        else:
            self.run()

    def run(self) -> Optional[ZSSRWorker]:
        """Start a run on the chosen layer; returns the worker (None if nothing started)."""
        if self.running:
            return None
        layer = self._current_layer()
        if layer is None:
            self._error("choose an image layer first")
            return None
        try:
            job = lj.build_job(layer, **self.job_kwargs())
        except (ValueError, TypeError) as exc:
            self._error(str(exc))
            return None

        self._job = job
        self.last_error = None
        self.last_result_layers = []
        self.last_event = None
        self._cancel_event = threading.Event()
        self._alive["cancel"] = self._cancel_event
        self._inbox = _Inbox()
        self._warned = set()
        worker = create_worker(
            _work, job, self._inbox, self._cancel_event,
            _start_thread=False, _worker_class=ZSSRWorker, _ignore_errors=True,
        )
        worker.cancel_event = self._cancel_event
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.warned.connect(self._on_warned)
        worker.finished.connect(self._on_finished)
        self.worker = worker

        self._pbar = napari_progress(total=PROGRESS_TICKS, desc=f"ZSSR {job.source.name}")
        self._pbar_holder = {"pbar": self._pbar}
        # closed by _on_finished, or by this if the widget is gone by then (whichever comes first)
        worker.finished.connect(partial(_close_progress, self._pbar_holder))
        self._pbar_n = 0
        self._stage = ""
        self._t0 = time.monotonic()
        self.plot.clear()
        self.status.setText(f"starting on {job.source.name!r} ({job.source.axes}, {job.mode}) …")
        self.run_button.setText("Cancel")
        self.run_button.setToolTip("stop the run; nothing is added")
        self.form.enabled = False
        self.advanced_form.enabled = False
        self._timer.start()
        worker.start()
        return worker

    def cancel(self) -> None:
        """Ask the running job to stop (takes effect at the engine's next iteration)."""
        if self._cancel_event is not None and self.running:
            self._cancel_event.set()
            self.run_button.setText("Cancelling…")
            self.run_button.setEnabled(False)
            self.status.setText("cancelling …")

    def changeEvent(self, event):  # noqa: N802 - Qt name
        """Removed from its dock (napari un-parents the widget): stop a running job."""
        if event.type() == QEvent.Type.ParentChange and self.parent() is None and self.running:
            self.cancel()
        super().changeEvent(event)

    # ------------------------------------------------------------------------------ main-thread slots
    def _poll(self):
        if not self._alive["alive"] or self._inbox is None:
            return
        events = self._inbox.drain()
        if not events:
            return
        for ev in events:
            if not (getattr(ev, "stage", "") or "").startswith("train"):   # gradual SR: "train 2/4"
                continue
            rec = getattr(ev, "rec_error", None)
            if rec is not None and (not self.plot.values or rec != self.plot.values[-1]):
                self.plot.add(rec)
            if getattr(ev, "loss", None) is not None:
                self.plot.add_loss(ev.loss)
        last = events[-1]
        self.last_event = last
        if self._cancel_event is not None and self._cancel_event.is_set():
            return
        self.status.setText(format_event(last))
        # napari's progress widgets may process events while updating, so the run can finish
        # (and _on_finished drop the bar) in the middle of this: work on a local reference
        pbar = self._pbar
        if pbar is None:
            return
        stage = getattr(last, "stage", "")
        if stage and stage != self._stage:
            self._stage = stage
            pbar.set_description(f"ZSSR {stage}")
        if self._pbar is not pbar:
            return
        frac = getattr(last, "fraction", None)
        if frac is not None and math.isfinite(frac):
            n = int(max(0.0, min(1.0, frac)) * PROGRESS_TICKS)
            if n > self._pbar_n:
                self._pbar_n, step = n, n - self._pbar_n
                pbar.update(step)

    def _on_returned(self, result):
        if not self._alive["alive"]:
            return
        job = self._job   # read first: napari's progress widgets may process events re-entrantly
        if result is None or (self._cancel_event is not None and self._cancel_event.is_set()):
            return
        try:
            tuples = lj.result_layer_data(job, result)
            added = []
            for data, kwargs, _ in tuples:
                added.append(self.viewer.add_image(data, **kwargs))
            self.last_result_layers = added
            msg = f"done in {time.monotonic() - self._t0:.1f} s → " + ", ".join(repr(t[1]["name"]) for t in tuples)
            clipped = int(getattr(result, "clipped", 0) or 0)
            if clipped:
                msg += f" ({clipped} values clipped to the {np.dtype(result.data.dtype).name} range)"
            self.status.setText(msg)
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
        if not message or message in self._warned or not self._alive["alive"]:
            return
        self._warned.add(message)
        show_warning(f"ZSSR: {message}")

    def _on_finished(self):
        if self._alive["alive"]:
            self._timer.stop()
            if self._inbox is not None:
                self._inbox.drain()
            cancelled = self._cancel_event is not None and self._cancel_event.is_set()
            if cancelled:
                self.status.setText("cancelled - nothing was added")
            self.run_button.setText("Run")
            self.run_button.setToolTip("train on the image itself, then super-resolve it")
            self.run_button.setEnabled(True)
            self.form.enabled = True
            self.advanced_form.enabled = True
        _close_progress(self._pbar_holder)
        self._pbar = None
        self._inbox = None
        self._job = None
        self.worker = None

    def _error(self, message: str) -> None:
        self.last_error = message
        try:
            self.status.setText(message)
        except RuntimeError:  # the Qt side is gone
            pass
        show_error(message)


__all__ = ["ZSSRWidget", "ZSSRWorker", "format_event"]

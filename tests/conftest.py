"""Shared fixtures and markers.

Markers (registered in pyproject.toml), both set here: `gui` on every test that opens a napari viewer
or uses qtbot (and on the widget modules); `slow` on the non-GUI tests that cost most (SLOW below).
The quick loop skips both:  python -m pytest -q -m "not slow and not gui" tests
CI runs everything:         xvfb-run -a python -m pytest -q tests
"""
from __future__ import annotations

from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

# a test is a GUI test when it asks for a viewer or qtbot, or lives in a widget module
GUI_FIXTURES = {"make_napari_viewer", "make_napari_viewer_proxy", "qtbot", "zssr_viewer"}
GUI_MODULES = {"test_widget.py", "test_widget_big.py"}


# The costliest non-GUI tests (every parametrisation): about 2.5 s or more a call on a loaded 2-core CPU
# (`--durations`, 2026-12-06; 158 s for the first, 25 s for the next, ~2.5-20 s the rest).
# Kept here rather than as decorators so that one list says what the quick loop leaves out; a renamed
# test simply drops out of it (and into the quick loop).
SLOW = {
    "test_prior.py": ["test_an_axial_run_from_the_axial_prior_trains_its_longer_schedule",
                      "test_priors_ship_in_the_wheel_and_load_from_a_plain_install",
                      "test_auto_starts_one_plane_from_the_prior_in_gradual_stages",
                      "test_cli_init_flag_records_the_start_and_prints_the_fallback_notice"],
    "test_chunked.py": ["test_sigkill_of_a_worker_process_is_survived",
                        "test_trained_chunked_axial_run_holds_out_estimates_and_equals_in_memory",
                        "test_rerun_after_sigkill_of_the_client_finishes_identically",
                        "test_a_chunked_run_checks_a_given_profile_against_the_data",
                        "test_axial_chunked_equals_in_memory"],
    "test_quality.py": ["test_a_given_profile_wins_but_a_far_one_gets_a_notice",
                        "test_without_holdout_it_is_the_ordinary_axial_run",
                        "test_a_reliable_estimate_sets_the_slice_profile_of_an_axial_run",
                        "test_holdout_run_records_the_estimate_and_the_estimated_profile",
                        "test_a_trained_net_beats_cubic_on_planes_it_never_saw",
                        "test_noise_on_sons_is_measured_in_the_data_by_default_and_recorded"],
    "test_cli.py": ["test_subprocess_module_entry"],
    "test_batch.py": ["test_worker_processes", "test_ctrl_c_stops_cleanly_and_resume_finishes",
                      "test_batch_runs_and_resumes", "test_bad_files_fail_alone",
                      "test_two_channel_batch_matches_single_command"],
    "test_model_reuse.py": ["test_batch_applies_a_saved_model_to_every_file"],
    "test_memory_plan.py": ["test_cli_big_stack_in_a_fresh_process_within_10_s"],
    "test_bioimageio.py": ["test_package_validates_passes_core_test_and_reproduces_zssr_model"],
    "test_fuzz_inputs.py": ["test_fuzz_cli"],
    "test_packaging.py": ["test_cli_imports_and_runs_without_napari_qt_or_dask"],
    "test_profile_estimate.py": ["test_noise_does_not_pass_for_a_sharper_z",
                                 "test_estimate_within_25_percent_of_a_known_profile",
                                 "test_wider_profile_gives_a_wider_estimate"],
    "test_holdout.py": ["test_stacks_hold_out_planes_and_per_plane_runs_each_a_band",
                        "test_batch_records_the_estimate_and_warns_per_file",
                        "test_the_cli_prints_the_estimate_and_warns_when_worse_than_cubic",
                        "test_a_lateral_run_records_the_estimate_and_its_back_projection_choice"],
    "test_engine.py": ["test_short_training_beats_cubic", "test_stage_outputs_are_capped_in_output_pixels"],
    "test_manifest.py": ["test_wheel_ships_manifest_and_samples"],
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if GUI_FIXTURES & set(getattr(item, "fixturenames", ())) or item.path.name in GUI_MODULES:
            item.add_marker(pytest.mark.gui)
        if getattr(item, "originalname", item.name) in SLOW.get(item.path.name, ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module (`pytestmark = pytest.mark.usefixtures("one_torch_thread")`): on a
    busy 2-core machine two spinning threads are many times slower."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

# Few iterations, no self-ensemble, tiny crops: the real engine, in seconds on 2 CPU cores.
# One CPU thread: the Qt main thread keeps a core, and a busy machine cannot stall torch's
# thread pool (two OpenMP threads sharing one free core made runs ~10x slower).
FAST = dict(max_iters=30, ensemble=False, crop_size=32, back_projection_iters=2, n_steps=1, seed=0, num_threads=1)
WIDGET_NAME = "Zero-Shot Super-Resolution"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def configure_fast(widget, **overrides) -> None:
    """Set the widget's form for a quick run (preset first: it resets the other fields)."""
    widget.preset.value = "default"
    values = dict(FAST, **overrides)
    for name, value in values.items():
        getattr(widget, name).value = value
    widget.device.value = "cpu"


@pytest.fixture
def zssr_viewer(make_napari_viewer_proxy):
    """A viewer (public-API proxy) and a function that docks the widget through the manifest."""
    def make(show: bool = False):
        viewer = make_napari_viewer_proxy(show=show)

        def open_widget(**fast_overrides):
            _dock, widget = viewer.window.add_plugin_dock_widget("napari-zssr", WIDGET_NAME)
            configure_fast(widget, **fast_overrides)
            return widget

        return viewer, open_widget

    return make


def wait_done(qtbot, widget, timeout: int = 300_000) -> None:
    """Wait until the widget's worker has finished (and the main-thread slots have run)."""
    qtbot.waitUntil(lambda: not widget.running, timeout=timeout)


def read_only_dirs(tmp_path: Path) -> list:
    """Folders nobody can create a file in: a chmod 555 folder (only when not root: root ignores the
    mode bits, and CI runs as root) and /sys (sysfs refuses new files to root too)."""
    import os

    dirs = []
    if os.geteuid() != 0:
        ro = tmp_path / "read_only"
        ro.mkdir()
        ro.chmod(0o555)
        dirs.append(ro)
    if Path("/sys").is_dir():
        dirs.append(Path("/sys"))
    assert dirs, "no read-only folder to test with on this machine"
    return dirs

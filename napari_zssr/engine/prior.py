"""Learned starting weights ("priors") for ZSSR's per-image training, shipped in the package.

A prior is the ZSSR network's weights after multi-task training on many images and degradations
(`tools/train_prior.py`; see priors/MODEL_CARD.md). Starting from it, a short run on the
user's image reaches what a long run from random weights reaches: the training is still the
image's own, only its starting point is learned.

One prior per family: "lateral" (both axes upscaled, bicubic or symmetric kernels) and "axial"
(one axis upscaled, e.g. z; trained with noise on the sons of noisy images, as noise-aware axial
runs make them; see priors/MODEL_CARD.md), trained for one channel (grayscale, each fluorescence channel). An RGB
network starts from the same weights spread over its colours (`expand_channels`: every colour gets
the residual the grayscale prior computes from their mean), unless a 3-channel file is shipped.
Other channel counts (channels processed jointly) fall back to random weights with a one-line notice.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .kernels import is_symmetric
from .network import ZSSRNet

PRIOR_DIR = Path(__file__).resolve().parent / "priors"
FORMAT = "napari-zssr-prior/1"
INITS = ("auto", "prior", "random")


def prior_filename(family: str, channels: int) -> str:
    return f"{family}_{channels}ch.safetensors"


def prior_family(sf: Tuple[float, float], kernel: Optional[np.ndarray]) -> Tuple[Optional[str], str]:
    """(family, why): which prior fits a run, or (None, the reason none does)."""
    if min(sf) <= 1.0:
        return "axial", ""
    if kernel is None:
        return "lateral", ""
    k = np.asarray(kernel)
    if is_symmetric(k) and np.allclose(k, k[::-1, ::-1], atol=1e-6 * k.max()):
        return "lateral", ""
    return None, "the kernel is not symmetric (the priors know bicubic and Gaussian kernels)"


def save_prior(net: ZSSRNet, path, card: dict) -> Path:
    """Weights as safetensors (fp32, no pickles) with the model card as JSON metadata; atomic."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "channels": net.channels, "depth": net.depth, "width": net.width, "card": card}
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in net.state_dict().items()}
    fd, tmp = tempfile.mkstemp(prefix=".prior-", suffix=".tmp", dir=str(path.parent))
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"zssr_prior": json.dumps(meta)})
        os.chmod(tmp, 0o644)                          # mkstemp's 0600 would travel into the wheel
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def read_prior(path) -> Tuple[dict, dict]:
    """(metadata, state dict) of a prior file; a one-line ValueError when it is not a valid one."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})["zssr_prior"])
        state = load_file(str(path), device="cpu")
    except Exception as e:
        raise ValueError(f"{path}: not a valid napari-zssr prior ({type(e).__name__})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: unsupported prior format {meta.get('format')!r}")
    return meta, state


EXPANDABLE = (3,)          # channel counts that may start from the 1-channel prior


def expand_channels(state: dict, channels: int) -> dict:
    """1-channel weights -> `channels`: the first layer reads the mean of the channels, the last
    writes the same residual to each, so a gray image in all channels gives the 1-channel result."""
    # "body.<layer index>.weight": safetensors stores keys sorted as text (body.10 before body.2)
    keys = sorted(state, key=lambda k: int(k.split(".")[1]))
    first, last = keys[0], keys[-1]
    out = dict(state)
    out[first] = state[first].repeat(1, channels, 1, 1) / channels
    out[last] = state[last].repeat(channels, 1, 1, 1)
    return out


def load_prior_into(net: ZSSRNet, path) -> dict:
    """Copy a prior's weights into `net` (same architecture; channels as they are, or a 1-channel
    prior spread over an RGB net), return its metadata."""
    meta, state = read_prior(path)
    if meta.get("channels") == 1 and net.channels in EXPANDABLE:
        state = expand_channels(state, net.channels)
        meta = dict(meta, channels=net.channels, expanded_from=1)
    want = (net.channels, net.depth, net.width)
    got = (meta.get("channels"), meta.get("depth"), meta.get("width"))
    if got != want:
        raise ValueError(f"{path}: the prior is for a {got[0]}-channel {got[1]}x{got[2]} network, "
                         f"not {want[0]}-channel {want[1]}x{want[2]}")
    try:
        net.load_state_dict(state)
    except RuntimeError:
        raise ValueError(f"{path}: the prior's tensors do not fit the network") from None
    return meta


def find_prior(channels: int, sf, kernel, directory: Optional[Path] = None) -> Tuple[Optional[Path], str]:
    """(path, "") of the prior that fits, or (None, a one-line notice of why random init is used)."""
    family, why = prior_family(sf, kernel)
    if family is None:
        return None, f"no learned prior for this run ({why}); starting from random weights"
    folder = Path(directory or PRIOR_DIR)
    path = folder / prior_filename(family, channels)
    if not path.is_file() and channels in EXPANDABLE:
        path = folder / prior_filename(family, 1)
    if not path.is_file():
        return None, (f"no learned prior for {channels}-channel {family} runs; starting from random "
                      f"weights with the from-scratch schedule")
    return path, ""


def prior_network(channels: int, sf, kernel, init_std_factor: float = 0.1, seed: int = 0,
                  directory: Optional[Path] = None) -> Tuple[Optional[ZSSRNet], str]:
    """(network, "") started from the fitting prior, or (None, a one-line notice why there is none).
    The network has the prior's depth and width: a prior may be narrower than the from-scratch
    network (a prior run adapts for a few hundred steps only, so every step's cost counts)."""
    path, notice = find_prior(channels, sf, kernel, directory)
    if path is None:
        return None, notice
    meta, _ = read_prior(path)
    try:
        depth, width = int(meta["depth"]), int(meta["width"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{path}: the prior does not say its network's depth and width") from None
    net = ZSSRNet(channels, depth, width, init_std_factor, seed=seed)
    load_prior_into(net, path)
    return net, ""

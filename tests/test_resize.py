"""MATLAB-compatible imresize: Set5 evidence, shapes, per-axis antialiasing, linear reproduction."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from _set5 import psnr_8bit, set5_pairs_or_skip, to_uint8, y_psnr
from napari_zssr.engine.resize import cubic, fix_scale_and_shape, imresize


# ---- an independent 1-D reference, written from MATLAB's imresize definition -------------------
def ref_matrix(in_len: int, out_len: int, scale: float, antialias: bool = True) -> np.ndarray:
    """(out_len, in_len) weights: Keys cubic a=-0.5, stretched by 1/s when shrinking, mirror edges."""
    shrink = antialias and scale < 1
    support = 2.0 / scale if shrink else 2.0
    m = np.zeros((out_len, in_len))
    for j in range(out_len):
        u = (j + 0.5) / scale - 0.5                      # 0-based input coordinate of output centre j
        for i in range(int(math.floor(u - support)) - 1, int(math.ceil(u + support)) + 2):
            t = u - i
            w = scale * cubic(np.array(scale * t)) if shrink else cubic(np.array(t))
            if w == 0:
                continue
            k = i % (2 * in_len)                          # symmetric padding: ... 1 0 | 0 1 ... n-1 | n-1 n-2
            k = k if k < in_len else 2 * in_len - 1 - k
            m[j, k] += float(w)
    return m / m.sum(axis=1, keepdims=True)


def t64(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def rgb_to_chw(img_u8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img_u8.astype(np.float32) / 255.0).permute(2, 0, 1).contiguous()


def chw_to_rgb(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy()


# ---- Set5: the LR images are MATLAB bicubic of the HR ones ---------------------------------------
@pytest.mark.parametrize("scale", [2, 4])
def test_set5_lr_reproduced_from_hr(scale):
    for key, hr, lr in set5_pairs_or_skip(scale):
        down = imresize(rgb_to_chw(hr), 1.0 / scale, output_shape=lr.shape[:2])
        assert tuple(down.shape) == (3, *lr.shape[:2])
        p = psnr_8bit(to_uint8(chw_to_rgb(down)), lr)
        assert p >= 54.0, f"{key} x{scale}: MATLAB-compatible downscale reproduces LR at only {p:.2f} dB"


@pytest.mark.parametrize("scale, expected", [(2, 33.68), (4, 28.43)])
def test_set5_cubic_upscale_y_psnr(scale, expected):
    scores = []
    for _key, hr, lr in set5_pairs_or_skip(scale):
        up = imresize(rgb_to_chw(lr), scale, output_shape=hr.shape[:2])
        assert tuple(up.shape) == (3, *hr.shape[:2])
        scores.append(y_psnr(chw_to_rgb(up), hr, shave=scale))
    mean = float(np.mean(scores))
    assert abs(mean - expected) <= 0.05, f"Set5 x{scale} bicubic mean Y-PSNR {mean:.3f}, expected {expected}"


# ---- shapes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, scale, expected", [
    ((17, 23), 1.5, (26, 35)),             # ceil(25.5), ceil(34.5)
    ((17, 23), 2, (34, 46)),
    ((17, 23), 0.5, (9, 12)),              # ceil(8.5), ceil(11.5)
    ((17, 23), (2, 1), (34, 23)),
    ((17, 23), (1, 0.5), (17, 12)),
    ((3, 6), 7 / 3, (7, 14)),              # float error must not turn 7 into 8
    ((10, 10), 1 / 3, (4, 4)),
])
def test_output_shape(shape, scale, expected):
    x = torch.rand(2, *shape)
    y = imresize(x, scale)
    assert tuple(y.shape) == (2, *expected)
    assert fix_scale_and_shape(shape, scale)[1] == expected


def test_scale_and_output_shape_together():
    """Both given: the shape is obeyed and the coordinate map uses the given scale, not out/in."""
    ramp = t64(np.tile(np.arange(17.0), (5, 1)))                # value = x index
    y = imresize(ramp, (1, 2), output_shape=(5, 33))
    assert tuple(y.shape) == (5, 33)
    j = np.arange(33)
    expected = (j + 0.5) / 2 - 0.5                              # scale 2, not 33/17
    np.testing.assert_allclose(y[2, 3:-3].numpy(), expected[3:-3], atol=1e-9)
    # shape only: the scale is out/in
    y2 = imresize(ramp, output_shape=(5, 33))
    expected2 = (j + 0.5) / (33 / 17) - 0.5
    np.testing.assert_allclose(y2[2, 3:-3].numpy(), expected2[3:-3], atol=1e-9)
    with pytest.raises(ValueError):
        imresize(ramp)                                          # neither given
    with pytest.raises(ValueError):
        imresize(ramp, -2)


def test_per_axis_factors_leave_other_axis_alone():
    x = t64(np.random.default_rng(0).random((11, 13)))
    y = imresize(x, (2, 1))
    assert tuple(y.shape) == (22, 13)
    np.testing.assert_allclose(y.numpy(), ref_matrix(11, 22, 2.0) @ x.numpy(), atol=1e-12)


def test_identity_at_scale_one():
    x = torch.rand(3, 17, 23)
    assert torch.equal(imresize(x, 1), x)
    assert torch.equal(imresize(x, output_shape=(17, 23)), x)


@pytest.mark.parametrize("scale", [0.5, 0.25, 1 / 3, 0.7, (0.5, 0.3), (1, 0.4), 1.5, (3, 1)])
def test_constant_stays_constant(scale):
    x = torch.full((1, 19, 22), 0.37, dtype=torch.float64)
    y = imresize(x, scale)
    np.testing.assert_allclose(y.numpy(), 0.37, atol=1e-12)


# ---- antialiasing is decided per axis; separable; matches the reference -------------------------
def test_antialias_per_axis_x_only():
    """scale (1, 0.5): rows are not filtered across; x is antialiased although y's factor is 1."""
    x = np.random.default_rng(1).random((9, 30))
    y = imresize(t64(x), (1, 0.5)).numpy()
    assert y.shape == (9, 15)
    ref = x @ ref_matrix(30, 15, 0.5).T                          # 1-D reference along x, row by row
    np.testing.assert_allclose(y, ref, atol=1e-12)
    plain = x @ ref_matrix(30, 15, 0.5, antialias=False).T       # the original's pitfall: no antialias
    assert np.abs(y - plain).max() > 0.05


def test_antialias_per_axis_y_only():
    x = np.random.default_rng(2).random((30, 9))
    y = imresize(t64(x), (0.5, 1)).numpy()
    np.testing.assert_allclose(y, ref_matrix(30, 15, 0.5) @ x, atol=1e-12)


@pytest.mark.parametrize("scale", [(0.5, 0.75), (2, 0.5), (1.5, 1.5), (0.25, 3)])
def test_separable_matches_reference(scale):
    x = np.random.default_rng(3).random((2, 16, 21))
    y = imresize(t64(x), scale).numpy()
    (sy, sx), (oh, ow) = fix_scale_and_shape((16, 21), scale)
    ry, rx = ref_matrix(16, oh, sy), ref_matrix(21, ow, sx)
    ref = np.einsum("oh,chw,pw->cop", ry, x, rx)
    np.testing.assert_allclose(y, ref, atol=1e-12)


def test_antialias_flag_off_is_plain_cubic():
    x = np.random.default_rng(4).random((1, 24))
    y = imresize(t64(x), (1, 0.5), antialias=False).numpy()
    np.testing.assert_allclose(y, x @ ref_matrix(24, 12, 0.5, antialias=False).T, atol=1e-12)


# ---- cubic reproduces linear functions --------------------------------------------------------
@pytest.mark.parametrize("scale", [2, 3, 1.5, 4, 0.5])
def test_linear_ramp_stays_linear(scale):
    n = 40
    ramp_x = 0.3 + 0.05 * np.arange(n)
    ramp = t64(np.add.outer(0.02 * np.arange(n), ramp_x))      # linear in y and x
    y = imresize(ramp, scale).numpy()
    m = y.shape[-1]
    u = (np.arange(m) + 0.5) / scale - 0.5                      # MATLAB coordinate map
    expected = np.add.outer(0.02 * u, 0.3 + 0.05 * u)
    margin = int(math.ceil(3 * max(scale, 1 / scale))) + 2        # away from the mirrored edges
    np.testing.assert_allclose(y[margin:-margin, margin:-margin], expected[margin:-margin, margin:-margin],
                               atol=1e-9)


def test_float32_and_batch_dims():
    x = torch.rand(2, 3, 10, 12)
    y = imresize(x, 2)
    assert y.dtype == torch.float32 and tuple(y.shape) == (2, 3, 20, 24)
    np.testing.assert_allclose(y[1, 2].double().numpy(), imresize(x[1, 2].double(), 2).numpy(), atol=1e-5)

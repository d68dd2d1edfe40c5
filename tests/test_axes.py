"""The ground floor's one axes check (napari_zssr.axes): files, arrays and napari layers."""
import pytest

from napari_zssr.axes import canonical_order, validate_axes


@pytest.mark.parametrize(
    "axes, ndim, rgb, msg",
    [
        ("ZYX", 2, None, "letters"),
        ("QYX", 3, None, "unknown"),
        ("YYX", 3, None, "once"),
        ("ZCT", 3, None, "Y and X"),
        ("SYX", 3, None, "last"),
        ("YXC", 3, True, "RGB layer's last axis"),
        ("YXS", 3, False, "RGB layers"),
    ],
)
def test_rejects(axes, ndim, rgb, msg):
    with pytest.raises(ValueError, match=msg):
        validate_axes(axes, ndim, rgb)


@pytest.mark.parametrize("rgb", [None, True])
def test_samples_last_allowed_unless_refused(rgb):
    assert validate_axes("yxs", 3, rgb) == "YXS"


def test_upper_case_and_work_order():
    assert validate_axes("czyx", 4) == "CZYX"
    assert canonical_order("CZYX") == "ZCYX"

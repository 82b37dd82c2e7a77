"""Model2D on images and image stacks, against generating truths."""

import numpy as np
import pytest

import swiftfit as hs

C2 = hs.model.components2D


def _image(comp, scale=0.1, n=200, offset=-10.0):
    x = offset + scale * np.arange(n)
    X, Y = np.meshgrid(x, x)
    im = hs.signals.Signal2D(comp.function(X, Y))
    for i in (0, 1):
        im.axes_manager[i].scale = scale
        im.axes_manager[i].offset = offset
    return im


@pytest.mark.parametrize("optimizer", ["lm", "L-BFGS-B"])
def test_gaussian2d_recovers_truth(optimizer):
    """Generated with (A, cx, cy, sx, sy) = (1, −5, −5, 1, 2); start (1, −4.5, −4.5, 0.5, 1.5)."""
    im = _image(C2.Gaussian2D(A=1, centre_x=-5.0, centre_y=-5.0, sigma_x=1.0, sigma_y=2.0))
    m = im.create_model()
    gt = C2.Gaussian2D(A=1, centre_x=-4.5, centre_y=-4.5, sigma_x=0.5, sigma_y=1.5)
    m.append(gt)
    kwargs = {"options": {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000}} if optimizer == "L-BFGS-B" else {}
    m.fit(optimizer=optimizer, **kwargs)
    np.testing.assert_allclose(
        [gt.A.value, gt.centre_x.value, gt.centre_y.value, gt.sigma_x.value, gt.sigma_y.value],
        [1, -5, -5, 1, 2], rtol=1e-5)


def test_gaussian2d_bounded_pegs_at_bound():
    im = _image(C2.Gaussian2D(A=1, centre_x=-5.0, centre_y=-5.0, sigma_x=1.0, sigma_y=2.0))
    m = im.create_model()
    gt = C2.Gaussian2D(A=1, centre_x=-4.5, centre_y=-4.5, sigma_x=0.5, sigma_y=1.5)
    m.append(gt)
    gt.centre_x.bmin = -4.75
    m.fit(bounded=True)
    assert m.fit_output.success
    assert gt.centre_x.value == pytest.approx(-4.75, abs=1e-12)


def test_rotated_gaussian2d_recovers_angle():
    truth = C2.Gaussian2D(A=5, centre_x=0.3, centre_y=-0.2, sigma_x=1.0, sigma_y=2.5, add_rotation=True)
    truth.rotation_angle.value = np.deg2rad(35.0)
    im = _image(truth, scale=0.1, n=120, offset=-6.0)
    rng = np.random.default_rng(1)
    im.data = im.data + rng.normal(0, 0.002, im.data.shape)
    m = im.create_model()
    g = C2.Gaussian2D(A=4, centre_x=0, centre_y=0, sigma_x=1.2, sigma_y=2.0, add_rotation=True)
    g.rotation_angle.value = np.deg2rad(20.0)
    m.append(g)
    m.fit()
    assert m.fit_output.success
    assert abs(np.rad2deg(g.rotation_angle.value) - 35.0) < 0.1


def test_batched_stack_multifit_equals_per_frame_fits():
    rng = np.random.default_rng(2)
    x = np.linspace(-5, 5, 40)
    X, Y = np.meshgrid(x, x)
    frames = []
    truths = []
    for k in range(6):
        cx, cy = rng.uniform(-1, 1, 2)
        g = C2.Gaussian2D(A=50 + 10 * k, centre_x=cx, centre_y=cy, sigma_x=1.1, sigma_y=0.8)
        frames.append(g.function(X, Y) + 0.1 + rng.normal(0, 0.05, X.shape))
        truths.append((cx, cy))
    stack = hs.signals.Signal2D(np.array(frames))
    for i in (1, 2):
        ax = stack.axes_manager[i]
        ax.scale, ax.offset = x[1] - x[0], x[0]

    def build(sig):
        m = sig.create_model()
        g = C2.Gaussian2D(A=60, centre_x=0, centre_y=0, sigma_x=1, sigma_y=1)
        m.extend([g, C2.Offset(offset=0.0)])
        m.assign_current_values_to_all()
        return m, g

    m, g = build(stack)
    m.multifit()
    for k in range(6):
        single = hs.signals.Signal2D(np.array(frames[k]))
        for i in (0, 1):
            ax = single.axes_manager[i]
            ax.scale, ax.offset = x[1] - x[0], x[0]
        m1, g1 = build(single)
        m1.fit()
        for name in ("A", "centre_x", "centre_y", "sigma_x", "sigma_y"):
            assert getattr(g, name).map["values"][k] == pytest.approx(getattr(g1, name).value, rel=1e-6, abs=1e-9)
        assert g.centre_x.map["values"][k] == pytest.approx(truths[k][0], abs=0.01)


def test_signal_range_2d_box_and_binned_area():
    im = hs.signals.Signal2D(np.ones((20, 30)))
    im.axes_manager[0].scale = 0.5
    im.axes_manager[1].scale = 2.0
    m = im.create_model()
    m.append(C2.Offset(offset=1.0))
    m.set_signal_range(2.0, 4.0, 10.0, 20.0)  # x from index 4 to 8, y from 5 to 10
    assert m._channel_switches.sum() == 5 * 6
    assert m._channel_switches[5:11, 4:9].all()
    with pytest.raises(ValueError, match="empty signal range"):
        m.set_signal_range(4.0, 2.0, None, None)
    im.axes_manager[0].is_binned = True
    im.axes_manager[1].is_binned = True
    m.reset_signal_range()
    np.testing.assert_allclose(m(), np.full(600, 1.0 * 0.5 * 2.0))

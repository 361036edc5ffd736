"""Metric primitives: PSNR/SSIM parity with scikit-image, known values, masks, depth errors,
flicker, warp error with known motion, LPIPS weight handling (and its plumbing)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import skimage.metrics as skm  # a test dependency (pyproject [test])
import torch

from igen_gs.metrics import (
    depth_errors,
    flicker,
    frame_changes,
    motion_correspondences,
    mse,
    pair_correspondences,
    psnr,
    ssim,
    ssim_map,
    warp_error,
    warp_errors,
)


def _noisy_pair(rng, shape, noise):
    a = rng.random(shape)
    b = np.clip(a + noise * rng.standard_normal(shape), 0.0, 1.0)
    return a, b


def _skimage_ssim(a, b, data_range=1.0, full=False):
    return skm.structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=data_range, channel_axis=-1 if a.ndim == 3 else None, full=full)


# ----------------------------------------------------------------------------- PSNR / SSIM
@pytest.mark.parametrize("shape", [(11, 11, 3), (37, 53, 3), (64, 48, 1), (40, 45)])
def test_ssim_psnr_parity_with_skimage(fresh_seed, shape):
    """Random images, fresh seed: SSIM and PSNR agree with scikit-image to 1e-6 (measured
    ~1e-15; the brief asks 1e-4)."""
    rng = np.random.default_rng(fresh_seed)
    for noise in (0.02, 0.1, 0.5):
        a, b = _noisy_pair(rng, shape, noise)
        assert abs(ssim(a, b) - _skimage_ssim(a, b)) < 1e-6
        assert abs(psnr(a, b) - skm.peak_signal_noise_ratio(b, a, data_range=1.0)) < 1e-6
        # torch tensors in, same numbers out
        assert ssim(torch.from_numpy(a), torch.from_numpy(b)) == pytest.approx(ssim(a, b),
                                                                              abs=1e-12)
    # another data range
    a, b = _noisy_pair(rng, shape, 0.1)
    assert abs(ssim(a * 255, b * 255, data_range=255.0)
               - _skimage_ssim(a * 255, b * 255, data_range=255.0)) < 1e-6


def test_masked_ssim_is_the_map_mean_over_the_mask(fresh_seed):
    """Masked SSIM = mean of scikit-image's full SSIM map over the mask's pixels >= 5 px from
    the border; an all-true mask gives the unmasked value."""
    rng = np.random.default_rng(fresh_seed)
    a, b = _noisy_pair(rng, (40, 50, 3), 0.1)
    mask = rng.random((40, 50)) < 0.3
    _, S = _skimage_ssim(a, b, full=True)
    S = S.mean(-1)  # channel mean, as ours
    inner = np.zeros_like(mask)
    inner[5:-5, 5:-5] = True
    assert ssim(a, b, mask) == pytest.approx(S[mask & inner].mean(), abs=1e-9)
    assert ssim(a, b, np.ones((40, 50), bool)) == pytest.approx(ssim(a, b), abs=1e-15)
    assert ssim_map(a, b).shape == (30, 40)


def test_psnr_of_a_constant_offset_and_masks():
    target = np.full((20, 30, 3), 0.4)
    assert psnr(target + 0.1, target) == pytest.approx(20.0, abs=1e-9)  # 10 log10(1 / 0.01)
    assert psnr(target + 0.05, target) == pytest.approx(10 * math.log10(1 / 0.0025), abs=1e-9)
    assert psnr(target * 255 + 10, target * 255, data_range=255.0) == pytest.approx(
        10 * math.log10(255**2 / 100), abs=1e-9)
    assert psnr(target, target) == math.inf
    assert mse(target + 0.1, target) == pytest.approx(0.01, abs=1e-15)
    # offset only in the left half: the mask picks what it counts
    pred = target.copy()
    pred[:, :15] += 0.1
    left = np.zeros((20, 30), bool)
    left[:, :15] = True
    assert psnr(pred, target, left) == pytest.approx(20.0, abs=1e-9)
    assert psnr(pred, target, ~left) == math.inf
    assert psnr(pred, target) == pytest.approx(10 * math.log10(1 / 0.005), abs=1e-9)
    # uint8 images are divided by 255
    t8 = np.full((20, 30, 3), 100, np.uint8)
    assert psnr(t8 + np.uint8(10), t8) == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-9)


def test_ssim_identical_and_masked_region(fresh_seed):
    rng = np.random.default_rng(fresh_seed)
    a = rng.random((32, 40, 3))
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    b = a.copy()
    b[:, 20:] = rng.random((32, 20, 3))  # right half replaced
    m = np.zeros((32, 40), bool)
    m[:, :15] = True  # windows centred here (radius 5) never see the right half
    assert ssim(a, b, m) == pytest.approx(1.0, abs=1e-12)
    m2 = np.zeros((32, 40), bool)
    m2[:, 26:] = True
    assert ssim(a, b, m2) < 0.2
    assert ssim(a, b, m2) < ssim(a, b) < 1.0
    # uint8 input equals float / 255
    a8 = (a * 255).astype(np.uint8)
    b8 = (b * 255).astype(np.uint8)
    assert ssim(a8, b8) == pytest.approx(ssim(a8 / 255.0, b8 / 255.0), abs=1e-12)


def test_image_metric_errors():
    a = np.zeros((16, 16, 3))
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(a, np.zeros((16, 17, 3)))
    with pytest.raises(ValueError, match="channels last"):
        psnr(np.zeros((3, 16, 16, 2)), np.zeros((3, 16, 16, 2)))
    with pytest.raises(ValueError, match="selects no pixels"):
        psnr(a, a + 0.1, np.zeros((16, 16), bool))
    with pytest.raises(ValueError, match="mask must have shape"):
        psnr(a, a, np.ones((15, 16), bool))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(np.zeros((10, 30, 3)), np.zeros((10, 30, 3)))
    border = np.zeros((16, 16), bool)
    border[:, :3] = True
    with pytest.raises(ValueError, match="5 px inside"):
        ssim(a, a, border)


# ----------------------------------------------------------------------------- depth
def test_depth_errors_hand_computed():
    gt = np.array([[1.0, 2.0], [4.0, 0.0]])  # the 0 is not evaluated
    pred = np.array([[1.1, 1.5], [4.0, 3.0]])
    e = depth_errors(pred, gt)
    assert e["pixels"] == 3
    assert e["abs_rel"] == pytest.approx((0.1 / 1 + 0.5 / 2 + 0) / 3, abs=1e-12)
    assert e["rmse"] == pytest.approx(math.sqrt((0.01 + 0.25 + 0) / 3), abs=1e-12)
    assert e["delta_1.25"] == pytest.approx(2 / 3)  # ratios 1.1, 1.333, 1.0
    assert e["delta_1.25^2"] == 1.0 and e["delta_1.25^3"] == 1.0
    m = np.array([[False, True], [True, True]])
    e = depth_errors(pred, gt, m)
    assert e["pixels"] == 2
    assert e["abs_rel"] == pytest.approx(0.125, abs=1e-12)
    assert e["rmse"] == pytest.approx(math.sqrt(0.25 / 2), abs=1e-12)
    assert e["delta_1.25"] == 0.5
    # a missing prediction counts as 0: |0 - 2| / 2 = 1, and fails every threshold
    e = depth_errors(np.array([[1.0, 0.0]]), np.array([[1.0, 2.0]]))
    assert e["abs_rel"] == pytest.approx(0.5) and e["rmse"] == pytest.approx(math.sqrt(2))
    assert e["delta_1.25^3"] == 0.5
    e = depth_errors(np.array([[np.nan, 2.0]]), np.array([[1.0, 2.0]]))
    assert e["abs_rel"] == pytest.approx(0.5)
    # a stack of frames pools all pixels; an [H, W] mask applies to every frame
    e = depth_errors(np.stack([pred, pred]), np.stack([gt, gt]), m)
    assert e["pixels"] == 4 and e["abs_rel"] == pytest.approx(0.125)
    with pytest.raises(ValueError, match="no pixel has valid"):
        depth_errors(pred, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="differ in shape"):
        depth_errors(pred, np.ones((3, 2)))


# ----------------------------------------------------------------------------- flicker
def test_flicker_static_video_is_zero_and_constructed_flicker(fresh_seed):
    rng = np.random.default_rng(fresh_seed)
    base = rng.random((24, 32, 3)) * 0.9
    video = np.stack([base] * 6)
    assert flicker(video, np.ones((24, 32), bool)) == 0.0
    assert flicker((video * 255).astype(np.uint8), np.ones((24, 32), bool)) == 0.0
    # static pixels alternate by +/- delta; the moving region (right 8 columns) is noise
    delta = 0.03
    static = np.ones((24, 32), bool)
    static[:, 24:] = False
    frames = video.copy()
    frames[1::2] += delta
    frames[:, :, 24:] = rng.random((6, 24, 8, 3))
    assert flicker(frames, static) == pytest.approx(delta, abs=1e-12)
    means, counts = frame_changes(frames, static)
    assert means.shape == (5,) and torch.allclose(means, torch.full((5,), delta,
                                                                    dtype=torch.float64))
    assert counts.tolist() == [24 * 24] * 5
    assert flicker(frames, np.ones((24, 32), bool)) > delta + 0.05  # the noise counts now
    # a per-frame mask: pair (t, t+1) counts pixels static in both frames
    per = np.broadcast_to(static, (6, 24, 32)).copy()
    per[2, :, :12] = False  # pairs (1, 2) and (2, 3) lose the left 12 columns
    frames2 = frames.copy()
    frames2[2, :, :12] = 0.0  # a big change there, which must not count
    means, counts = frame_changes(frames2, per)
    assert counts.tolist() == [576, 288, 288, 576, 576]
    assert flicker(frames2, per) == pytest.approx(delta, abs=1e-12)
    with pytest.raises(ValueError, match="static mask"):
        flicker(frames, np.ones((5, 24, 32), bool))
    with pytest.raises(ValueError, match="T >= 2"):
        flicker(frames[:1], static)


# ----------------------------------------------------------------------------- warp error
FX, W_IMG, H_IMG = 50.0, 64, 48
K = np.array([[FX, 0, W_IMG / 2], [0, FX, H_IMG / 2], [0, 0, 1.0]])


def _rot_z(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def _rot_y(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _pose(R, t):
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return T


def _texture(x, y, phase):
    """Smooth colours (wavelength ~ 20 px at the depths used), values in [0.1, 0.9]."""
    return np.stack([0.5 + 0.4 * np.sin(2 * np.pi * x / 0.9 + phase) * np.cos(2 * np.pi * y / 1.1),
                     0.5 + 0.4 * np.cos(2 * np.pi * (x + y) / 1.3 + phase),
                     0.5 + 0.4 * np.sin(2 * np.pi * (x - 0.5 * y) / 1.0 + 2 * phase)], -1)


def _ray_cast(T_world_cam, T_world_obj):
    """Exact render of a textured background plane (world z = 3) and a textured square
    (0.9 m, its own z = 0 plane) with pose T_world_obj: rgb [H, W, 3], depth, labels."""
    v, u = np.meshgrid(np.arange(H_IMG) + 0.5, np.arange(W_IMG) + 0.5, indexing="ij")
    d_cam = np.stack([(u - K[0, 2]) / FX, (v - K[1, 2]) / FX, np.ones_like(u)], -1)
    d = d_cam @ T_world_cam[:3, :3].T  # ray direction, 1 per metre of camera z
    C = T_world_cam[:3, 3]
    s_bg = (3.0 - C[2]) / d[..., 2]
    p_bg = C + s_bg[..., None] * d
    rgb = _texture(p_bg[..., 0], p_bg[..., 1], 0.0)
    depth = s_bg.copy()
    n, o = T_world_obj[:3, 2], T_world_obj[:3, 3]
    s_ob = ((o - C) @ n) / (d @ n)
    local = (C + s_ob[..., None] * d - o) @ T_world_obj[:3, :3]
    hit = (s_ob > 0) & (s_ob < s_bg) & (np.abs(local[..., 0]) < 0.45) \
        & (np.abs(local[..., 1]) < 0.45)
    rgb[hit] = _texture(local[..., 0], local[..., 1], 1.3)[hit]
    depth[hit] = s_ob[hit]
    return rgb, depth, hit.astype(np.int64)


def _moving_sequence(T=4):
    cams, objs, frames, depths, labels = [], [], [], [], []
    for t in range(T):
        cam = _pose(_rot_y(math.radians(1.0 * t)), [0.04 * t, -0.02 * t, 0.0])
        obj = _pose(_rot_z(math.radians(6.0 * t)) @ _rot_y(math.radians(3.0 * t)),
                    [-0.2 + 0.07 * t, 0.05 * t, 2.0])
        rgb, depth, lab = _ray_cast(cam, obj)
        cams.append(cam), objs.append(obj), frames.append(rgb), depths.append(depth)
        labels.append(lab)
    return (np.stack(frames), np.stack(depths), np.stack(labels), np.stack(cams),
            np.stack(objs))


def test_pair_correspondences_pure_camera_translation():
    """A fronto-parallel plane at 2 m, camera moved 0.1 m along x: every pixel of the new
    frame was f * 0.1 / 2 = 2.5 px to the right in the old one."""
    depth = np.full((H_IMG, W_IMG), 2.0)
    T_prev = np.eye(4)
    T_next = _pose(np.eye(3), [0.1, 0.0, 0.0])
    uv, valid = pair_correspondences(depth, K, T_prev, T_next, depth_prev=depth)
    v, u = np.meshgrid(np.arange(H_IMG) + 0.5, np.arange(W_IMG) + 0.5, indexing="ij")
    assert np.allclose(uv[..., 0].numpy(), u + 2.5) and np.allclose(uv[..., 1].numpy(), v)
    # pixels that map outside the old frame (the right 2.5 px) are not valid
    assert valid[:, :61].all() and not valid[:, 62:].any()


def test_warp_error_known_motion(fresh_seed):
    """Camera and object both move (rotation + translation): warping with the true motion
    explains the frames (error ~0); ignoring the object's motion, or assuming nothing moved,
    does not."""
    frames, depths, labels, cams, objs = _moving_sequence()
    uv, valid = motion_correspondences(depths, K, cams, labels, {1: objs})
    on_obj = valid & torch.from_numpy(labels[1:] == 1)
    assert int(on_obj.sum()) > 3 * 150  # the object is well covered in every pair
    good_all = warp_error(frames, uv, valid)
    good_obj = warp_error(frames, uv, on_obj)
    uv_static, valid_static = motion_correspondences(depths, K, cams)  # object "static"
    wrong_obj = warp_error(frames, uv_static, on_obj & valid_static)
    ident = torch.stack(torch.meshgrid(torch.arange(H_IMG) + 0.5, torch.arange(W_IMG) + 0.5,
                                       indexing="ij")[::-1], -1).double().expand(3, -1, -1, -1)
    wrong_ident = warp_error(frames, ident)
    print(f"warp error: true motion {good_all:.4f} (object {good_obj:.4f}), object assumed "
          f"static {wrong_obj:.4f}, identity {wrong_ident:.4f}")
    assert good_all < 0.01 and good_obj < 0.01
    assert wrong_obj > 0.05 and wrong_obj > 8 * good_obj
    assert wrong_ident > 0.05
    errs, counts = warp_errors(frames, uv, valid)
    assert errs.shape == (3,) and (counts > 1000).all() and (errs < 0.015).all()
    # the occlusion test: background the object covered at t is not valid at t+1
    _, valid_no_occ = pair_correspondences(depths[1], K, cams[0], cams[1], labels[1],
                                           {1: objs[0] @ np.linalg.inv(objs[1])})
    assert int(valid_no_occ.sum()) > int(valid[0].sum())
    with pytest.raises(ValueError, match="uv_prev must be"):
        warp_error(frames, uv[:2], valid[:2])


# ----------------------------------------------------------------------------- LPIPS
def test_lpips_without_weights_is_a_clear_error(tmp_path, monkeypatch):
    from igen_gs.metrics import load_lpips, lpips

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    img = np.zeros((32, 32, 3))
    for net, name in (("alex", "alexnet-owt-7be5be79.pth"), ("vgg", "vgg16-397923af.pth")):
        with pytest.raises(FileNotFoundError) as e:
            lpips(img, img, net=net)
        msg = str(e.value)
        assert "\n" not in msg
        assert name in msg and "--lpips-weights" in msg
        assert str(tmp_path / "torch_home" / "hub" / "checkpoints") in msg
        assert f"https://download.pytorch.org/models/{name}" in msg
    with pytest.raises(FileNotFoundError, match="not found at .*nowhere.pth.*--lpips-weights"):
        load_lpips("alex", tmp_path / "nowhere.pth")
    with pytest.raises(ValueError, match="net must be one of"):
        load_lpips("squeeze")


def test_lpips_plumbing_with_a_random_backbone(tmp_path, fresh_seed):
    """PLUMBING ONLY: a randomly initialised torchvision AlexNet, saved to a file and loaded
    through the same code users run (weights=<file>); the distances it gives mean nothing
    perceptually. Checks: the file's weights are the ones used, identical images give 0, the
    masked path averages the spatial map, bad files are clear errors, the model is cached."""
    import torchvision

    from igen_gs.metrics import load_lpips, lpips, lpips_map

    torch.manual_seed(fresh_seed)
    backbone = torchvision.models.alexnet()
    path = tmp_path / "alexnet-owt-7be5be79.pth"
    # only the convolutional part (what LPIPS uses), to keep the file small: 10 MB, not 233
    torch.save({k: v for k, v in backbone.state_dict().items() if k.startswith("features.")},
               path)
    model = load_lpips("alex", path)
    params = dict(model.net.named_parameters())
    assert torch.equal(params["slice1.0.weight"], backbone.features[0].weight)
    assert torch.equal(params["slice5.10.bias"], backbone.features[10].bias)
    assert load_lpips("alex", tmp_path) is model  # a folder holding the file; cached
    rng = np.random.default_rng(fresh_seed)
    a = rng.random((48, 64, 3))
    b = a.copy()
    b[:, 32:] = rng.random((48, 32, 3))
    assert lpips(a, a, weights=path) == pytest.approx(0.0, abs=1e-7)
    d = lpips(a, b, weights=path)
    assert d > 1e-4
    dmap = lpips_map(a, b, weights=path)
    assert dmap.shape == (48, 64)
    left = np.zeros((48, 64), bool)
    left[:, :8] = True
    right = np.zeros((48, 64), bool)
    right[:, 40:] = True
    assert lpips(a, b, mask=left, weights=path) == pytest.approx(float(dmap[:, :8].mean()))
    assert lpips(a, b, mask=left, weights=path) < lpips(a, b, mask=right, weights=path)
    assert lpips(a, b, mask=np.ones((48, 64), bool), weights=path) == pytest.approx(d, rel=0.1)
    assert lpips((a * 255).astype(np.uint8), (a * 255).astype(np.uint8), model=model) == \
        pytest.approx(0.0, abs=1e-7)
    assert model.spatial is False  # the masked call left the shared model as it was
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, bad)
    with pytest.raises(ValueError, match="has shape"):
        load_lpips("alex", bad)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read LPIPS backbone weights .*junk.pth"):
        load_lpips("alex", junk)
    with pytest.raises(ValueError, match="at least 32x32"):
        lpips(a[:16, :16], a[:16, :16], model=model)

"""Building blocks of lifting on small hand-built inputs: splat frames, quaternions, depth
discontinuities, planes (RANSAC with the upright prior), dilation, completed back sides, and the
"no rubber sheets" behaviour on a synthetic depth step."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from igen_gs import Camera, lift
from igen_gs.lifting.complete import (
    back_side,
    completion_frame,
    dilate,
    skirt,
    sweep_sides,
)
from igen_gs.lifting.geometry import (
    discontinuities,
    pixel_rays,
    surface_frames,
    surface_splats,
)
from igen_gs.lifting.support import fit_plane_ransac, intersect_rays, orient_towards
from igen_gs.scene import frames


def test_surface_frames_discs_and_slant():
    f = 500.0
    # A fronto-parallel point (normal = -ray) and a floor point seen at a grazing angle.
    P = np.array([[0.0, 0.0, 2.0], [0.0, 0.5, 2.0]])
    n = np.array([[0.0, 0.0, -1.0], [0.0, -1.0, 0.0]])
    fp = P[:, 2] / f
    R, scales = surface_frames(P, n, fp, thickness=0.1, max_stretch=3.0)
    assert np.allclose(np.einsum("mji,mjk->mik", R, R), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(R), 1.0)
    assert np.allclose(R[:, :, 2], n)  # third axis = normal (the thin one)
    assert scales[0] == pytest.approx([fp[0], fp[0], 0.1 * fp[0]])  # a round disc
    ray = P[1] / np.linalg.norm(P[1])
    cos = abs(ray @ n[1])
    assert scales[1, 0] == pytest.approx(fp[1] / max(cos, 1 / 3.0))  # stretched along slant
    assert abs(R[1, :, 0] @ np.array([1.0, 0, 0])) < 1e-9  # the slant lies in the y-z plane


def test_splats_to_field_carries_the_covariance():
    rng = np.random.default_rng(0)
    P = rng.normal(size=(50, 3)) + [0, 0, 3]
    n = rng.normal(size=(50, 3))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    n *= -np.sign((n * P).sum(1, keepdims=True))
    s = surface_splats(P, n, rng.random((50, 3)), np.full(50, 0.01), np.arange(50))
    T = frames.make_T(frames.axis_angle_to_rotmat([1.0, 2.0, 0.5], 0.7),
                      [0.3, -1.0, 2.0]).numpy()
    field = s.to_field(T, 0.9)
    assert np.allclose(field.means.numpy(), P @ T[:3, :3].T + T[:3, 3], atol=1e-5)
    R_new = frames.quat_to_rotmat(field.quats.double()).numpy()
    cov_new = R_new @ (field.scales.double().numpy()[:, :, None] ** 2 * R_new.transpose(0, 2, 1))
    cov_old = s.R @ (s.scales[:, :, None] ** 2 * s.R.transpose(0, 2, 1))
    assert np.allclose(cov_new, T[:3, :3] @ cov_old @ T[:3, :3].T, atol=1e-9)
    assert np.allclose(field.rgb.numpy(), s.rgb, atol=1e-6)
    assert np.allclose(field.opacities.numpy(), 0.9)


def test_discontinuities_flag_steps_above_the_threshold_only():
    d = np.full((6, 8), 1.0, np.float32)
    d[:, 4:] = 1.5  # a 50 cm step between columns 3 and 4
    d[0, 0] = 1.02  # a 2 cm bump < 2 cm + 3 % of 1.02 m
    edge = discontinuities(d, 0.02, 0.03)
    assert edge[:, 3].all() and edge[:, 4].all()
    assert not edge[:, [0, 1, 2, 5, 6, 7]].any()
    d[2, 6] = 0.0  # a hole: its neighbours are edges, the hole itself is not a pixel at all
    edge = discontinuities(d, 0.02, 0.03)
    assert edge[1, 6] and edge[3, 6] and edge[2, 5] and edge[2, 7] and not edge[2, 6]


def _plane_points(n, d, count, rng, extent=1.0):
    n = np.asarray(n, float) / np.linalg.norm(n)
    a = np.cross(n, [1.0, 0, 0]) if abs(n[0]) < 0.9 else np.cross(n, [0, 1.0, 0])
    a /= np.linalg.norm(a)
    b = np.cross(n, a)
    uv = rng.uniform(-extent, extent, (count, 2))
    return -d * n + uv[:, :1] * a + uv[:, 1:] * b


def test_ransac_recovers_a_plane_among_outliers():
    rng = np.random.default_rng(1)
    n_true = np.array([0.0, -0.8, -0.6])  # a table seen from above (camera frame)
    pts = np.concatenate([_plane_points(n_true, 1.0, 3000, rng) + rng.normal(0, 0.002, (3000, 3)),
                          rng.uniform(-1, 1, (1500, 3)) + [0, 0, 2]])
    plane, inl = fit_plane_ransac(pts, 0.01, seed=0)
    plane = orient_towards(plane, np.zeros(3))
    assert math.degrees(math.acos(min(1.0, plane[:3] @ n_true))) < 0.5
    assert plane[3] == pytest.approx(1.0, abs=0.003)
    assert inl[:3000].mean() > 0.95 and inl[3000:].mean() < 0.1
    again, _ = fit_plane_ransac(pts, 0.01, seed=0)
    assert np.array_equal(orient_towards(again, np.zeros(3)), plane)  # seeded
    with pytest.raises(ValueError, match="at least 3 points"):
        fit_plane_ransac(pts[:2])


def test_upright_prior_prefers_a_floor_over_a_larger_downward_facing_surface():
    rng = np.random.default_rng(2)
    floor = _plane_points([0.0, -0.9, -0.3], 1.2, 1000, rng)  # faces up in the image
    underside = _plane_points([0.2, 0.8, -0.55], 1.5, 2500, rng)  # faces down (e.g. a shelf)
    pts = np.concatenate([floor, underside])
    free, _ = fit_plane_ransac(pts, 0.01, seed=0)
    free = orient_towards(free, np.zeros(3))
    assert free[1] > 0  # without the prior, the bigger, downward-facing plane wins
    up, _ = fit_plane_ransac(pts, 0.01, seed=0, up_hint=np.array([0.0, -1.0, 0.0]))
    up = orient_towards(up, np.zeros(3))
    assert up[:3] @ np.array([0.0, -0.9, -0.3]) / np.linalg.norm([0.0, -0.9, -0.3]) > 0.999


def test_intersect_rays_with_a_plane():
    K = np.array([[100.0, 0, 32], [0, 100.0, 24], [0, 0, 1]])
    rays = pixel_rays(K, 48, 64)
    plane = np.array([0.0, 0.0, -1.0, 2.0])  # z = 2
    z = intersect_rays(plane, rays)
    assert np.allclose(z, 2.0)
    assert np.isnan(intersect_rays(np.array([0.0, 0.0, 1.0, 2.0]), rays)).all()  # behind


def test_dilate_is_a_euclidean_distance():
    m = np.zeros((60, 80), bool)
    m[30, 40] = True
    for r in (1, 3, 10):
        out = dilate(m, r)
        v, u = np.nonzero(out)
        dist = np.hypot(v - 30, u - 40)
        assert dist.max() <= r + 1e-9
        assert out[30, 40 + r] and out[30 - r, 40]
    assert np.array_equal(dilate(m, 0), m)


def test_back_side_closes_a_cylinder():
    """The visible half of a vertical cylinder (radius 4 cm on a table at y = 0.3 m, camera
    frame, y down) turned half a turn about its axis: the back lies behind the front and on
    the same circle; the silhouette swept back closes the sides; the strip below the lowest
    visible points is extruded down to the table."""
    r, c = 0.04, np.array([0.02, 0.3, 1.0])
    t = np.linspace(0, np.pi, 60)[1:-1]  # front half: facing the camera (-z side)
    h = np.linspace(0.01, 0.1, 10)  # seen from 1 cm above the table up
    T, Hh = np.meshgrid(t, h)
    P = np.stack([c[0] + r * np.cos(T.ravel()), c[1] - Hh.ravel(), c[2] - r * np.sin(T.ravel())],
                 1)
    N = (P - np.array([c[0], P[0, 1], c[2]])) * [1, 0, 1]
    N /= np.linalg.norm(N, axis=1, keepdims=True)
    plane = np.array([0.0, -1.0, 0.0, 0.3])  # y = 0.3, normal up (towards the camera)
    cf = completion_frame(P, N, plane[:3])
    assert cf.depth_from == "width" and cf.depth == pytest.approx(2 * r, rel=0.1)
    assert not cf.top.any()
    axis = cf.u_axis * cf.h + cf.s_axis * cf.side  # a point on the estimated axis
    assert np.hypot(axis[0] - c[0], axis[2] - c[2]) < 0.004
    Q, QN, keep = back_side(P, N, cf, plane)
    assert keep.all() and np.allclose(Q[:, 1], P[:, 1])  # heights kept
    assert (Q[:, 2] > c[2] - 0.005).mean() > 0.9  # behind the axis
    assert np.abs(np.hypot(Q[:, 0] - c[0], Q[:, 2] - c[2]) - r).max() < 0.006  # on the circle
    assert (QN[:, 2] > 0).mean() > 0.9  # back normals face away from the camera
    ends = np.abs(np.cos(T.ravel())) > np.cos(t[1])  # left and right silhouette columns
    S, SN, src = sweep_sides(P[ends], N[ends], np.full(ends.sum(), 0.001), cf)
    assert len(S) > 0 and np.array_equal(np.unique(src), np.arange(ends.sum()))
    assert np.abs(np.hypot(S[:, 0] - c[0], S[:, 2] - c[2]) - r).max() < 0.006  # on the wall
    assert abs(S[:, 1] - P[ends][src][:, 1]).max() < 1e-12  # swept horizontally
    lowest = Hh.ravel() == h[0]
    B, BN, bsrc = skirt(P[lowest], N[lowest], np.full(lowest.sum(), 0.002), plane)
    assert B[:, 1].max() <= 0.3 + 1e-9 and B[:, 1].min() > 0.29  # between 1 cm up and the table
    assert np.isclose(B[:, 1], 0.3).sum() == lowest.sum()  # every column reaches the table
    assert len(skirt(P[lowest] - [0, 0.05, 0], N[lowest], np.full(lowest.sum(), 0.002),
                     plane)[0]) == 0  # 6 cm up: an overhang, left alone


def test_back_side_of_a_turned_box_seen_from_above():
    """A 6 x 4 x 5 cm box turned 30 degrees about the vertical, seen from above: its top and
    two side faces are visible. The half turn about the estimated axis lands the side faces
    on the two hidden faces; the top is not duplicated."""
    yaw = np.radians(30.0)
    R = np.array([[np.cos(yaw), 0, -np.sin(yaw)], [0, 1, 0], [np.sin(yaw), 0, np.cos(yaw)]])
    centre = np.array([0.0, 0.3, 1.2])  # on the table (y = 0.3), box frame: y up is -y
    a, b, height = 0.03, 0.02, 0.05  # half extents and height
    g = np.linspace(-1, 1, 25)
    pts, nrm = [], []
    for y in np.linspace(0.005, height, 8):  # the two faces towards the camera (-z)
        for local, normal in ((np.stack([g * a, np.full(25, -b)], 1), (0.0, -1.0)),
                              (np.stack([np.full(25, -a), g * b], 1), (-1.0, 0.0))):
            pts.append(np.stack([local[:, 0], np.full(25, -y), local[:, 1]], 1))
            nrm.append(np.broadcast_to([normal[0], 0.0, normal[1]], (25, 3)))
    gx, gz = np.meshgrid(g * a, g * b)
    pts.append(np.stack([gx.ravel(), np.full(gx.size, -height), gz.ravel()], 1))  # the top
    nrm.append(np.broadcast_to([0.0, -1.0, 0.0], (gx.size, 3)))
    P = np.concatenate(pts) @ R.T + centre
    N = np.concatenate(nrm) @ R.T
    plane = np.array([0.0, -1.0, 0.0, 0.3])
    cf = completion_frame(P, N, plane[:3])
    assert cf.depth_from == "top" and cf.top.sum() == gx.size
    Q, QN, keep = back_side(P, N, cf, plane)
    assert not keep[-gx.size:].any()  # the top stays as it is
    local = (Q[keep] - centre) @ R  # box coordinates of the turned side faces
    on_far = np.isclose(local[:, 2], b, atol=0.003) | np.isclose(local[:, 0], a, atol=0.003)
    assert on_far.mean() > 0.95
    assert np.allclose(np.abs(QN[keep] @ R)[:, [0, 2]].max(1), 1.0)  # face normals, turned


def test_no_rubber_sheet_across_a_depth_step():
    """A near wall (left half, 1 m) beside a far wall (right half, 2 m). Seen from 20 cm to the
    right, a gap opens between them where nothing was observed: it must stay empty, not be
    bridged by stretched Gaussians, while both walls stay opaque."""
    H, W, f = 120, 160, 120.0
    K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1.0]])
    depth = np.full((H, W), 2.0, np.float32)
    depth[:, : W // 2] = 1.0
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[:, : W // 2] = (200, 40, 40)
    rgb[:, W // 2:] = (40, 40, 200)
    scene = lift(rgb, depth, K, refine_iterations=0)
    z = scene.background.means[:, 2].numpy()
    assert not ((z > 1.05) & (z < 1.95)).any()  # nothing between the walls
    footprint = z / f
    assert (scene.background.scales.max(dim=1).values.numpy() < 1.6 * footprint).all()
    moved = Camera(torch.from_numpy(K), frames.translation(0.2, 0.0, 0.0), W, H)
    alpha = scene.render(moved, labels=False)["alpha"][0].numpy()
    # Columns of the near wall's edge and the far wall's edge in the moved view.
    near_edge = W / 2 - f * 0.2 / 1.0
    far_edge = W / 2 - f * 0.2 / 2.0
    far_end = W - f * 0.2 / 2.0  # the far wall's right end (the photo's border)
    rows = slice(20, H - 20)
    gap = alpha[rows, int(near_edge) + 2: int(far_edge) - 2]
    assert gap.shape[1] >= 8 and gap.max() < 0.05
    assert alpha[rows, 10: int(near_edge) - 2].min() > 0.9
    assert alpha[rows, int(far_edge) + 2: int(far_end) - 2].min() > 0.9

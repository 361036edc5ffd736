"""Pixels to Gaussians: unprojection, depth discontinuities, normals, surface-aligned shapes.

Conventions: camera frame (OpenCV), metres. One Gaussian per (stride-s) pixel at the
unprojected pixel centre; its size comes from the pixel footprint ``z / f``; it is a disc in
the local surface plane (thin along the normal), stretched along the slant direction by
``1 / cos(theta)`` (capped) so slanted surfaces stay closed, and camera-facing wherever the
normal is unreliable (depth discontinuities, missing neighbours): such Gaussians never bridge
a depth step, so there are no "rubber sheets" between foreground and background.
"""

from __future__ import annotations

import numpy as np
import torch

from ..scene import frames
from ..scene.field import GaussianField, rgb_to_sh_dc


def pixel_rays(K: np.ndarray, height: int, width: int) -> np.ndarray:
    """Camera-frame rays with z = 1 through pixel centres, [H, W, 3]."""
    v, u = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
    return np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)


def discontinuities(depth: np.ndarray, abs_thresh: float, rel_thresh: float) -> np.ndarray:
    """bool [H, W]: pixels next (4-neighbourhood) to a depth step larger than
    ``abs_thresh + rel_thresh * z`` or to a missing depth value."""
    d = depth
    edge = np.zeros(d.shape, dtype=bool)
    for axis in (0, 1):
        a = np.take(d, np.arange(0, d.shape[axis] - 1), axis=axis)
        b = np.take(d, np.arange(1, d.shape[axis]), axis=axis)
        z = np.maximum(a, b)
        step = (np.abs(a - b) > abs_thresh + rel_thresh * z) | (a <= 0) | (b <= 0)
        lo = [slice(None)] * 2
        hi = [slice(None)] * 2
        lo[axis] = slice(0, -1)
        hi[axis] = slice(1, None)
        edge[tuple(lo)] |= step
        edge[tuple(hi)] |= step
    return edge & (d > 0)


def depth_normals(points: np.ndarray, valid: np.ndarray, reach: int = 2) -> tuple[np.ndarray,
                                                                                   np.ndarray]:
    """Normals [H, W, 3] from central differences of camera-frame points [H, W, 3] over
    ``reach`` pixels, facing the camera, and a bool map of where they are reliable (all four
    neighbours valid)."""
    P = points
    H, W, _ = P.shape
    n = np.zeros_like(P)
    ok = np.zeros((H, W), dtype=bool)
    r = reach
    dx = P[r:-r, 2 * r:] - P[r:-r, :-2 * r]
    dy = P[2 * r:, r:-r] - P[:-2 * r, r:-r]
    c = np.cross(dx, dy)
    norm = np.linalg.norm(c, axis=-1, keepdims=True)
    inner = valid[r:-r, 2 * r:] & valid[r:-r, :-2 * r] & valid[2 * r:, r:-r] & \
        valid[:-2 * r, r:-r] & valid[r:-r, r:-r] & (norm[..., 0] > 1e-12)
    nn = c / np.maximum(norm, 1e-12)
    flip = (nn * P[r:-r, r:-r]).sum(-1) > 0  # face the camera (at the origin)
    nn[flip] *= -1
    n[r:-r, r:-r] = nn
    ok[r:-r, r:-r] = inner
    return n, ok


def surface_gaussians(points: np.ndarray, normals: np.ndarray, rgb: np.ndarray,
                      footprint: np.ndarray, thickness: float = 0.15,
                      max_stretch: float = 3.0, opacity: float = 0.98) -> GaussianField:
    """Flat Gaussians at ``points`` [M, 3] (camera frame) with unit ``normals`` [M, 3] facing
    the camera, colours ``rgb`` [M, 3] in [0, 1] and in-plane size ``footprint`` [M] (metres).

    Local axes: a1 along the slant (the view ray projected into the surface plane) with scale
    footprint / max(cos theta, 1 / max_stretch), a2 = n x a1 with scale footprint, and n with
    scale thickness * footprint.
    """
    P = np.asarray(points, dtype=np.float64)
    n = np.asarray(normals, dtype=np.float64)
    ray = P / np.maximum(np.linalg.norm(P, axis=-1, keepdims=True), 1e-12)
    cos = np.abs((ray * n).sum(-1))
    a1 = ray - (ray * n).sum(-1, keepdims=True) * n
    a1_norm = np.linalg.norm(a1, axis=-1, keepdims=True)
    # Head-on surfaces have no slant direction: any in-plane axis will do.
    fallback = np.cross(n, np.array([1.0, 0.0, 0.0]))
    fallback_bad = np.linalg.norm(fallback, axis=-1, keepdims=True) < 1e-6
    fallback = np.where(fallback_bad, np.cross(n, np.array([0.0, 1.0, 0.0])), fallback)
    a1 = np.where(a1_norm > 1e-6, a1 / np.maximum(a1_norm, 1e-12),
                  fallback / np.maximum(np.linalg.norm(fallback, axis=-1, keepdims=True), 1e-12))
    a2 = np.cross(n, a1)
    R = np.stack([a1, a2, n], axis=-1)  # columns
    fp = np.asarray(footprint, dtype=np.float64)
    scales = np.stack([fp / np.maximum(cos, 1.0 / max_stretch), fp, thickness * fp], -1)
    quats = frames.rotmat_to_quat(torch.from_numpy(R))
    M = P.shape[0]
    sh = rgb_to_sh_dc(torch.as_tensor(np.asarray(rgb), dtype=torch.float32))[:, None, :]
    return GaussianField(torch.from_numpy(P).float(), quats.float(),
                         torch.from_numpy(scales).float(), torch.full((M,), float(opacity)), sh)

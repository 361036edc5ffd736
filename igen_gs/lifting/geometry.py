"""Pixels to Gaussians: unprojection, depth discontinuities, normals, surface-aligned shapes.

Conventions: camera frame (OpenCV), metres. One Gaussian per (stride-s) pixel at the
unprojected pixel centre; its size comes from the pixel footprint ``z / f``; it is a disc in
the local surface plane (thin along the normal), stretched along the slant direction by
``1 / cos(theta)`` (capped) so slanted surfaces stay closed. Normals come only from
neighbours on the same side of any depth discontinuity, and a pixel without such neighbours
gets a camera-facing disc: no Gaussian is oriented along, or stretched across, a depth step,
and every centre is an observed point, so there are no "rubber sheets" between foreground
and background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..rotations import rotmat_to_quat_np
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


def shift(a: np.ndarray, dv: int, du: int, fill=0) -> np.ndarray:
    """``out[v, u] = a[v + dv, u + du]`` for an image [H, W, ...]; ``fill`` beyond its
    borders."""
    H, W = a.shape[:2]
    out = np.full_like(a, fill)
    out[max(0, -dv):H - max(0, dv), max(0, -du):W - max(0, du)] = \
        a[max(0, dv):H - max(0, -dv), max(0, du):W - max(0, -du)]
    return out


def depth_normals(points: np.ndarray, depth: np.ndarray, abs_thresh: float, rel_thresh: float,
                  reach: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Surface normals [H, W, 3] of camera-frame points [H, W, 3] (depth [H, W], 0 = none),
    facing the camera, and a bool map of where they exist.

    Tangents come from the neighbours ``reach`` pixels away on the same surface only (depth
    within ``abs_thresh + rel_thresh * z``, as :func:`discontinuities`): central differences
    where both sides qualify, one-sided ones where one does. So pixels beside a depth step get
    the normal of their own surface, never one tilted across the step; pixels with no
    same-surface neighbour along x or along y have none.
    """
    P = np.asarray(points, dtype=np.float64)
    d = np.asarray(depth, dtype=np.float64)
    r = reach

    def same(dn: np.ndarray) -> np.ndarray:
        return (d > 0) & (dn > 0) & (np.abs(dn - d) <= abs_thresh + rel_thresh * np.maximum(d, dn))

    tangents = []
    for (dv, du) in ((0, r), (r, 0)):
        Pf, Pb = shift(P, dv, du, 0.0), shift(P, -dv, -du, 0.0)
        f_ok, b_ok = same(shift(d, dv, du, 0.0)), same(shift(d, -dv, -du, 0.0))
        t = np.where((f_ok & b_ok)[..., None], Pf - Pb,
                     np.where(f_ok[..., None], Pf - P, np.where(b_ok[..., None], P - Pb, 0.0)))
        tangents.append((t, f_ok | b_ok))
    (tx, okx), (ty, oky) = tangents
    n = np.cross(tx, ty)
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    ok = okx & oky & (norm[..., 0] > 1e-12)
    n = np.where(ok[..., None], n / np.maximum(norm, 1e-12), 0.0)
    flip = (n * P).sum(-1) > 0  # face the camera (at the origin)
    n[flip] *= -1
    return n, ok


def occludes_observed(points: np.ndarray, K: np.ndarray, depth: np.ndarray,
                      margin: float) -> np.ndarray:
    """bool [M]: camera-frame ``points`` [M, 3] that the photo contradicts -- they project
    into the image onto a pixel with observed ``depth`` [H, W] (metres, 0 = none) and lie more
    than ``margin`` metres in front of it, so the photo would have shown them."""
    P = np.asarray(points, dtype=np.float64)
    H, W = depth.shape
    z = P[:, 2]
    out = np.zeros(len(P), dtype=bool)
    ahead = z > 1e-6
    u = np.floor(K[0, 0] * P[ahead, 0] / z[ahead] + K[0, 2]).astype(np.int64)
    v = np.floor(K[1, 1] * P[ahead, 1] / z[ahead] + K[1, 2]).astype(np.int64)
    inside = (u >= 0) & (u < W) & (v >= 0) & (v < H)
    d = np.zeros(len(u))
    d[inside] = depth[v[inside], u[inside]]
    idx = np.flatnonzero(ahead)
    out[idx] = inside & (d > 0) & (z[ahead] < d - margin)
    return out


def surface_frames(points: np.ndarray, normals: np.ndarray, footprint: np.ndarray,
                   thickness: float = 0.15, max_stretch: float = 3.0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Axes and sizes of flat Gaussians at camera-frame ``points`` [M, 3] with unit ``normals``
    [M, 3] and in-plane size ``footprint`` [M] (metres).

    Returns (R [M, 3, 3] with columns a1, a2, n; scales [M, 3]): a1 lies along the slant (the
    view ray projected into the surface plane) with scale footprint / max(cos theta,
    1 / max_stretch), a2 = n x a1 with scale footprint, and n with scale thickness *
    footprint. Camera-facing normals (n = -ray) give round discs.
    """
    P = np.asarray(points, dtype=np.float64)
    n = np.asarray(normals, dtype=np.float64)
    ray = P / np.maximum(np.linalg.norm(P, axis=-1, keepdims=True), 1e-12)
    along = np.einsum("ij,ij->i", ray, n)
    cos = np.abs(along)
    a1 = ray - along[:, None] * n
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
    return R, scales


@dataclass
class Splats:
    """Gaussians under construction, in one frame (camera frame during lifting).

    points [M, 3] metres, R [M, 3, 3] local axes (columns), scales [M, 3] metres, rgb [M, 3]
    in [0, 1], pix [M] the flat index of the photo pixel each one reproduces (-1 for
    completed, unseen surfaces).
    """

    points: np.ndarray
    R: np.ndarray
    scales: np.ndarray
    rgb: np.ndarray
    pix: np.ndarray

    def __len__(self) -> int:
        return len(self.points)

    def subset(self, keep: np.ndarray) -> Splats:
        return Splats(self.points[keep], self.R[keep], self.scales[keep], self.rgb[keep],
                      self.pix[keep])

    @staticmethod
    def concat(parts: list[Splats]) -> Splats:
        return Splats(*(np.concatenate([getattr(p, k) for p in parts]) for k in
                        ("points", "R", "scales", "rgb", "pix")))

    def to_field(self, T_new_cam: np.ndarray, opacity: float) -> GaussianField:
        """A :class:`GaussianField` in the frame ``new``, given ``T_new_cam`` [4, 4]."""
        T = np.asarray(T_new_cam, dtype=np.float64)
        P = self.points @ T[:3, :3].T + T[:3, 3]
        quats = rotmat_to_quat_np(np.einsum("ij,mjk->mik", T[:3, :3], self.R))
        rgb = torch.from_numpy(np.ascontiguousarray(self.rgb, dtype=np.float32))
        return GaussianField(torch.from_numpy(P).float(), torch.from_numpy(quats).float(),
                             torch.from_numpy(self.scales).float(),
                             torch.full((len(P),), float(opacity)), rgb_to_sh_dc(rgb)[:, None])


def surface_splats(points: np.ndarray, normals: np.ndarray, rgb: np.ndarray,
                   footprint: np.ndarray, pix: np.ndarray, thickness: float = 0.15,
                   max_stretch: float = 3.0) -> Splats:
    """:class:`Splats` at ``points`` [M, 3] (camera frame) with unit ``normals`` [M, 3],
    colours ``rgb`` [M, 3] in [0, 1], in-plane size ``footprint`` [M] (metres) and photo pixel
    indices ``pix`` [M] (see :func:`surface_frames`)."""
    R, scales = surface_frames(points, normals, footprint, thickness, max_stretch)
    return Splats(np.asarray(points, dtype=np.float64), R, scales,
                  np.asarray(rgb, dtype=np.float32), np.asarray(pix, dtype=np.int64))

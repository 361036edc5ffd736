"""Stage "pixels": the photo's depth as per-pixel camera-frame geometry (rays, points, normals,
the stride grid) and the one way pixels become splats.

:func:`pixel_geometry` is computed once per photo; every later stage reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import LiftConfig
from .geometry import Splats, depth_normals, discontinuities, pixel_rays, surface_splats


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """bool [H, W]: pixels within ``pixels`` (Euclidean distance between pixel centres) of
    ``mask``."""
    import cv2

    mask = np.asarray(mask, dtype=bool)
    if pixels <= 0 or not mask.any():
        return mask.copy()
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return dist <= pixels + 1e-3


def tie_break_offsets(height: int, width: int, step_m: float) -> np.ndarray:
    """Depth offsets [H, W] (metres): ``step_m`` times (u mod 2) + 2 (v mod 2), so that every
    pixel's depth differs from its 8 neighbours'. Depth sensors quantise (Kinect: whole
    millimetres), so neighbouring splats of one surface often share a depth exactly; their
    blending order is then decided by floating-point noise of the view, and the refined colours
    (tuned for one order) would not survive a change of the view by 1e-5 rad."""
    v, u = np.mgrid[0:height, 0:width]
    return (step_m * ((u % 2) + 2 * (v % 2))).astype(np.float32)


@dataclass
class PixelGeometry:
    """Per-pixel geometry of the photo in the input camera's frame (OpenCV, metres).

    ``depth`` [H, W] is the metric depth plus :func:`tie_break_offsets` (0 = no measurement,
    ``valid`` marks the others); ``rays`` [H, W, 3] have z = 1, ``points`` = rays * depth;
    ``normals`` [H, W, 3] face the camera (same-side neighbours only; camera-facing where there
    are none). ``grid`` marks the stride-s pixels that get a splat, ``flat`` is each pixel's
    flat index, ``focal`` the mean focal length (pixels).
    """

    K: np.ndarray
    rays: np.ndarray
    depth: np.ndarray
    valid: np.ndarray
    points: np.ndarray
    normals: np.ndarray
    grid: np.ndarray
    flat: np.ndarray
    focal: float
    stride: int
    discontinuity_pixels: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.depth.shape

    def splats(self, sel: np.ndarray, depth: np.ndarray, colours: np.ndarray,
               normals: np.ndarray, cfg: LiftConfig, pix: np.ndarray | None = None) -> Splats:
        """Splats of the selected pixels ``sel`` [H, W] at ``depth`` [H, W] with ``colours``
        (uint8 [H, W, 3]) and ``normals`` [H, W, 3]; each is tied to its own pixel (``pix``
        [N] overrides: -1 = no pixel of the photo), sized by the pixel footprint."""
        z = depth[sel]
        return surface_splats(self.rays[sel] * z[:, None], normals[sel],
                              colours[sel].astype(np.float32) / 255.0,
                              cfg.footprint_scale * self.stride * z / self.focal,
                              self.flat[sel] if pix is None else pix, cfg.thickness,
                              cfg.max_stretch)


def pixel_geometry(depth: np.ndarray, K: np.ndarray, cfg: LiftConfig) -> PixelGeometry:
    """:class:`PixelGeometry` of a metric depth map [H, W] (0 = none) seen with intrinsics K."""
    H, W = depth.shape
    rays = pixel_rays(K, H, W)
    valid = depth > 0
    depth = np.where(valid, depth + tie_break_offsets(H, W, cfg.tie_break_m), 0.0)
    P = rays * depth[..., None]
    edge = discontinuities(depth, cfg.edge_abs_m, cfg.edge_rel)
    normals, normal_ok = depth_normals(P, depth, cfg.edge_abs_m, cfg.edge_rel)
    facing = -rays / np.linalg.norm(rays, axis=-1, keepdims=True)
    normals = np.where(normal_ok[..., None], normals, facing)
    s = cfg.stride
    grid = np.zeros((H, W), dtype=bool)
    grid[s // 2::s, s // 2::s] = True
    return PixelGeometry(K=K, rays=rays, depth=depth, valid=valid, points=P, normals=normals,
                         grid=grid, flat=np.arange(H * W).reshape(H, W),
                         focal=0.5 * (K[0, 0] + K[1, 1]), stride=s,
                         discontinuity_pixels=int(edge.sum()))

"""Completion of what the photo does not show.

Background: where objects stand, the colour is inpainted (OpenCV Telea by default, pluggable)
and the depth comes from a plane fitted (RANSAC) to the background in a ring around each object
and extended under it -- if that local plane has >= 50 % inliers and lies within 30 degrees of
the support plane, else the support plane itself; where no plane is hit, the depth is
inpainted too.
Moving an object then reveals table, not a hole.

Objects: a back side by mirroring. For each object, let h be the horizontal viewing direction
(the mean view ray projected onto the support plane) and u = p . h the distance of a visible
point along it. Visible points whose normal is within 30 degrees of "up" are tops. The
object's depth along h is the visible depth range (1st to 99th percentile of u) when at
least 10 % of the points are top -- a top seen from above spans the whole object --, else its
visible width across the view (extent along the in-plane direction orthogonal to h) clamped
to [0.5, 2] times the visible depth range plus 1 cm, assuming a roughly round or square
footprint; extents are padded by the dropped mask-edge ring at both ends. Every non-top point
is mirrored through the plane u = u_front + depth / 2 (u_front = the 1st percentile of u,
less the pad), its normal mirrored likewise; mirrored points below the support
plane are dropped. Fronts become backs, tops stay tops (they are not duplicated). The left and
right silhouette points are also swept along h to their mirror images (sampled at their
footprint), closing the sides between front and back, and the bottom silhouette points less
than 3 cm above the support plane are extruded down to it before mirroring (the strip hidden
by the mask's edge ring and the contact shadow). Finally the pipeline drops completed
points the photo contradicts (they would appear in front of an observed surface). Turning or
lifting the object then shows a closed shell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .support import fit_plane_ransac, intersect_rays, orient_towards

TOP_COS = float(np.cos(np.radians(30.0)))
"""Visible points whose normal is within 30 degrees of "up" are tops: not mirrored."""
MIN_LOCAL_COS = float(np.cos(np.radians(30.0)))
"""A local plane under an object must be within 30 degrees of the support plane (else it is a
wall or another object's side, and the support plane is used)."""


def inpaint_telea(rgb: np.ndarray, region: np.ndarray, radius: float = 5.0) -> np.ndarray:
    """Default colour inpainting (OpenCV, Telea's method). rgb uint8 [H, W, 3]."""
    import cv2

    return cv2.inpaint(rgb, region.astype(np.uint8) * 255, radius, cv2.INPAINT_TELEA)


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """bool [H, W]: pixels within ``pixels`` (Euclidean distance between pixel centres) of
    ``mask``."""
    import cv2

    mask = np.asarray(mask, dtype=bool)
    if pixels <= 0 or not mask.any():
        return mask.copy()
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return dist <= pixels + 1e-3


def complete_background(rgb: np.ndarray, depth: np.ndarray, rays: np.ndarray,
                        object_masks: dict[str, np.ndarray], support_plane: np.ndarray | None,
                        background_valid: np.ndarray, *, grow: int = 3, ring: int = 25,
                        plane_threshold: float = 0.01, seed: int = 0,
                        inpaint: Callable[[np.ndarray, np.ndarray], np.ndarray] = inpaint_telea
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Colour and depth for the pixels hidden by objects.

    Returns (rgb_filled uint8 [H, W, 3], depth_filled [H, W], region bool [H, W], info) where
    region marks the filled pixels (object masks grown by ``grow`` px) and info records which
    plane each object's region used.
    """
    region = np.zeros(depth.shape, dtype=bool)
    for m in object_masks.values():
        region |= dilate(m, grow)
    rgb_f = inpaint(rgb, region) if region.any() else rgb.copy()
    depth_f = depth.copy()
    depth_f[region] = np.nan
    info = {}
    for name, m in object_masks.items():
        inner = dilate(m, grow)
        around = dilate(m, ring) & ~inner & background_valid
        plane, source = None, "global support plane"
        if around.sum() >= 200:
            pts = rays[around] * depth[around][:, None]
            try:
                p, inl = fit_plane_ransac(pts, plane_threshold, iterations=200, seed=seed)
                p = orient_towards(p, np.zeros(3))
                agrees = support_plane is None or p[:3] @ support_plane[:3] > MIN_LOCAL_COS
                if inl.mean() > 0.5 and agrees:
                    plane, source = p, "local plane (RANSAC)"
            except ValueError:
                plane = None
        if plane is None:
            plane = support_plane
        info[name] = source if plane is not None else "depth inpainting"
        if plane is not None:
            z = intersect_rays(plane, rays[inner])
            cur = depth_f[inner]
            depth_f[inner] = np.where(np.isnan(cur), z, np.fmax(cur, z))
    missing = region & ~np.isfinite(depth_f)
    if missing.any():
        import cv2

        d = np.nan_to_num(depth_f, nan=0.0).astype(np.float32)
        depth_f[missing] = cv2.inpaint(d, missing.astype(np.uint8), 5, cv2.INPAINT_TELEA)[missing]
    depth_f = np.where(np.isfinite(depth_f) & (depth_f > 0), depth_f, 0.0).astype(np.float32)
    return rgb_f, depth_f, region, info


@dataclass
class MirrorPlane:
    """Where an object's back side is mirrored (camera frame): the plane p . h = u_mirror,
    with h the horizontal viewing direction (unit, along the support plane); ``top`` [M] marks
    the object's top points (not mirrored); ``depth`` is the estimated extent along h."""

    h: np.ndarray
    u_mirror: float
    top: np.ndarray
    depth: float
    depth_from: str
    width: float


def mirror_plane(points: np.ndarray, normals: np.ndarray, up: np.ndarray, pad: float = 0.0,
                 top_cos: float = TOP_COS) -> MirrorPlane:
    """The mirror plane of one object's visible points [M, 3] with unit normals [M, 3] (camera
    frame, camera at the origin) standing on a plane with normal ``up``; see the module
    docstring. ``pad`` (metres) is added at each end of the measured extents: the width of the
    mask-edge ring dropped from the silhouette."""
    P = np.asarray(points, dtype=np.float64)
    Nrm = np.asarray(normals, dtype=np.float64)
    up = up / np.linalg.norm(up)
    view = P.mean(0)
    h = view - (view @ up) * up
    if np.linalg.norm(h) < 1e-6:  # looking straight down: mirror along the view ray instead
        h = view
    h = h / np.linalg.norm(h)
    side = np.cross(up, h)
    u = P @ h
    top = Nrm @ up > top_cos
    width = float(np.percentile(P @ side, 99) - np.percentile(P @ side, 1)) + 2 * pad
    visible_depth = float(np.percentile(u, 99) - np.percentile(u, 1)) + 2 * pad
    if top.sum() >= max(10, 0.1 * len(P)):
        depth, how = visible_depth, "top"
    else:
        depth = float(np.clip(width, 0.5 * visible_depth, 2.0 * visible_depth + 0.01))
        how = "width"
    u_front = float(np.percentile(u, 1)) - pad
    return MirrorPlane(h, u_front + depth / 2, top, depth, how, width)


def mirror_back_side(points: np.ndarray, normals: np.ndarray, mp: MirrorPlane,
                     plane: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Back-side points [M, 3] and normals [M, 3]: every visible point (camera frame) and its
    normal mirrored through ``mp``. Returns (points, normals, keep): ``keep`` [M] is False for
    tops (not mirrored) and for mirrored points below the support ``plane``."""
    P = np.asarray(points, dtype=np.float64)
    Nrm = np.asarray(normals, dtype=np.float64)
    Q = P + 2 * (mp.u_mirror - P @ mp.h)[:, None] * mp.h
    N = Nrm - 2 * (Nrm @ mp.h)[:, None] * mp.h
    keep = ~mp.top
    if plane is not None:
        keep &= Q @ plane[:3] + plane[3] > -1e-3  # not below the support plane
    return Q, N, keep


def skirt(points: np.ndarray, normals: np.ndarray, spacing: np.ndarray, plane: np.ndarray,
          max_height: float = 0.03) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hidden strip between an object's lowest visible points and the support plane:
    each given point (the bottom of the object's silhouette in the photo, camera frame) less
    than ``max_height`` metres above ``plane`` is extruded straight down to it, sampled every
    ``spacing`` [M] metres (the point itself excluded, the plane included). Higher points are
    overhangs and are left alone. Returns (points [K, 3], normals [K, 3], source index [K])."""
    P = np.asarray(points, dtype=np.float64)
    up = plane[:3] / np.linalg.norm(plane[:3])
    height = P @ up + plane[3]
    count = np.where((height > 0) & (height < max_height),
                     np.ceil(height / np.maximum(spacing, 1e-6)), 0).astype(np.int64)
    src = np.repeat(np.arange(len(P)), count)
    step = np.arange(len(src)) - np.repeat(np.cumsum(count) - count, count) + 1  # 1..count
    Q = P[src] - (step / count[src] * height[src])[:, None] * up
    N = normals[src] - (normals[src] @ up)[:, None] * up
    norm = np.linalg.norm(N, axis=1, keepdims=True)
    N = np.where(norm > 1e-6, N / np.maximum(norm, 1e-12), normals[src])
    return Q, N, src


def sweep_sides(points: np.ndarray, normals: np.ndarray, spacing: np.ndarray,
                mp: MirrorPlane) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Side walls joining the visible front to the mirrored back: each given point (the
    object's left and right silhouette in the photo, camera frame) is swept along h to its
    mirror image, sampled every ``spacing`` [M] metres, both ends excluded. Normals are the
    points' own with their h component removed. Returns (points [K, 3], normals [K, 3],
    source index [K] into the given points)."""
    P = np.asarray(points, dtype=np.float64)
    travel = 2 * (mp.u_mirror - P @ mp.h)  # signed distance to the mirror image along h
    count = np.maximum(np.floor(np.abs(travel) / np.maximum(spacing, 1e-6)).astype(np.int64) - 1,
                       0)
    src = np.repeat(np.arange(len(P)), count)
    step = np.arange(len(src)) - np.repeat(np.cumsum(count) - count, count) + 1  # 1..count
    t = step / (count[src] + 1)
    Q = P[src] + (t * travel[src])[:, None] * mp.h
    N = normals[src] - (normals[src] @ mp.h)[:, None] * mp.h
    norm = np.linalg.norm(N, axis=1, keepdims=True)
    N = np.where(norm > 1e-6, N / np.maximum(norm, 1e-12), -mp.h)
    return Q, N, src

"""Completion of what the photo does not show.

Background: where objects stand, the colour is inpainted (OpenCV Telea by default, pluggable)
and the depth comes from a plane fitted (RANSAC) to the background in a ring around each object
and extended under it -- if that local plane has >= 50 % inliers and lies within 30 degrees of
the support plane, else the support plane itself; where no plane is hit, the depth is
inpainted too.
Moving an object then reveals table, not a hole.

Objects: a back side by a half turn. For each object, let h be the horizontal viewing
direction (the mean view ray projected onto the support plane), side = up x h, and (u, s) a
visible point's coordinates along them. Visible points whose normal is within 30 degrees of
"up" are tops. When at least 10 % of the points are top, the top's extent along h (1st to
99th percentile of u) is the object's depth -- a top seen from above spans the whole object
-- and u_front is where it starts; else u_front is where the visible points start and the
depth is the width of the body (the median extent of s over the narrower half of 12
horizontal slices, so that a handle does not count) clamped to [0.5, 2] times the points'
depth range plus 1 cm, assuming a roughly round or square footprint. Extents are padded by
the dropped mask-edge ring at both ends. The object's vertical axis is taken at u = u_front +
depth / 2 and at the middle of the s range of the top (or of the body's slices).
Every non-top point is turned half a turn about that axis (u and s reflected through it,
height kept), its normal likewise: this reproduces the hidden half of a cylinder, and the
hidden faces of a box at any yaw whose top is seen (otherwise up to the error of its assumed
depth); other shapes get a plausible, centrally symmetric back (a mug's handle appears
twice).
Turned points below the support plane are dropped; tops stay tops (not duplicated). The left
and right silhouette points are also swept along h to their reflections through the axis
(sampled at their footprint), closing the sides where the surface turns away faster than the
pixels sample it, and the bottom silhouette points less than 3 cm above the support plane
are extruded down to it before turning (the strip hidden by the mask's edge ring and the
contact shadow). Finally the pipeline drops completed points the photo contradicts (they
would appear in front of an observed surface). Turning or lifting the object then shows a
closed shell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .pixels import dilate
from .support import fit_plane_ransac, intersect_rays, orient_towards

TOP_COS = float(np.cos(np.radians(30.0)))
"""Visible points whose normal is within 30 degrees of "up" are tops: not turned."""
MIN_LOCAL_COS = float(np.cos(np.radians(30.0)))
"""A local plane under an object must be within 30 degrees of the support plane (else it is a
wall or another object's side, and the support plane is used)."""


def inpaint_telea(rgb: np.ndarray, region: np.ndarray, radius: float = 5.0) -> np.ndarray:
    """Default colour inpainting (OpenCV, Telea's method). rgb uint8 [H, W, 3]."""
    import cv2

    return cv2.inpaint(rgb, region.astype(np.uint8) * 255, radius, cv2.INPAINT_TELEA)


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
class CompletionFrame:
    """Horizontal frame of one object for its completion (camera frame, metres): ``h`` the
    horizontal viewing direction and ``side`` = up x h (unit vectors along the support plane);
    the estimated vertical axis of the object passes through u = p . h = ``u_axis`` and
    s = p . side = ``s_axis``; ``depth`` and ``width`` are its estimated extents along h and
    side; ``top`` [M] marks the visible points that are tops (not turned)."""

    h: np.ndarray
    side: np.ndarray
    u_axis: float
    s_axis: float
    depth: float
    depth_from: str
    width: float
    top: np.ndarray


def completion_frame(points: np.ndarray, normals: np.ndarray, up: np.ndarray, pad: float = 0.0,
                     top_cos: float = TOP_COS) -> CompletionFrame:
    """The :class:`CompletionFrame` of one object's visible points [M, 3] with unit normals
    [M, 3] (camera frame, camera at the origin) standing on a plane with normal ``up``; see
    the module docstring. ``pad`` (metres) is added at each end of the measured extents: the
    width of the mask-edge ring dropped from the silhouette."""
    P = np.asarray(points, dtype=np.float64)
    Nrm = np.asarray(normals, dtype=np.float64)
    up = up / np.linalg.norm(up)
    view = P.mean(0)
    h = view - (view @ up) * up
    if np.linalg.norm(h) < 1e-6:  # looking straight down: any horizontal direction will do
        h = np.cross(up, [1.0, 0.0, 0.0]) if abs(up[0]) < 0.9 else np.cross(up, [0.0, 1.0, 0.0])
    h = h / np.linalg.norm(h)
    side = np.cross(up, h)
    u, sv = P @ h, P @ side
    top = Nrm @ up > top_cos
    if top.sum() >= max(10, 0.1 * len(P)):
        u_front, u_back = np.percentile(u[top], [1, 99])
        u_front -= pad
        depth, how = float(u_back + pad - u_front), "top"
        s_lo, s_hi = np.percentile(sv[top], [1, 99])
        width, s_axis = float(s_hi - s_lo) + 2 * pad, 0.5 * float(s_lo + s_hi)
    else:
        width, s_axis = _body_width(sv, P @ up)
        width += 2 * pad
        u_front = float(np.percentile(u, 1)) - pad
        visible_depth = float(np.percentile(u, 99)) + pad - u_front
        depth = float(np.clip(width, 0.5 * visible_depth, 2.0 * visible_depth + 0.01))
        how = "width"
    return CompletionFrame(h, side, float(u_front) + depth / 2, s_axis, depth, how, width, top)


def _body_width(s: np.ndarray, height: np.ndarray, bins: int = 12) -> tuple[float, float]:
    """(width, middle) of an object's body across the view: the points (coordinates ``s``
    across, ``height`` up, [M]) are cut into ``bins`` horizontal slices; among the slices with
    >= 5 points, the narrower half (by their 1st-99th percentile extent of s) gives the median
    extent and the median middle -- so a handle or other protrusion at some heights does not
    widen the body."""
    edges = np.linspace(height.min(), height.max() + 1e-9, bins + 1)
    slot = np.clip(np.searchsorted(edges, height, side="right") - 1, 0, bins - 1)
    extents, middles = [], []
    for b in range(bins):
        sb = s[slot == b]
        if len(sb) >= 5:
            lo, hi = np.percentile(sb, [1, 99])
            extents.append(hi - lo)
            middles.append(0.5 * (lo + hi))
    if not extents:
        lo, hi = np.percentile(s, [1, 99])
        return float(hi - lo), float(0.5 * (lo + hi))
    extents, middles = np.array(extents), np.array(middles)
    narrow = extents <= np.median(extents)
    return float(np.median(extents[narrow])), float(np.median(middles[narrow]))


def back_side(points: np.ndarray, normals: np.ndarray, cf: CompletionFrame,
              plane: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Back-side points [M, 3] and normals [M, 3]: visible points (camera frame) and their
    normals turned half a turn about the object's vertical axis (both horizontal coordinates
    reflected through it, heights kept). Returns (points, normals, keep): ``keep`` [M] is False
    for tops (not turned) and for turned points below the support ``plane``."""
    P = np.asarray(points, dtype=np.float64)
    Nrm = np.asarray(normals, dtype=np.float64)
    Q = P + 2 * (cf.u_axis - P @ cf.h)[:, None] * cf.h + \
        2 * (cf.s_axis - P @ cf.side)[:, None] * cf.side
    N = Nrm - 2 * (Nrm @ cf.h)[:, None] * cf.h - 2 * (Nrm @ cf.side)[:, None] * cf.side
    keep = ~cf.top
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
                cf: CompletionFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Side walls joining the visible front to the back: each given point (the object's left
    and right silhouette in the photo, camera frame) is swept along h to its reflection
    through u = u_axis, sampled every ``spacing`` [M] metres, both ends excluded. Normals are
    the points' own with their h component removed. Returns (points [K, 3], normals [K, 3],
    source index [K] into the given points)."""
    P = np.asarray(points, dtype=np.float64)
    travel = 2 * (cf.u_axis - P @ cf.h)  # signed distance to the reflection along h
    count = np.maximum(np.floor(np.abs(travel) / np.maximum(spacing, 1e-6)).astype(np.int64) - 1,
                       0)
    src = np.repeat(np.arange(len(P)), count)
    step = np.arange(len(src)) - np.repeat(np.cumsum(count) - count, count) + 1  # 1..count
    t = step / (count[src] + 1)
    Q = P[src] + (t * travel[src])[:, None] * cf.h
    N = normals[src] - (normals[src] @ cf.h)[:, None] * cf.h
    norm = np.linalg.norm(N, axis=1, keepdims=True)
    N = np.where(norm > 1e-6, N / np.maximum(norm, 1e-12), -cf.h)
    return Q, N, src

"""Stage "support": the plane the objects stand on (:func:`fit_support_plane`), and the plane
tools it and completion use: seeded RANSAC fit with least-squares refinement, ray-plane
intersection, change of frame.

A plane is ``(a, b, c, d)`` with ``a x + b y + c z + d = 0`` and (a, b, c) a unit normal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import LiftConfig
from .pixels import dilate


def fit_plane_ransac(points: np.ndarray, threshold: float = 0.01, iterations: int = 300,
                     seed: int = 0, max_points: int = 20000, up_hint: np.ndarray | None = None,
                     min_up_cos: float = -0.17) -> tuple[np.ndarray, np.ndarray]:
    """The plane with the most inliers (distance < ``threshold`` m) among ``iterations``
    3-point hypotheses, refined by least squares on its inliers. Returns (plane [4],
    inlier mask [N]). Raises ValueError with fewer than 3 points.

    Points are in a frame with the viewer at the origin. With ``up_hint`` (a unit vector, e.g.
    the camera's up -y), hypotheses whose normal, turned towards the origin, makes
    ``normal . up_hint < min_up_cos`` (faces downwards by more than about 10 degrees) are
    skipped -- they cannot support anything -- unless no hypothesis passes, in which case the
    hint is ignored.
    """
    P = np.asarray(points, dtype=np.float64)
    if P.shape[0] < 3:
        raise ValueError("need at least 3 points to fit a plane")
    rng = np.random.default_rng(seed)
    sub = P if P.shape[0] <= max_points else P[rng.choice(P.shape[0], max_points, replace=False)]
    # All hypotheses at once: normals [I, 3] and offsets [I] from random point triples
    # (degenerate triples have no normal and are skipped).
    a, b, c = (sub[rng.integers(0, len(sub), iterations)] for _ in range(3))
    n = np.cross(b - a, c - a)
    norm = np.linalg.norm(n, axis=1)
    ok = norm > 1e-12
    if not ok.any():
        raise ValueError("all points are collinear: no plane")
    n = n[ok] / norm[ok, None]
    d = -(n * a[ok]).sum(1)
    counts = np.zeros(len(n), dtype=np.int64)
    for lo in range(0, len(sub), 4096):
        counts += (np.abs(sub[lo:lo + 4096] @ n.T + d) < threshold).sum(0)
    if up_hint is not None:
        facing_up = (n * np.where(d < 0, -1.0, 1.0)[:, None]) @ up_hint >= min_up_cos
        if facing_up.any():
            counts = np.where(facing_up, counts, -1)
    k = int(counts.argmax())
    best = np.append(n[k], d[k])
    inliers = np.abs(P @ best[:3] + best[3]) < threshold
    if inliers.sum() >= 3:
        Q = P[inliers]
        centre = Q.mean(0)
        _, _, vt = np.linalg.svd(Q - centre, full_matrices=False)
        n = vt[-1]
        if n @ best[:3] < 0:
            n = -n
        best = np.append(n, -n @ centre)
        inliers = np.abs(P @ best[:3] + best[3]) < threshold
    return best, inliers


def orient_towards(plane: np.ndarray, point: np.ndarray) -> np.ndarray:
    """The same plane with its normal pointing to the side of ``point``."""
    plane = np.asarray(plane, dtype=np.float64)
    if plane[:3] @ point + plane[3] < 0:
        return -plane
    return plane


def intersect_rays(plane: np.ndarray, rays: np.ndarray) -> np.ndarray:
    """Camera depth (z of the hit, for rays from the origin with z = 1) where rays [..., 3]
    meet the plane; NaN where they miss (parallel or behind the camera)."""
    denom = rays @ plane[:3]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -plane[3] / denom
    return np.where((np.abs(denom) > 1e-9) & (t > 0), t, np.nan)


def transform_plane(plane: np.ndarray, T_new_old: np.ndarray) -> np.ndarray:
    """Plane given in frame "old" -> the same plane in frame "new"."""
    R, t = T_new_old[:3, :3], T_new_old[:3, 3]
    n = R @ plane[:3]
    d = plane[3] - n @ t
    return np.append(n, d)


@dataclass
class SupportPlane:
    """The support plane (a, b, c, d) [4] in the camera frame, normal towards the camera, and
    the fraction of the fitted points that are its inliers."""

    plane: np.ndarray
    inlier_fraction: float


def fit_support_plane(points: np.ndarray, background: np.ndarray,
                      object_masks: dict[str, np.ndarray], cfg: LiftConfig) -> SupportPlane:
    """The table: seeded RANSAC (:func:`fit_plane_ransac`, upright-camera prior with
    ``cfg.upright_camera``) on the ``background`` pixels [H, W] within ``cfg.support_ring_px``
    of any object mask -- or on all of them without objects or with fewer than 200 such
    pixels --, ``points`` [H, W, 3] in the camera frame; normal turned towards the camera."""
    near_objects = np.zeros(background.shape, dtype=bool)
    for m in object_masks.values():
        near_objects |= dilate(m, cfg.support_ring_px)
    plane_src = near_objects & background
    if plane_src.sum() < 200:
        plane_src = background
    up_hint = np.array([0.0, -1.0, 0.0]) if cfg.upright_camera else None
    plane, inl = fit_plane_ransac(points[plane_src], cfg.plane_threshold_m, seed=cfg.seed,
                                  up_hint=up_hint)
    return SupportPlane(orient_towards(plane, np.zeros(3)), float(inl.mean()))

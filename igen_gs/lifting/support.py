"""Planes: seeded RANSAC fit with least-squares refinement, and ray-plane intersection.

A plane is ``(a, b, c, d)`` with ``a x + b y + c z + d = 0`` and (a, b, c) a unit normal.
"""

from __future__ import annotations

import numpy as np


def fit_plane_ransac(points: np.ndarray, threshold: float = 0.01, iterations: int = 300,
                     seed: int = 0, max_points: int = 20000) -> tuple[np.ndarray, np.ndarray]:
    """The plane with the most inliers (distance < ``threshold`` m) among ``iterations``
    3-point hypotheses, refined by least squares on its inliers. Returns (plane [4],
    inlier mask [N]). Raises ValueError with fewer than 3 points."""
    P = np.asarray(points, dtype=np.float64)
    if P.shape[0] < 3:
        raise ValueError("need at least 3 points to fit a plane")
    rng = np.random.default_rng(seed)
    sub = P if P.shape[0] <= max_points else P[rng.choice(P.shape[0], max_points, replace=False)]
    best, best_count = None, -1
    for _ in range(iterations):
        a, b, c = sub[rng.choice(sub.shape[0], 3, replace=False)]
        n = np.cross(b - a, c - a)
        norm = np.linalg.norm(n)
        if norm < 1e-12:
            continue
        n /= norm
        d = -n @ a
        count = int((np.abs(sub @ n + d) < threshold).sum())
        if count > best_count:
            best, best_count = np.append(n, d), count
    if best is None:
        raise ValueError("all points are collinear: no plane")
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

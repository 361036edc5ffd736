"""Stage "objects": each object's splats -- its visible front (statistical outliers removed)
and, with ``cfg.complete_objects``, a completed back side (:mod:`.complete`) --, in the camera
frame."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .complete import back_side, completion_frame, skirt, sweep_sides
from .config import LiftConfig
from .geometry import Splats, occludes_observed, shift, surface_splats
from .masks import PixelRoles
from .pixels import PixelGeometry


@dataclass
class ObjectSplats:
    """Each object's splats (camera frame, in :attr:`PixelRoles.names` order), the number of
    outliers removed from each front, and each one's completion record (empty without object
    completion)."""

    splats: dict[str, Splats]
    outliers: dict[str, int]
    completion: dict[str, dict]


def lift_objects(rgb: np.ndarray, geom: PixelGeometry, roles: PixelRoles, plane: np.ndarray,
                 cfg: LiftConfig) -> ObjectSplats:
    """:class:`ObjectSplats` of every object of ``roles`` in the photo ``rgb`` (uint8
    [H, W, 3]) standing on the support ``plane`` (camera frame). Raises ValueError for an
    object with fewer than ``cfg.min_object_pixels`` valid pixels."""
    s = geom.stride
    obj_splats: dict[str, Splats] = {}
    completion_info, outliers = {}, {}
    for i, name in enumerate(roles.names):
        sel = roles.keep & (roles.owner == i)
        if sel.sum() < cfg.min_object_pixels:
            raise ValueError(f"object {name!r} has only {int(sel.sum())} pixels with valid depth "
                             f"inside its mask; need >= {cfg.min_object_pixels}")
        front = geom.splats(sel, geom.depth, rgb, geom.normals, cfg)
        # Silhouette in the photo: sampled object pixels whose neighbour one stride to the
        # left or right (sides) or below (bottom) is not part of the object.
        obj = geom.valid & ~roles.ring & (roles.owner == i)
        sides = sel & ~(shift(obj, 0, s, False) & shift(obj, 0, -s, False))
        bottom = sel & ~shift(obj, s, 0, False)
        keep = statistical_inliers(front.points, cfg.outlier_neighbors, cfg.outlier_std)
        outliers[name] = int((~keep).sum())
        front = front.subset(keep)
        obj_parts = [front]
        if cfg.complete_objects:
            back, info = object_back(front, geom.normals[sel][keep], sides[sel][keep],
                                     bottom[sel][keep], plane, geom.K, geom.depth, cfg)
            obj_parts.append(back)
            completion_info[name] = info
        obj_splats[name] = Splats.concat(obj_parts)
    return ObjectSplats(obj_splats, outliers, completion_info)


def statistical_inliers(points: np.ndarray, k: int, std_ratio: float) -> np.ndarray:
    """Keep-mask [N] of open3d's statistical outlier removal: a point is dropped when its mean
    distance to its ``k`` nearest neighbours exceeds the mean of that quantity over all points
    by more than ``std_ratio`` standard deviations. ``k`` <= 0 keeps everything."""
    if k <= 0 or len(points) <= k:
        return np.ones(len(points), dtype=bool)
    import open3d as o3d

    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, np.float64)))
    _, idx = pc.remove_statistical_outlier(nb_neighbors=k, std_ratio=std_ratio)
    keep = np.zeros(len(points), dtype=bool)
    keep[np.asarray(idx, dtype=np.int64)] = True
    return keep


def object_back(front: Splats, normals: np.ndarray, sides: np.ndarray, bottom: np.ndarray,
                 plane: np.ndarray, K: np.ndarray, depth: np.ndarray, cfg: LiftConfig
                 ) -> tuple[Splats, dict]:
    """The completed, unseen part of one object (camera frame, :mod:`.complete`): a skirt from
    its ``bottom`` silhouette down to the support plane, the front and skirt turned half a turn
    about the object's vertical axis, and the left/right silhouette (``sides``) swept back --
    minus the points the photo contradicts. ``normals`` [M], ``sides`` and ``bottom`` [M]
    (bool) belong to ``front``'s points."""
    fp = front.scales[:, 1]  # in-plane footprint size
    pixel = float(np.median(fp)) / (cfg.footprint_scale * cfg.stride)  # metres per pixel
    cf = completion_frame(front.points, normals, plane[:3], pad=cfg.mask_edge_px * pixel)
    if max(cf.depth, cf.width) > cfg.max_complete_m:
        return front.subset(np.zeros(len(front), dtype=bool)), {
            "depth_m": cf.depth, "width_m": cf.width,
            "skipped": f"larger than max_complete_m = {cfg.max_complete_m} m"}
    skirt_p, skirt_n, skirt_src = skirt(front.points[bottom], normals[bottom], fp[bottom], plane)
    skirt_src = np.flatnonzero(bottom)[skirt_src]
    base_src = np.concatenate([np.arange(len(front)), skirt_src])
    cf_base = replace(cf, top=np.concatenate([cf.top, np.zeros(len(skirt_p), dtype=bool)]))
    back_p, back_n, kept = back_side(np.concatenate([front.points, skirt_p]),
                                     np.concatenate([normals, skirt_n]), cf_base, plane)
    side_p, side_n, side_src = sweep_sides(front.points[sides], normals[sides], fp[sides], cf)
    side_src = np.flatnonzero(sides)[side_src]
    pts = np.concatenate([skirt_p, back_p, side_p])
    nrm = np.concatenate([skirt_n, back_n, side_n])
    srcs = np.concatenate([skirt_src, base_src, side_src])
    keep = np.concatenate([np.ones(len(skirt_p), dtype=bool), kept,
                           side_p @ plane[:3] + plane[3] > -1e-3])
    seen = occludes_observed(pts, K, depth, cfg.back_margin_m)
    info = {"depth_m": cf.depth, "depth_from": cf.depth_from, "width_m": cf.width,
            "skirt_points": len(skirt_p), "turned_points": int(kept.sum()),
            "side_points": len(side_p), "dropped_as_visible": int((keep & seen).sum())}
    keep &= ~seen
    back = surface_splats(pts[keep], nrm[keep], front.rgb[srcs[keep]], fp[srcs[keep]],
                          np.full(int(keep.sum()), -1), cfg.thickness, cfg.max_stretch)
    return back, info

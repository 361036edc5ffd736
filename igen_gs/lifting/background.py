"""Stage "background": the background's splats, completed where objects and erased things hide
it (colour inpainted, depth from local planes or the support plane; :mod:`.complete`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .complete import complete_background, inpaint_telea
from .config import LiftConfig
from .geometry import Splats
from .masks import PixelRoles
from .pixels import PixelGeometry


@dataclass
class BackgroundSplats:
    """The background's splats (camera frame): the photo's background pixels, then the filled
    ones (tied to no pixel); ``completion``: which plane filled each hidden region (None: no
    completion)."""

    splats: Splats
    completion: dict[str, str] | None


def lift_background(rgb: np.ndarray, geom: PixelGeometry, roles: PixelRoles, plane: np.ndarray,
                    cfg: LiftConfig,
                    inpaint: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
                    ) -> BackgroundSplats:
    """Splats of the background pixels of ``rgb`` (uint8 [H, W, 3]) and, with
    ``cfg.complete_background``, of the regions under every object and erase mask (grown by
    ``cfg.fill_grow_px``): colour by ``inpaint`` (default OpenCV Telea), depth from a local
    plane around each mask or the support ``plane`` (camera frame), facing along its normal."""
    parts = [geom.splats(roles.background, geom.depth, rgb, geom.normals, cfg)]
    info = None
    if cfg.complete_background and (roles.objects or roles.erase):
        rgb_f, depth_f, region, info = complete_background(
            rgb, geom.depth, geom.rays, {**roles.objects, **roles.erase}, plane,
            geom.valid & (roles.owner < 0) & ~roles.erased & ~roles.ring,
            grow=cfg.fill_grow_px, ring=cfg.fill_ring_px, plane_threshold=cfg.plane_threshold_m,
            seed=cfg.seed, inpaint=inpaint or inpaint_telea)
        fill_sel = region & geom.grid & (depth_f > 0) & ~roles.background
        plane_normals = np.broadcast_to(plane[:3], geom.normals.shape)
        parts.append(geom.splats(fill_sel, depth_f, rgb_f, plane_normals, cfg,
                                 pix=np.full(int(fill_sel.sum()), -1)))
    return BackgroundSplats(Splats.concat(parts), info)

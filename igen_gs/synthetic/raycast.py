"""An independent ray caster for ground truth: one ray per pixel centre through open3d's
``RaycastingScene`` (BVH over triangles), nothing shared with the Gaussian rasterizer.

Rays follow the OpenCV camera of :mod:`igen_gs.scene.frames`: the ray of pixel (row i,
column j) passes through image point (j + 0.5, i + 0.5); its camera-frame direction has z = 1,
so the hit distance along it is the camera depth z directly. Colour = albedo at the hit point
x shading of the hit triangle's normal (flipped to face the camera).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..scene.camera import Camera
from .materials import shade


@dataclass(frozen=True)
class Surface:
    """A mesh to ray-cast.

    Attributes:
        mesh: ``open3d.t.geometry.TriangleMesh`` (or a legacy ``open3d.geometry.TriangleMesh``)
            in the world frame, metres.
        label: written into the label image where this surface is hit first.
        albedo: world points [n, 3] (float64) -> albedo [n, 3] in [0, 1].
    """

    mesh: object
    label: int
    albedo: Callable[[np.ndarray], np.ndarray]


def raycast(camera: Camera, surfaces: Sequence[Surface],
            shading: Callable[[np.ndarray], np.ndarray] = shade) -> dict[str, np.ndarray]:
    """Ray-cast ``surfaces`` into ``camera``.

    Returns ``rgb`` uint8 [H, W, 3] (albedo x ``shading(normal)``, rounded; 0 where nothing
    is hit), ``depth`` float32 [H, W] (camera z, metres; 0 = no hit), ``label`` int32 [H, W]
    (the hit surface's label, -1 = no hit), ``normals`` float32 [H, W, 3] (world, unit, facing
    the camera; 0 = no hit) and ``points`` float64 [H, W, 3] (world hit points; 0 = no hit).
    """
    import open3d as o3d

    if not isinstance(camera, Camera):
        raise ValueError(f"camera must be an igen_gs.Camera, got {type(camera).__name__}")
    rs = o3d.t.geometry.RaycastingScene()
    by_id = {}
    for s in surfaces:
        mesh = s.mesh
        if isinstance(mesh, o3d.geometry.TriangleMesh):
            mesh = o3d.t.geometry.TriangleMesh.from_legacy(mesh)
        by_id[rs.add_triangles(mesh)] = s
    H, W = camera.height, camera.width
    dirs_cam = camera.pixel_rays().numpy().reshape(-1, 3)  # z = 1
    R = camera.T_world_cam[:3, :3].numpy()
    o = camera.T_world_cam[:3, 3].numpy()
    dirs = dirs_cam @ R.T
    rays = np.concatenate([np.broadcast_to(o, dirs.shape), dirs], 1).astype(np.float32)
    ans = rs.cast_rays(o3d.core.Tensor(rays))
    t = ans["t_hit"].numpy().astype(np.float64)
    gid = ans["geometry_ids"].numpy()
    hit = np.isfinite(t)
    n = ans["primitive_normals"].numpy().astype(np.float64)
    n[(n * dirs).sum(-1) > 0] *= -1
    n[~hit] = 0.0
    pts = np.where(hit[:, None], o + dirs * np.where(hit, t, 0.0)[:, None], 0.0)
    albedo = np.zeros((t.size, 3))
    label = np.full(t.size, -1, dtype=np.int32)
    for geom, s in by_id.items():
        sel = hit & (gid == geom)
        if sel.any():
            albedo[sel] = s.albedo(pts[sel])
            label[sel] = s.label
    rgb = np.where(hit[:, None], albedo * shading(n)[:, None], 0.0)
    return {
        "rgb": np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8).reshape(H, W, 3),
        "depth": np.where(hit, t, 0.0).astype(np.float32).reshape(H, W),
        "label": label.reshape(H, W),
        "normals": n.astype(np.float32).reshape(H, W, 3),
        "points": pts.reshape(H, W, 3),
    }

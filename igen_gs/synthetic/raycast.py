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
        face_albedo: instead of ``albedo``, one albedo per triangle [F, 3] (the hit
            triangle's is used; e.g. a robot link's mesh materials).
    """

    mesh: object
    label: int
    albedo: Callable[[np.ndarray], np.ndarray] | None = None
    face_albedo: np.ndarray | None = None


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
    K = camera.K.numpy()
    v, u = np.meshgrid(np.arange(H, dtype=np.float64) + 0.5,
                       np.arange(W, dtype=np.float64) + 0.5, indexing="ij")
    dirs_cam = np.stack([(u.ravel() - K[0, 2]) / K[0, 0], (v.ravel() - K[1, 2]) / K[1, 1],
                         np.ones(H * W)], -1)  # z = 1
    R = camera.T_world_cam[:3, :3].numpy()
    o = camera.T_world_cam[:3, 3].numpy()
    dirs = dirs_cam @ R.T
    rays = np.empty((H * W, 6), np.float32)
    rays[:, :3] = o
    rays[:, 3:] = dirs
    ans = rs.cast_rays(o3d.core.Tensor(rays))
    t = ans["t_hit"].numpy()
    gid = ans["geometry_ids"].numpy()
    hit = np.flatnonzero(np.isfinite(t))
    th = t[hit].astype(np.float64)
    dh = dirs[hit]
    nh = ans["primitive_normals"].numpy()[hit].astype(np.float64)
    nh[(nh * dh).sum(-1) > 0] *= -1
    ph = o + dh * th[:, None]
    gh = gid[hit]
    prim = ans["primitive_ids"].numpy()[hit]
    albedo = np.zeros((hit.size, 3))
    lab = np.full(hit.size, -1, dtype=np.int32)
    for geom, srf in by_id.items():
        sel = gh == geom
        if sel.any():
            albedo[sel] = (srf.albedo(ph[sel]) if srf.face_albedo is None
                           else np.asarray(srf.face_albedo)[prim[sel]])
            lab[sel] = srf.label
    rgb = np.zeros((H * W, 3), np.uint8)
    rgb[hit] = np.clip(np.round(albedo * shading(nh)[:, None] * 255.0), 0, 255)
    depth = np.zeros(H * W, np.float32)
    depth[hit] = th
    label = np.full(H * W, -1, dtype=np.int32)
    label[hit] = lab
    normals = np.zeros((H * W, 3), np.float32)
    normals[hit] = nh
    points = np.zeros((H * W, 3))
    points[hit] = ph
    return {
        "rgb": rgb.reshape(H, W, 3),
        "depth": depth.reshape(H, W),
        "label": label.reshape(H, W),
        "normals": normals.reshape(H, W, 3),
        "points": points.reshape(H, W, 3),
    }

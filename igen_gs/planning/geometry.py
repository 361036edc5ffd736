"""Planning geometry: the gravity-aligned task frame and object extents in it.

Task frame (metres): origin on the support plane below the workspace centre, +z up (the
support plane's normal), +x "forward" (away from the photo's camera, horizontal), +y "left"
(image left), so that instructions' directions ("push it forward", "to the left of") read as
seen in the photo. Lifted scenes may use the camera frame as world (y down): only the support
plane says where up is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..scene.scene import Scene


@dataclass
class TaskFrame:
    T_world_task: np.ndarray  # [4, 4]

    @property
    def T_task_world(self) -> np.ndarray:
        R, t = self.T_world_task[:3, :3], self.T_world_task[:3, 3]
        out = np.eye(4)
        out[:3, :3] = R.T
        out[:3, 3] = -R.T @ t
        return out

    @property
    def up(self) -> np.ndarray:
        return self.T_world_task[:3, 2].copy()

    def to_task(self, p_world: np.ndarray) -> np.ndarray:
        T = self.T_task_world
        return p_world @ T[:3, :3].T + T[:3, 3]

    def to_world(self, p_task: np.ndarray) -> np.ndarray:
        T = self.T_world_task
        return p_task @ T[:3, :3].T + T[:3, 3]

    def direction(self, name: str) -> np.ndarray:
        """World unit vector of "forward", "backward", "left", "right", "up"."""
        axis = {"forward": (1, 0, 0), "backward": (-1, 0, 0), "left": (0, 1, 0),
                "right": (0, -1, 0), "up": (0, 0, 1)}
        if name not in axis:
            raise ValueError(f"direction must be one of {', '.join(axis)}, got {name!r}")
        return self.T_world_task[:3, :3] @ np.array(axis[name], dtype=np.float64)


def object_points(scene: Scene, name: str, T_world_obj: np.ndarray | None = None) -> np.ndarray:
    """World points (Gaussian centres) of object ``name`` at ``T_world_obj`` (default rest)."""
    T = scene.poses[name].numpy() if T_world_obj is None else T_world_obj
    p = scene.objects[name].means.double().numpy()
    return p @ T[:3, :3].T + T[:3, 3]


def task_frame(scene: Scene) -> TaskFrame:
    """The task frame of ``scene`` (see the module docstring)."""
    if scene.support_plane is None:
        raise ValueError("the scene has no support plane; planning needs one (lift estimates "
                         "it, synthetic scenes define it)")
    plane = scene.support_plane.double().numpy()
    up = plane[:3] / np.linalg.norm(plane[:3])
    if scene.objects:
        centre = np.mean([object_points(scene, n).mean(0) for n in scene.objects], axis=0)
    else:
        centre = scene.background.means.double().numpy().mean(0)
    origin = centre - (centre @ up + plane[3]) * up
    if scene.camera is not None:
        view = origin - scene.camera.center.numpy()
    else:
        view = np.array([1.0, 0.0, 0.0])
    fwd = view - (view @ up) * up
    if np.linalg.norm(fwd) < 1e-6:  # camera straight above: "forward" = image up
        cam_up = -scene.camera.T_world_cam[:3, 1].numpy()
        fwd = cam_up - (cam_up @ up) * up
    fwd /= np.linalg.norm(fwd)
    left = np.cross(up, fwd)
    T = np.eye(4)
    T[:3, :3] = np.stack([fwd, left, up], 1)
    T[:3, 3] = origin
    return TaskFrame(T)


@dataclass
class Extent:
    """An object's extent in the task frame (metres)."""

    lo: np.ndarray  # [3] min corner
    hi: np.ndarray  # [3] max corner

    @property
    def centre(self) -> np.ndarray:
        return 0.5 * (self.lo + self.hi)

    @property
    def size(self) -> np.ndarray:
        return self.hi - self.lo


def extent(points_task: np.ndarray, robust: float = 1.0) -> Extent:
    """Axis-aligned extent; ``robust`` < 100 uses percentiles to ignore stray points."""
    lo = np.percentile(points_task, robust, axis=0) if robust > 0 else points_task.min(0)
    hi = np.percentile(points_task, 100 - robust, axis=0) if robust > 0 else points_task.max(0)
    return Extent(lo, hi)


def rest_shift(moving: np.ndarray, support: np.ndarray, floor: float | None = 0.0,
               cell: float = 0.003) -> float:
    """Vertical shift (task-frame metres, + = up) that sets the points ``moving`` [M, 3] down
    on ``support`` [K, 3] and the plane z = ``floor`` (None: no floor) without penetration.

    Both point sets are binned into ``cell``-sized columns over the moving set's footprint; a
    support column counts for its 3 x 3 neighbourhood (so thin rims between samples still
    hold). The shift is the smallest one after which every moving column's lowest point is at
    or above the highest support point of its neighbourhood and above the floor: the object
    then touches its support and penetrates nothing.
    """
    if len(moving) == 0:
        raise ValueError("rest_shift needs at least one moving point")
    lo = moving[:, :2].min(0) - 1.5 * cell
    shape = tuple(np.floor((moving[:, :2].max(0) + 1.5 * cell - lo) / cell).astype(int) + 1)
    need = -np.inf if floor is None else floor - float(moving[:, 2].min())
    ij = np.floor((moving[:, :2] - lo) / cell).astype(int)
    bottom = np.full(shape, np.inf)
    np.minimum.at(bottom, (ij[:, 0], ij[:, 1]), moving[:, 2])
    if len(support):
        sij = np.floor((support[:, :2] - lo) / cell).astype(int)
        inside = ((sij >= 0) & (sij < np.array(shape))).all(1)
        top = np.full((shape[0] + 2, shape[1] + 2), -np.inf)
        np.maximum.at(top, (sij[inside, 0] + 1, sij[inside, 1] + 1), support[inside, 2])
        grown = np.max([top[1 + di:1 + di + shape[0], 1 + dj:1 + dj + shape[1]]
                        for di in (-1, 0, 1) for dj in (-1, 0, 1)], axis=0)
        both = np.isfinite(bottom) & np.isfinite(grown)
        if both.any():
            need = max(need, float((grown[both] - bottom[both]).max()))
    if not np.isfinite(need):
        raise ValueError("nothing to rest on: no support points under the object and no floor")
    return need

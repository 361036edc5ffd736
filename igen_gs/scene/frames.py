"""Frames, units and rotation conventions of igen-gs. They are written here once; every other
module follows them.

Transforms
    ``T_a_b`` is a 4x4 homogeneous rigid transform that maps points expressed in frame ``b``
    into frame ``a``: ``p_a = T_a_b @ p_b``. Chains read right to left:
    ``T_world_obj = T_world_ee @ T_ee_obj``. gsplat's ``viewmat`` is ``T_cam_world``.

Units
    Metres, radians, seconds. Gripper openings in metres (and normalised 0 closed .. 1 open).

Cameras (OpenCV pinhole)
    x right, y down, z forward (the optical axis). The centre of pixel (row i, column j) is at
    image coordinates (u, v) = (j + 0.5, i + 0.5). ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``
    and a camera-frame point (x, y, z) projects to (fx x / z + cx, fy y / z + cy).

World
    Right-handed. Robot and synthetic tabletop worlds are z-up. A scene lifted from a photo
    without a given ``T_world_cam`` uses the input camera's frame as world (y down); its
    support plane (table) records the up direction.

Quaternions and rotations
    Unit quaternions in (w, x, y, z) order, as gsplat and the 3DGS PLY format. Their math
    (torch and NumPy, and the one conversion to roma's (x, y, z, w)) lives in
    :mod:`igen_gs.rotations`; the functions used with frames are importable from here too.

All functions take and return torch tensors (float32 or float64) with arbitrary leading batch
dimensions, and accept anything ``torch.as_tensor`` accepts.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..rotations import (
    as_float_tensor,
    axis_angle_to_rotmat,
    quat_left_matrix,
    quat_multiply,
    quat_to_rotmat,
    rotation_angle,
    rotmat_to_quat,
    wxyz_to_xyzw,
    xyzw_to_wxyz,
)

__all__ = [
    "T_to_pose", "as_rigid", "axis_angle_to_rotmat", "invert_T", "look_at", "make_T",
    "pose_to_T", "quat_left_matrix", "quat_multiply", "quat_to_rotmat", "rotation_angle",
    "rotmat_to_quat",
    "spherical_to_cartesian", "transform_points", "translation", "wxyz_to_xyzw", "xyzw_to_wxyz",
]


def make_T(R=None, t=None, dtype=torch.float64) -> Tensor:
    """Homogeneous transform [..., 4, 4] from rotation [..., 3, 3] and translation [..., 3]."""
    R = torch.eye(3, dtype=dtype) if R is None else as_float_tensor(R, dtype)
    t = torch.zeros(3, dtype=dtype) if t is None else as_float_tensor(t, dtype)
    batch = torch.broadcast_shapes(R.shape[:-2], t.shape[:-1])
    T = torch.zeros(batch + (4, 4), dtype=dtype)
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def invert_T(T: Tensor) -> Tensor:
    """Inverse of rigid transforms [..., 4, 4]: (R, t) -> (R^T, -R^T t)."""
    T = as_float_tensor(T)
    R = T[..., :3, :3]
    t = T[..., :3, 3]
    Rt = R.transpose(-1, -2)
    out = torch.zeros_like(T)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -(Rt @ t[..., None])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def as_rigid(T, tol: float = 0.05, name: str = "transform") -> Tensor:
    """``T`` [4, 4] with its rotation projected onto SO(3) (nearest rotation, by SVD).

    Real poses (e.g. from SLAM or a motion-capture system) are often orthonormal only to 1e-3;
    this makes them exactly rigid. Raises ValueError when T is not close to a rigid motion
    (max |R^T R - I| > tol, det < 0, bottom row not (0, 0, 0, 1), or non-finite).
    """
    T = as_float_tensor(T, torch.float64)
    if T.shape != (4, 4) or not bool(torch.isfinite(T).all()):
        raise ValueError(f"{name} must be a finite [4, 4] matrix")
    if not torch.allclose(T[3], torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64),
                          atol=1e-6):
        raise ValueError(f"{name} must have bottom row (0, 0, 0, 1)")
    R = T[:3, :3]
    if float((R.T @ R - torch.eye(3, dtype=torch.float64)).abs().max()) > tol or \
            float(torch.det(R)) <= 0:
        raise ValueError(f"{name} is not a rigid motion (its rotation is not orthonormal with "
                         "det +1)")
    U, _, Vt = torch.linalg.svd(R)
    out = T.clone()
    out[:3, :3] = U @ Vt
    return out


def transform_points(T: Tensor, points: Tensor) -> Tensor:
    """Apply T_a_b [4, 4] to points in frame b [..., 3] -> points in frame a [..., 3]."""
    T = as_float_tensor(T)
    points = as_float_tensor(points)
    T = T.to(points.dtype)
    return points @ T[:3, :3].T + T[:3, 3]


def translation(x: float, y: float, z: float, dtype=torch.float64) -> Tensor:
    """Pure translation transform."""
    return make_T(t=torch.tensor([x, y, z], dtype=dtype), dtype=dtype)


def pose_to_T(xyz, quat_wxyz) -> Tensor:
    """Position [..., 3] + quaternion (w, x, y, z) [..., 4] -> T [..., 4, 4]."""
    xyz = as_float_tensor(xyz)
    return make_T(quat_to_rotmat(as_float_tensor(quat_wxyz, xyz.dtype)), xyz, dtype=xyz.dtype)


def T_to_pose(T: Tensor) -> tuple[Tensor, Tensor]:
    """T [..., 4, 4] -> (position [..., 3], quaternion (w, x, y, z) [..., 4], w >= 0)."""
    T = as_float_tensor(T)
    return T[..., :3, 3].clone(), rotmat_to_quat(T[..., :3, :3])


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> Tensor:
    """``T_world_cam`` of an OpenCV camera at ``eye`` looking at ``target``.

    The camera's z axis points at the target, its y axis (image down) points away from ``up``
    as much as possible, x = y cross z completes a right-handed frame.
    """
    eye = as_float_tensor(eye, torch.float64)
    target = as_float_tensor(target, torch.float64)
    up = as_float_tensor(up, torch.float64)
    z = target - eye
    if float(z.norm()) < 1e-12:
        raise ValueError("look_at: eye and target coincide")
    z = z / z.norm()
    x = torch.linalg.cross(z, up)
    if float(x.norm()) < 1e-9:  # looking along up: pick any perpendicular
        alt = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
        if abs(float(z @ alt)) > 0.9:
            alt = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
        x = torch.linalg.cross(z, alt)
    x = x / x.norm()
    y = torch.linalg.cross(z, x)
    R = torch.stack([x, y, z], dim=-1)  # columns are the camera axes in world
    return make_T(R, eye)


def spherical_to_cartesian(radius: float, azimuth: float, elevation: float) -> Tensor:
    """Point at ``radius`` from the origin; azimuth about +z from +x, elevation above the xy
    plane (radians)."""
    ce = math.cos(elevation)
    return torch.tensor(
        [radius * ce * math.cos(azimuth), radius * ce * math.sin(azimuth),
         radius * math.sin(elevation)],
        dtype=torch.float64,
    )

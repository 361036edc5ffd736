"""Rotations and quaternions, written once, in torch and (for bulk work on arrays) NumPy.

Quaternions are unit quaternions in (w, x, y, z) order, as gsplat and the 3DGS PLY format.
roma, which does the torch arithmetic, uses (x, y, z, w): :func:`wxyz_to_xyzw` and
:func:`xyzw_to_wxyz` are the only conversions. A rotation matrix ``R`` maps vectors of the
rotated frame into the reference frame (its columns are the rotated axes); quaternions made
here have ``w >= 0``.

The torch functions take anything ``torch.as_tensor`` accepts, with arbitrary leading batch
dimensions; integer input becomes float64. They are differentiable. This module depends on
torch, NumPy and roma only, so every layer (render, scene, lifting, planning) can use it.
"""

from __future__ import annotations

import numpy as np
import roma
import torch
from torch import Tensor


def as_float_tensor(x, dtype=None) -> Tensor:
    """``torch.as_tensor(x)``, converted to ``dtype`` if given, else to float64 if not floating."""
    t = torch.as_tensor(x)
    if dtype is not None:
        return t.to(dtype)
    return t if t.is_floating_point() else t.to(torch.float64)


def wxyz_to_xyzw(q: Tensor) -> Tensor:
    """(w, x, y, z) -> roma's (x, y, z, w)."""
    q = as_float_tensor(q)
    return torch.cat([q[..., 1:], q[..., :1]], dim=-1)


def xyzw_to_wxyz(q: Tensor) -> Tensor:
    """roma's (x, y, z, w) -> (w, x, y, z)."""
    q = as_float_tensor(q)
    return torch.cat([q[..., 3:], q[..., :3]], dim=-1)


def quat_to_rotmat(q_wxyz: Tensor) -> Tensor:
    """Quaternion (w, x, y, z) [..., 4] (normalised here; need not be unit) -> rotation matrix
    [..., 3, 3]."""
    q = as_float_tensor(q_wxyz)
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return roma.unitquat_to_rotmat(wxyz_to_xyzw(q))


def rotmat_to_quat(R: Tensor) -> Tensor:
    """Rotation matrix [..., 3, 3] -> unit quaternion (w, x, y, z) with w >= 0."""
    q = xyzw_to_wxyz(roma.rotmat_to_unitquat(as_float_tensor(R)))
    return torch.where(q[..., :1] < 0, -q, q)


def quat_multiply(q1_wxyz: Tensor, q2_wxyz: Tensor) -> Tensor:
    """Hamilton product q1 * q2 (rotate by q2, then by q1), both (w, x, y, z)."""
    return xyzw_to_wxyz(roma.quat_product(wxyz_to_xyzw(q1_wxyz), wxyz_to_xyzw(q2_wxyz)))


def quat_left_matrix(q_wxyz: Tensor) -> Tensor:
    """[..., 4, 4] ``M`` with ``M @ p == quat_multiply(q, p)`` for any (w, x, y, z) ``p``:
    left multiplication by ``q`` as a matrix, so one quaternion can be applied to many
    with a single matmul (``P @ M.T``)."""
    w, x, y, z = as_float_tensor(q_wxyz).unbind(-1)
    return torch.stack([torch.stack([w, -x, -y, -z], -1), torch.stack([x, w, -z, y], -1),
                        torch.stack([y, z, w, -x], -1), torch.stack([z, -y, x, w], -1)], -2)


def axis_angle_to_rotmat(axis, angle) -> Tensor:
    """Rotation of ``angle`` radians about ``axis`` (need not be unit) -> [..., 3, 3]."""
    axis = as_float_tensor(axis)
    angle = as_float_tensor(angle, axis.dtype)
    axis = axis / axis.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return roma.rotvec_to_rotmat(axis * angle[..., None])


def rotation_angle(R: Tensor) -> Tensor:
    """Angle (radians) of rotation matrices [..., 3, 3]."""
    R = as_float_tensor(R)
    return roma.rotmat_geodesic_distance(R, torch.eye(3, dtype=R.dtype))


def rotmat_to_quat_np(R: np.ndarray) -> np.ndarray:
    """Rotation matrices [M, 3, 3] -> unit quaternions (w, x, y, z) [M, 4] with w >= 0, float64.

    The same result as :func:`rotmat_to_quat` (tested against it), vectorised in NumPy for the
    hundreds of thousands of splat frames of one photo: each row uses the largest of 4w^2,
    4x^2, 4y^2, 4z^2 as the pivot (Shepperd's method).
    """
    m = np.asarray(R, dtype=np.float64)
    m00, m01, m02 = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    m10, m11, m12 = m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    m20, m21, m22 = m[:, 2, 0], m[:, 2, 1], m[:, 2, 2]
    pivots = np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22,
                       1 - m00 - m11 + m22], 1)
    k = pivots.argmax(1)
    s = 2.0 * np.sqrt(np.maximum(pivots[np.arange(len(k)), k], 1e-12))  # 4 * pivot component
    a, b, c = m21 - m12, m02 - m20, m10 - m01  # 4w * (x, y, z)
    d, e, f = m01 + m10, m02 + m20, m12 + m21  # 4xy, 4xz, 4yz
    q = np.select([k[:, None] == 0, k[:, None] == 1, k[:, None] == 2],
                  [np.stack([s / 4, a / s, b / s, c / s], 1),
                   np.stack([a / s, s / 4, d / s, e / s], 1),
                   np.stack([b / s, d / s, s / 4, f / s], 1)],
                  np.stack([c / s, e / s, f / s, s / 4], 1))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return np.where(q[:, :1] < 0, -q, q)

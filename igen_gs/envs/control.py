"""One action representation for every data source, and the one place it becomes a robosuite
controller command.

Policy actions and dataset actions are ``ee_6d`` (see :mod:`igen_gs.planning.actions`): the TCP
pose to reach next in the robot base frame -- x, y, z (metres), the first two columns of its
rotation matrix -- and the normalised gripper opening (0 closed, 1 = 8 cm open), 10 values.
States are ``x, y, z, qw, qx, qy, qz, gripper`` in the base frame (``STATE_NAMES``).

The TCP frame is igen-gs's (origin between the finger pads, +z the approach direction, +y the
finger opening axis); robosuite's Panda grip site has the same origin and approach axis but
its fingers open along its x axis: the server reports TCP poses (``T_SITE_TCP``: a quarter turn
about z, 7 mm along it, so that the planner's Panda kinematics and the simulator agree). The
rotation between two TCP poses is the rotation between the two grip-site poses, so commands
need no conversion; positions are those of the TCP.

:func:`osc_command` turns a target pose into robosuite's default OSC_POSE input (delta mode,
base frame): position error / 5 cm and rotation-vector error / 0.5 rad (the controller's
output limits), clipped to [-1, 1], and the gripper's -1 (open) / +1 (close) / 0 (hold) from
the target and the measured opening (:func:`gripper_command`).
"""

from __future__ import annotations

import numpy as np

OSC_POS_SCALE_M = 0.05
"""robosuite's default OSC_POSE output limit for position: input 1 moves the goal 5 cm."""
OSC_ROT_SCALE_RAD = 0.5
"""... and for rotation: input 1 turns the goal 0.5 rad."""
GRIPPER_MARGIN = 0.05
"""The fingers are driven (closed or opened) while the target opening differs from the
measured one by more than this (normalised, 4 mm), and held where they are otherwise.
robosuite's Panda gripper integrates the sign of its input into a finger position command
(0 holds it), so a target opening between closed and open -- the planner's "open 2 cm more"
to release on a stack, or a closed grip on an object -- is reachable and held."""
MAX_OPENING_M = 0.08
"""The Panda hand's full finger opening."""


def rot6d_to_matrix(r6: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] from 6D vectors [..., 6] (first two columns, Gram-Schmidt
    orthonormalised; the third is their cross product)."""
    r6 = np.asarray(r6, dtype=np.float64)
    a, b = r6[..., 0:3], r6[..., 3:6]
    na = np.linalg.norm(a, axis=-1, keepdims=True)
    if np.any(na < 1e-9):
        raise ValueError("6D rotation with a zero first column")
    x = a / na
    b = b - (x * b).sum(-1, keepdims=True) * x
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    if np.any(nb < 1e-9):
        raise ValueError("6D rotation with parallel columns")
    y = b / nb
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=-1)


def pose_to_action(T_base_tcp: np.ndarray, gripper: float) -> np.ndarray:
    """The 10-vector (ee_6d layout) of a target pose [4, 4] and gripper opening."""
    T = np.asarray(T_base_tcp, dtype=np.float64)
    return np.concatenate([T[:3, 3], T[:3, 0], T[:3, 1], [float(gripper)]]).astype(np.float32)


def action_to_pose(action: np.ndarray) -> tuple[np.ndarray, float]:
    """(T_base_tcp [4, 4], gripper) of a 10-vector."""
    a = np.asarray(action, dtype=np.float64).reshape(-1)
    if a.shape[0] != 10 or not np.isfinite(a).all():
        raise ValueError(f"an ee_6d action has 10 finite values, got {a.shape[0]}")
    T = np.eye(4)
    T[:3, :3] = rot6d_to_matrix(a[3:9])
    T[:3, 3] = a[:3]
    return T, float(a[9])


def rotvec(R: np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle, radians) of a rotation matrix [3, 3]."""
    R = np.asarray(R, dtype=np.float64)
    c = np.clip((np.trace(R) - 1) / 2, -1.0, 1.0)
    angle = float(np.arccos(c))
    w = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    if angle < 1e-6:
        return w / 2
    if np.pi - angle < 1e-4:  # near a half turn: axis from the symmetric part
        M = (R + np.eye(3)) / 2
        axis = M[:, int(np.argmax(np.diag(M)))]
        axis = axis / np.linalg.norm(axis)
        if w @ axis < 0:
            axis = -axis
        return axis * angle
    return w / (2 * np.sin(angle)) * angle


def gripper_command(gripper_target: float, gripper_now: float) -> float:
    """robosuite gripper input: +1 closes, -1 opens, 0 holds the fingers' current command
    (see :data:`GRIPPER_MARGIN`); openings normalised (0 closed, 1 open)."""
    if gripper_target < gripper_now - GRIPPER_MARGIN:
        return 1.0
    if gripper_target > gripper_now + GRIPPER_MARGIN:
        return -1.0
    return 0.0


def osc_command(T_base_tcp: np.ndarray, T_base_target: np.ndarray, gripper_target: float,
                gripper_now: float) -> np.ndarray:
    """robosuite OSC_POSE (delta, base frame) + gripper input [7] that moves the TCP from
    ``T_base_tcp`` towards ``T_base_target`` and the fingers from the opening ``gripper_now``
    towards ``gripper_target``."""
    T0 = np.asarray(T_base_tcp, dtype=np.float64)
    T1 = np.asarray(T_base_target, dtype=np.float64)
    dp = (T1[:3, 3] - T0[:3, 3]) / OSC_POS_SCALE_M
    dr = rotvec(T1[:3, :3] @ T0[:3, :3].T) / OSC_ROT_SCALE_RAD
    grip = gripper_command(gripper_target, gripper_now)
    return np.concatenate([np.clip(dp, -1, 1), np.clip(dr, -1, 1), [grip]])


def state_vector(T_base_tcp: np.ndarray, gripper: float, previous_quat: np.ndarray | None = None
                 ) -> np.ndarray:
    """The 8-value state ``x, y, z, qw, qx, qy, qz, gripper``; the quaternion's sign is the one
    nearer ``previous_quat`` (continuous along an episode), else w >= 0."""
    T = np.asarray(T_base_tcp, dtype=np.float64)
    q = matrix_to_quat(T[:3, :3])
    if previous_quat is not None and q @ np.asarray(previous_quat) < 0:
        q = -q
    return np.concatenate([T[:3, 3], q, [float(gripper)]]).astype(np.float32)


def matrix_to_quat(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z), w >= 0, of a rotation matrix [3, 3]."""
    R = np.asarray(R, dtype=np.float64)
    K = np.array([
        [R[0, 0] - R[1, 1] - R[2, 2], R[1, 0] + R[0, 1], R[2, 0] + R[0, 2], R[2, 1] - R[1, 2]],
        [R[1, 0] + R[0, 1], R[1, 1] - R[0, 0] - R[2, 2], R[2, 1] + R[1, 2], R[0, 2] - R[2, 0]],
        [R[2, 0] + R[0, 2], R[2, 1] + R[1, 2], R[2, 2] - R[0, 0] - R[1, 1], R[1, 0] - R[0, 1]],
        [R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1], R[0, 0] + R[1, 1] + R[2, 2]],
    ]) / 3.0
    vals, vecs = np.linalg.eigh(K)
    x, y, z, w = vecs[:, int(np.argmax(vals))]
    q = np.array([w, x, y, z])
    return q if q[0] >= 0 else -q


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])

"""Action and state formats for learning -- all of them, in one place.

Frame: the robot base frame ``base`` (``T_world_base`` of the trajectory; x forward towards
the workspace, z up). Poses are of the TCP (see :mod:`igen_gs.planning.types`); positions in
metres, rotation vectors in radians, quaternions (w, x, y, z) with their sign continuous along
the episode (the first frame has w >= 0, every later one is the sign of q or -q nearer the
previous frame's: a top-down gripper sits at w ~ 0, where the w >= 0 convention would flip the
sign between neighbouring frames). The gripper value is the normalised opening, 0 = closed,
1 = open (``max_opening_m``, 8 cm).

Per frame t of a trajectory with T frames (the action at t is what the robot is commanded to
reach at t + 1; the last frame repeats its own pose, so actions have T rows):

==============  ===  ===========================================================================
kind            dim  layout
==============  ===  ===========================================================================
``ee_abs``      8    x, y, z, qw, qx, qy, qz (pose at t+1), gripper at t+1
``ee_delta``    7    dx, dy, dz (p[t+1] - p[t]), rx, ry, rz (rotation vector of
                     R[t+1] R[t]^T), gripper at t+1
``ee_6d``       10   x, y, z, r11, r21, r31, r12, r22, r32 (first two columns of R[t+1]),
                     gripper at t+1
``joints``      8    the 7 Panda joint angles at t+1 (radians), gripper at t+1 (needs a
                     trajectory with joint positions)
==============  ===  ===========================================================================

Observation state (``observation_state``), 8 values, or 15 with joints: x, y, z, qw, qx, qy,
qz (pose at t), gripper at t [, 7 joint angles at t].
"""

from __future__ import annotations

import numpy as np
import roma
import torch

from ..scene import frames
from .types import Trajectory

ACTION_KINDS = ("ee_abs", "ee_delta", "ee_6d", "joints")
ACTION_NAMES = {
    "ee_abs": ["x", "y", "z", "qw", "qx", "qy", "qz", "gripper"],
    "ee_delta": ["dx", "dy", "dz", "rx", "ry", "rz", "gripper"],
    "ee_6d": ["x", "y", "z", "r11", "r21", "r31", "r12", "r22", "r32", "gripper"],
    "joints": [f"q{i}" for i in range(1, 8)] + ["gripper"],
}
STATE_NAMES = ["x", "y", "z", "qw", "qx", "qy", "qz", "gripper"]


def ee_in_base(traj: Trajectory) -> np.ndarray:
    """T_base_ee [T, 4, 4]."""
    return np.linalg.inv(traj.T_world_base)[None] @ traj.T_world_ee


def _next(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a[1:], a[-1:]], axis=0)


def continuous_quats(q: np.ndarray) -> np.ndarray:
    """Quaternions [T, 4] with signs flipped so that neighbours agree (q[t] . q[t-1] >= 0),
    starting from q[0] as given."""
    out = np.array(q, dtype=np.float64, copy=True)
    for t in range(1, len(out)):
        if out[t] @ out[t - 1] < 0:
            out[t] = -out[t]
    return out


def _pose7(T: np.ndarray) -> np.ndarray:
    q = continuous_quats(frames.rotmat_to_quat(torch.from_numpy(T[:, :3, :3])).numpy())
    return np.concatenate([T[:, :3, 3], q], axis=1)


def actions_from_trajectory(traj: Trajectory, kind: str = "ee_abs") -> np.ndarray:
    """Actions [T, dim] (float32) of ``kind`` (see the module docstring)."""
    if kind not in ACTION_KINDS:
        raise ValueError(f"action kind must be one of {', '.join(ACTION_KINDS)}, got {kind!r}")
    g_next = _next(traj.gripper)[:, None]
    T = ee_in_base(traj)
    Tn = _next(T)
    if kind == "ee_abs":
        out = np.concatenate([_next(_pose7(T)), g_next], axis=1)
    elif kind == "ee_delta":
        dR = Tn[:, :3, :3] @ np.transpose(T[:, :3, :3], (0, 2, 1))
        rv = roma.rotmat_to_rotvec(torch.from_numpy(dR)).numpy()
        out = np.concatenate([Tn[:, :3, 3] - T[:, :3, 3], rv, g_next], axis=1)
    elif kind == "ee_6d":
        r6 = np.concatenate([Tn[:, :3, 0], Tn[:, :3, 1]], axis=1)
        out = np.concatenate([Tn[:, :3, 3], r6, g_next], axis=1)
    else:
        if traj.joint_positions is None:
            raise ValueError("joint actions need a trajectory with joint positions "
                             "(plan with check_reachability)")
        out = np.concatenate([_next(traj.joint_positions), g_next], axis=1)
    return out.astype(np.float32)


def observation_state(traj: Trajectory, with_joints: bool = False) -> np.ndarray:
    """States [T, 8] (or [T, 15] with joints), float32 (see the module docstring)."""
    out = np.concatenate([_pose7(ee_in_base(traj)), traj.gripper[:, None]], axis=1)
    if with_joints:
        if traj.joint_positions is None:
            raise ValueError("the trajectory has no joint positions")
        out = np.concatenate([out, traj.joint_positions], axis=1)
    return out.astype(np.float32)

"""Franka Panda kinematics (roboticstoolbox-python's Panda model: real joint limits, the Franka
Hand's TCP 10.34 cm beyond the flange, fingers opening along the TCP's y axis -- the same
TCP convention as :mod:`igen_gs.episode.gripper`).

``T_world_base`` places the robot; poses are checked by inverse kinematics (Levenberg-
Marquardt, warm-started from the previous frame so the joint trajectory is continuous).
"""

from __future__ import annotations

import atexit
import functools

import numpy as np

READY = np.array([0.0, -0.3, 0.0, -2.2, 0.0, 2.0, np.pi / 4])


@functools.lru_cache(maxsize=1)
def panda():
    """The roboticstoolbox Panda model (URDF joint limits), cached."""
    import roboticstoolbox as rtb

    atexit.register(_quiet_teardown)
    return rtb.models.Panda()


def _quiet_teardown() -> None:
    """roboticstoolbox's nanobind extensions print "leaked instance" reports while the
    interpreter tears down (after atexit; harmless, but it floods the CLI's stderr). By then
    everything of ours has been printed, so silence file descriptor 2 for the teardown."""
    import os
    import sys

    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)


def fk(q: np.ndarray) -> np.ndarray:
    """T_base_tcp [4, 4] for joint angles q [7] (radians)."""
    return np.asarray(panda().fkine(np.asarray(q, dtype=np.float64)).A)


def _pose_error(q: np.ndarray, T_target: np.ndarray) -> tuple[float, float]:
    T = fk(q)
    dp = float(np.linalg.norm(T[:3, 3] - T_target[:3, 3]))
    dR = T[:3, :3].T @ T_target[:3, :3]
    return dp, float(np.arccos(np.clip((np.trace(dR) - 1) / 2, -1, 1)))


def ik(T_base_tcp: np.ndarray, q0: np.ndarray, tol: float = 1e-8) -> tuple[np.ndarray, bool]:
    """Joint angles reaching ``T_base_tcp`` from the start ``q0``, and whether they do, within
    the joint limits (position error < 1 mm, rotation < 0.01 rad; judged by forward kinematics,
    whatever the solver reports)."""
    robot = panda()
    lo, hi = robot.qlim
    T_target = np.asarray(T_base_tcp, dtype=np.float64)
    best_q, best_ok = np.asarray(q0, dtype=np.float64), False
    for ilimit in (60, 300):
        sol = robot.ik_LM(T_target, q0=q0, ilimit=ilimit, slimit=1, tol=tol, joint_limits=True)
        q = np.asarray(sol.q, dtype=np.float64)
        dp, ang = _pose_error(q, T_target)
        within = bool(np.all(q >= lo - 1e-6) and np.all(q <= hi + 1e-6))
        if dp < 1e-3 and ang < 1e-2 and within:
            return q, True
        best_q = q
    return best_q, best_ok


def joint_trajectory(T_world_ee: np.ndarray, T_world_base: np.ndarray, labels: list[str],
                     max_joint_step: float = 0.5) -> np.ndarray:
    """Joint angles [T, 7] for the TCP poses [T, 4, 4]; raises ValueError naming the first
    unreachable frame (``labels[t]`` says which step it belongs to) or a jump in joint space
    larger than ``max_joint_step`` rad between frames (a configuration flip)."""
    T_base_world = np.linalg.inv(T_world_base)
    q_prev = READY.copy()
    out = np.zeros((len(T_world_ee), 7))
    for t, T in enumerate(T_world_ee):
        target = T_base_world @ T
        q, ok = ik(target, q_prev)
        if not ok:  # restart from nearby configurations, then from the ready pose
            rng = np.random.default_rng(t)
            for start in [q_prev + rng.normal(0, 0.05, 7) for _ in range(4)] + [READY]:
                q, ok = ik(target, start)
                if ok and (t == 0 or np.abs(q - q_prev).max() <= max_joint_step):
                    break
        if not ok:
            p = np.round(T[:3, 3], 3).tolist()
            raise ValueError(f"unreachable pose for the Panda at step '{labels[t]}' (frame {t}): "
                             f"TCP at {p} m in the world, "
                             f"{np.linalg.norm(target[:3, 3]):.2f} m from the base")
        if t > 0 and np.abs(q - q_prev).max() > max_joint_step:
            raise ValueError(f"the arm would have to flip configuration at step '{labels[t]}' "
                             f"(frame {t}); move the robot base or the objects")
        out[t] = q
        q_prev = q
    return out

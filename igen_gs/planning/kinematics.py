"""Franka Panda kinematics (roboticstoolbox-python's Panda model: real joint limits, the Franka
Hand's TCP 10.34 cm beyond the flange, fingers opening along the TCP's y axis -- the same
TCP convention as :mod:`igen_gs.robot.geometry`).

``T_world_base`` places the robot; poses are checked by inverse kinematics, warm-started from
the previous frame so the joint trajectory is continuous: roboticstoolbox's Levenberg-Marquardt
solver first, then (near the joint limits, where an unconstrained solver's steps leave the
limits and it gives up) a bounded least-squares solve (scipy's trust-region reflective method
with the analytic Jacobian) that keeps every iterate inside the limits.
"""

from __future__ import annotations

import atexit
import functools
from collections.abc import Callable

import numpy as np

from .types import UnreachableError

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


_ROT_WEIGHT = 0.1
"""Metres per unit of rotation-matrix error in the bounded least-squares residual."""


def _residual(q: np.ndarray, T_target: np.ndarray) -> np.ndarray:
    """[12]: TCP position error (m) and weighted rotation-matrix error of joint angles q."""
    T = fk(q)
    return np.concatenate([T[:3, 3] - T_target[:3, 3],
                           _ROT_WEIGHT * (T[:3, :3] - T_target[:3, :3]).ravel()])


def _residual_jacobian(q: np.ndarray, T_target: np.ndarray) -> np.ndarray:
    """[12, 7]: d residual / dq from the geometric Jacobian (base frame): the position rows
    are its linear part, and dR/dq_i = [w_i]x R for the angular column w_i."""
    J = np.asarray(panda().jacob0(q))
    R = fk(q)[:3, :3]
    out = np.zeros((12, 7))
    out[:3] = J[:3]
    for i in range(7):
        wx, wy, wz = J[3:, i]
        W = np.array([[0.0, -wz, wy], [wz, 0.0, -wx], [-wy, wx, 0.0]])
        out[3:, i] = _ROT_WEIGHT * (W @ R).ravel()
    return out


def _bounded_ik(T_target: np.ndarray, q0: np.ndarray) -> np.ndarray:
    from scipy.optimize import least_squares

    lo, hi = panda().qlim
    start = np.clip(q0, lo + 1e-9, hi - 1e-9)
    sol = least_squares(_residual, start, jac=_residual_jacobian, bounds=(lo, hi),
                        args=(T_target,), xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=200)
    return np.asarray(sol.x, dtype=np.float64)


def ik(T_base_tcp: np.ndarray, q0: np.ndarray, tol: float = 1e-8,
       near: np.ndarray | None = None, max_step: float = np.inf) -> tuple[np.ndarray, bool]:
    """Joint angles reaching ``T_base_tcp`` from the start ``q0``, and whether they do: within
    the joint limits, position error < 1 mm and rotation < 0.01 rad (judged by forward
    kinematics, whatever the solver reports), and no joint more than ``max_step`` rad from
    ``near`` (default ``q0``)."""
    robot = panda()
    lo, hi = robot.qlim
    T_target = np.asarray(T_base_tcp, dtype=np.float64)
    q0 = np.asarray(q0, dtype=np.float64)
    ref = q0 if near is None else np.asarray(near, dtype=np.float64)

    def good(q: np.ndarray) -> bool:
        dp, ang = _pose_error(q, T_target)
        within = bool(np.all(q >= lo - 1e-6) and np.all(q <= hi + 1e-6))
        return dp < 1e-3 and ang < 1e-2 and within and np.abs(q - ref).max() <= max_step

    sol = robot.ik_LM(T_target, q0=q0, ilimit=60, slimit=1, tol=tol, joint_limits=True)
    q = np.asarray(sol.q, dtype=np.float64)
    if good(q):
        return q, True
    q = _bounded_ik(T_target, q0)
    return q, good(q)


def joint_trajectory(T_world_ee: np.ndarray, T_world_base: np.ndarray, labels: list[str],
                     max_joint_step: float = 0.5, seed: int = 0, posture_gain: float = 0.1
                     ) -> np.ndarray:
    """Joint angles [T, 7] for the TCP poses [T, 4, 4], each frame's solution within
    ``max_joint_step`` rad of the previous one (no configuration flips); raises a one-line
    ValueError naming the first frame that has none (``labels[t]`` says which step it belongs
    to) and its pose. Restarts draw from a generator seeded by (``seed``, frame)."""
    T_base_world = np.linalg.inv(T_world_base)
    q_prev = READY.copy()
    out = np.zeros((len(T_world_ee), 7))
    for t, T in enumerate(T_world_ee):
        target = T_base_world @ T
        step = np.inf if t == 0 else max_joint_step
        # Start a little towards the ready pose: the solver converges near its start, so this
        # drifts the arm's free (null-space) motion back to mid-range and keeps it off the
        # joint limits, where a later frame would have no continuous solution.
        start = q_prev + posture_gain * (READY - q_prev)
        q, ok = ik(target, start, near=q_prev, max_step=step)
        if not ok:  # restart from nearby configurations
            rng = np.random.default_rng([seed, t])
            for _ in range(4):
                q, ok = ik(target, q_prev + rng.normal(0, 0.05, 7), near=q_prev, max_step=step)
                if ok:
                    break
        if not ok:
            p = np.round(T[:3, 3], 3).tolist()
            a = np.round(T[:3, 2], 2).tolist()
            reach = float(np.linalg.norm(target[:3, 3]))
            if ik(target, q_prev)[1] or ik(target, READY)[1]:
                raise UnreachableError(f"the arm would have to flip configuration at step "
                                 f"'{labels[t]}' (frame {t}): TCP at {p} m in the world, "
                                 f"approach {a}; move the robot base or the objects")
            raise UnreachableError(f"unreachable pose for the Panda at step '{labels[t]}' "
                                   f"(frame {t}): TCP at {p} m in the world, approach {a}, "
                                   f"{reach:.2f} m from the base")
        out[t] = q
        q_prev = q
    return out


def pose_reachable(T_world_base: np.ndarray, seed: int = 0, restarts: int = 3
                   ) -> Callable[[np.ndarray], bool]:
    """A test ``f(T_world_ee) -> bool``: does some configuration within the joint limits reach
    the TCP pose (from the ready pose, then from ``restarts`` seeded random configurations)?"""
    T_base_world = np.linalg.inv(T_world_base)
    lo, hi = panda().qlim

    def reachable(T_world_ee: np.ndarray) -> bool:
        target = T_base_world @ T_world_ee
        if ik(target, READY)[1]:
            return True
        rng = np.random.default_rng([seed, 7])
        return any(ik(target, rng.uniform(lo, hi))[1] for _ in range(restarts))

    return reachable

"""A scripted expert with privileged state: it reads the objects' poses from the simulator
and moves the TCP through waypoints (above the object, down to it, close, lift; for Stack
also over the target, down, open, retreat), at most ``max_speed`` / ``max_angular_speed``
per second, each step's target handed to the one controller conversion
(:func:`igen_gs.envs.control.osc_command`).

Its output per step is the target TCP pose (base frame) and gripper opening -- the same action
representation as generated data -- so its recordings are the "real" demonstrations.
Given ``nominal`` poses instead of the true ones (objects at the table centre, yaw 0), it is
the blind baseline: what a controller that ignores the images achieves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .control import MAX_OPENING_M, rotvec


@dataclass
class ExpertConfig:
    """Waypoint expert settings (metres, seconds, radians)."""

    max_speed: float = 0.25
    """Target speed limit (the planner's default)."""
    max_angular_speed: float = 1.2
    """Target angular speed limit."""
    approach_m: float = 0.10
    """Pre-grasp height above the grasp."""
    lift_m: float = 0.15
    """How far the object is lifted (Lift) or carried above the target (Stack)."""
    grasp_below_centre_m: float = 0.005
    """The TCP goes this far below the object's centre."""
    squeeze_m: float = 0.004
    """Commanded opening when closed: object width minus this."""
    gripper_steps: int = 12
    """Steps to close or open the gripper."""
    tolerance_m: float = 0.012
    """A waypoint is reached when the measured TCP is this close (and the target is there)."""
    waypoint_timeout_steps: int = 60
    """Move on after this many steps at a waypoint even if not within tolerance."""


def grasp_rotation(T_world_obj: np.ndarray, R_world_tcp_now: np.ndarray) -> np.ndarray:
    """A top-down grasp rotation for a box: TCP +z down, fingers (+y) along one of the box's
    horizontal face normals -- the one nearest the current finger axis (least turning)."""
    x_obj = T_world_obj[:3, 0].copy()
    x_obj[2] = 0.0
    if np.linalg.norm(x_obj) < 1e-6:
        x_obj = np.array([1.0, 0.0, 0.0])
    x_obj /= np.linalg.norm(x_obj)
    y_obj = np.array([-x_obj[1], x_obj[0], 0.0])
    cands = [x_obj, -x_obj, y_obj, -y_obj]
    y_now = R_world_tcp_now[:, 1]
    y = max(cands, key=lambda d: float(d @ y_now))
    z = np.array([0.0, 0.0, -1.0])
    x = np.cross(y, z)
    return np.stack([x, y, z], axis=1)


def box_width_across(size: np.ndarray, T_world_obj: np.ndarray, y_world: np.ndarray) -> float:
    """Width (metres) of a box of full ``size`` [3] along the horizontal direction ``y_world``."""
    R = T_world_obj[:3, :3]
    return float(np.abs(R.T @ y_world) @ np.asarray(size))


class ScriptedExpert:
    """Waypoints for ``task`` (Lift or Stack) from the objects' poses at the first step."""

    def __init__(self, task: str, object_sizes: dict[str, np.ndarray],
                 config: ExpertConfig | None = None):
        if task not in ("Lift", "Stack"):
            raise ValueError(f"the scripted expert knows Lift and Stack, not {task!r}")
        self.task = task
        self.sizes = {k: np.asarray(v, dtype=np.float64) for k, v in object_sizes.items()}
        self.cfg = config or ExpertConfig()
        self.program: list[tuple[str, np.ndarray | None, float]] = []

    def reset(self, obs, object_poses: dict[str, np.ndarray] | None = None) -> None:
        """Plan the waypoints from ``object_poses`` (default: the true poses in ``obs``)."""
        cfg = self.cfg
        poses = object_poses if object_poses is not None else obs.object_poses
        obj = "cube" if self.task == "Lift" else "cubeA"
        if obj not in poses:
            raise ValueError(f"the expert needs the pose of {obj!r}")
        To = np.asarray(poses[obj], dtype=np.float64)
        R = grasp_rotation(To, obs.T_world_tcp[:3, :3])
        width = box_width_across(self.sizes[obj], To, R[:, 1])
        closed = max(0.0, width - cfg.squeeze_m) / MAX_OPENING_M

        def pose(p):
            T = np.eye(4)
            T[:3, :3] = R
            T[:3, 3] = p
            return T

        grasp = To[:3, 3] - np.array([0.0, 0.0, cfg.grasp_below_centre_m])
        up = np.array([0.0, 0.0, 1.0])
        prog = [("move", pose(grasp + cfg.approach_m * up), 1.0),
                ("move", pose(grasp), 1.0),
                ("grip", None, closed),
                ("move", pose(grasp + cfg.lift_m * up), closed)]
        if self.task == "Stack":
            Tb = np.asarray(poses["cubeB"], dtype=np.float64)
            hb, ha = self.sizes["cubeB"][2], self.sizes[obj][2]
            top = Tb[:3, 3] + np.array([0.0, 0.0, hb / 2 + ha / 2 + 0.01]) - \
                np.array([0.0, 0.0, cfg.grasp_below_centre_m])
            prog[-1] = ("move", pose(grasp + 0.12 * up), closed)
            prog += [("move", pose(np.array([top[0], top[1], top[2] + 0.08])), closed),
                     ("move", pose(top), closed),
                     ("grip", None, 1.0),
                     ("move", pose(top + 0.08 * up), 1.0)]
        self.program = prog
        self.index = 0
        self.steps_here = 0
        self.target = obs.T_world_tcp.copy()
        self.gripper = 1.0

    @property
    def done(self) -> bool:
        return self.index >= len(self.program)

    def act(self, obs) -> tuple[np.ndarray, float]:
        """(T_base_target [4, 4], gripper target) for this step."""
        cfg = self.cfg
        dt = 1.0 / 20.0
        if not self.done:
            kind, goal, grip = self.program[self.index]
            self.steps_here += 1
            if kind == "grip":
                n = cfg.gripper_steps
                if self.steps_here == 1:
                    self._g0 = self.gripper
                self.gripper = self._g0 + (grip - self._g0) * min(1.0, self.steps_here / n)
                if self.steps_here >= n:
                    self._next()
            else:
                self.gripper = grip
                self.target = _step_towards(self.target, goal, cfg.max_speed * dt,
                                            cfg.max_angular_speed * dt)
                at_goal = np.allclose(self.target, goal, atol=1e-9)
                close = np.linalg.norm(obs.T_world_tcp[:3, 3] - goal[:3, 3]) < cfg.tolerance_m
                if at_goal and (close or self.steps_here > cfg.waypoint_timeout_steps):
                    self._next()
        T_base = np.linalg.inv(obs.T_world_base) @ self.target
        return T_base, float(self.gripper)

    def _next(self) -> None:
        self.index += 1
        self.steps_here = 0


def _step_towards(T: np.ndarray, goal: np.ndarray, max_dp: float, max_dr: float) -> np.ndarray:
    """``T`` moved towards ``goal`` by at most ``max_dp`` metres and ``max_dr`` radians (both
    in the same proportion of the way, so position and rotation arrive together)."""
    dp = goal[:3, 3] - T[:3, 3]
    dR = goal[:3, :3] @ T[:3, :3].T
    rv = rotvec(dR)
    frac = 1.0
    if np.linalg.norm(dp) > max_dp:
        frac = min(frac, max_dp / np.linalg.norm(dp))
    if np.linalg.norm(rv) > max_dr:
        frac = min(frac, max_dr / np.linalg.norm(rv))
    if frac >= 1.0:
        return goal.copy()
    out = np.eye(4)
    out[:3, 3] = T[:3, 3] + frac * dp
    out[:3, :3] = _rotvec_to_matrix(frac * rv) @ T[:3, :3]
    return out


def _rotvec_to_matrix(rv: np.ndarray) -> np.ndarray:
    a = float(np.linalg.norm(rv))
    if a < 1e-12:
        return np.eye(3)
    k = rv / a
    Kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(a) * Kx + (1 - np.cos(a)) * Kx @ Kx


def nominal_poses(obs, table_height: float, object_sizes: dict[str, np.ndarray]
                  ) -> dict[str, np.ndarray]:
    """Every object at the table centre, yaw 0, resting on the table (Stack: cubeA and cubeB
    side by side, 10 cm apart along y) -- the blind baseline's belief."""
    out = {}
    names = list(obs.object_poses)
    for i, n in enumerate(names):
        T = np.eye(4)
        off = 0.0 if len(names) == 1 else (i - (len(names) - 1) / 2) * 0.10
        T[:3, 3] = [0.0, off, table_height + object_sizes[n][2] / 2]
        out[n] = T
    return out

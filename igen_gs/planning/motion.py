"""From a plan to motion: grasps, waypoints, timing, scene evolution.

Each primitive becomes waypoints (pre-grasp, grasp, close, lift, transport, pre-place, place,
open, retreat, ...). Between two waypoints the TCP position follows ``p0 + (p1 - p0) s(tau)``
and its orientation the spherical interpolation (roma) with the same ``s``. With
``MotionConfig.profile`` "min_jerk" (default), ``s = 10 tau^3 - 15 tau^4 + 6 tau^5`` and a
segment lasts long enough that neither the speed limit (peak speed 1.875 d / T), the
acceleration limit (peak 5.77 d / T^2) nor the angular speed limit is exceeded; with
"trapezoid", constant acceleration up to the speed limit, cruise, constant deceleration (the
shortest time within the limits; the angular acceleration limit is the linear one times
``max_angular_speed / max_speed``). Opening and closing the gripper take their own frames with
the end effector still.

Scene evolution: an attached object follows ``T_world_ee @ T_ee_obj`` (``T_ee_obj`` fixed at
the moment the gripper closed); a released object stays where it was left. Setting an object
down ("place", "stack", "move_to", "rotate") puts its footprint centre at the chosen spot
(the target's centre; the centre of a container's opening for "in"; beside a target or at a
displacement, at the nearest spot where nothing stands and the gripper fits) and lowers it
until it touches the highest support under it
(:func:`~igen_gs.planning.geometry.rest_shift` over the other objects' points and the table
plane), ``clearance_m`` above it, so it penetrates nothing. Where the gripper cannot follow it
all the way down (into a container), it is released higher, up to ``max_drop_m``, and falls to
that rest. A pushed object slides with the closed fingers once they touch; a push that would
run it into another object is rejected.

Primitives that cannot be carried out raise a one-line ``ValueError``; those the arm cannot
reach from its base raise :class:`~igen_gs.planning.types.UnreachableError` (a ValueError)
naming the step and the pose.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import roma
import torch

from ..robot.geometry import GripperGeometry
from ..scene import frames
from ..scene.scene import Scene
from .geometry import TaskFrame, extent, object_points, rest_shift, task_frame
from .grasp import Grasp, synthesize_grasps
from .motion_config import MotionConfig
from .types import Plan, Step, Trajectory, UnreachableError

# Fixed, generic task-frame direction that breaks exact ties between a grasp and its 180-degree
# twin (the one whose x axis points along it wins).
_TIE_DIRECTION = np.array([0.8, 0.5, 0.33]) / np.linalg.norm([0.8, 0.5, 0.33])
# Grasps scoring within ``TIE_SCORE`` of the best and no more than ``TIE_WIDTH_M`` wider than
# the narrowest of those are as good (a box's two face-aligned grasps, see
# ``grasp.ALIGNED_BONUS``; the widths a one-view lift measures across a 4 cm cube differ by
# several millimetres between them); of them the planner
# takes the one needing the least wrist rotation from the current pose. Ranked by score alone,
# the choice between a cube's two face-aligned grasps fell either way, so one picture of a cube
# was grasped at angles 90 degrees apart (+-90 degrees from the start across 100 generated Lift
# episodes, +-45 for robosuite's scripted expert), which a policy trained on them averages.
TIE_SCORE = 0.02
TIE_WIDTH_M = 0.008


def min_jerk(tau: np.ndarray) -> np.ndarray:
    """Minimum-jerk time scaling s(tau), tau in [0, 1]."""
    return tau**3 * (10 - 15 * tau + 6 * tau**2)


def trapezoid(tau: np.ndarray, ramp: float) -> np.ndarray:
    """Trapezoidal-velocity time scaling s(tau), tau in [0, 1]: constant acceleration for the
    first ``ramp`` of the time (0 < ramp <= 0.5), constant speed, constant deceleration for
    the last ``ramp``. ``ramp`` 0.5 is a triangle (accelerate, then brake)."""
    tau = np.asarray(tau, dtype=np.float64)
    r = float(min(max(ramp, 1e-9), 0.5))
    k = 0.5 / (r * (1.0 - r))
    return np.where(tau < r, k * tau**2,
                    np.where(tau > 1.0 - r, 1.0 - k * (1.0 - tau)**2,
                             (tau - 0.5 * r) / (1.0 - r)))


def _trapezoid_time(d: float, v: float, a: float) -> tuple[float, float]:
    """Shortest time over distance ``d`` with speed limit ``v`` and acceleration limit ``a``,
    and its ramp time (the time spent accelerating)."""
    if d <= 0.0:
        return 0.0, 0.0
    if d <= v * v / a:  # never reaches v: a triangle
        t = 2.0 * math.sqrt(d / a)
        return t, 0.5 * t
    return d / v + v / a, v / a


def _distances(T0: np.ndarray, T1: np.ndarray) -> tuple[float, float]:
    d = float(np.linalg.norm(T1[:3, 3] - T0[:3, 3]))
    ang = float(roma.rotmat_geodesic_distance(torch.from_numpy(T0[:3, :3]),
                                              torch.from_numpy(T1[:3, :3])))
    return d, ang


def segment_duration(T0: np.ndarray, T1: np.ndarray, cfg: MotionConfig) -> float:
    """Seconds for the move T0 -> T1 under ``cfg``'s limits and profile (at least 2 frames)."""
    return _segment_timing(T0, T1, cfg)[0]


def _segment_timing(T0: np.ndarray, T1: np.ndarray, cfg: MotionConfig) -> tuple[float, float]:
    """(duration in seconds, trapezoid ramp fraction; 0 for minimum jerk)."""
    d, ang = _distances(T0, T1)
    floor = 2.0 / cfg.fps
    if cfg.profile == "min_jerk":
        return max(1.875 * d / cfg.max_speed, math.sqrt(5.7735 * d / cfg.max_accel),
                   1.875 * ang / cfg.max_angular_speed, floor), 0.0
    # angular acceleration limit: the linear one scaled like the speed limits
    alpha = cfg.max_accel * cfg.max_angular_speed / cfg.max_speed
    (tl, rl), (ta, ra) = (_trapezoid_time(d, cfg.max_speed, cfg.max_accel),
                          _trapezoid_time(ang, cfg.max_angular_speed, alpha))
    t, ramp = max((tl, rl), (ta, ra))
    if t < floor:
        return floor, 0.5
    return t, ramp / t


def segment_profile(T0: np.ndarray, T1: np.ndarray, cfg: MotionConfig) -> np.ndarray:
    """Path fractions s [n] of the frames of the move T0 -> T1 (the last one 1; T0 itself not
    included), at ``cfg.fps``, with ``cfg.profile``'s time scaling, within the limits."""
    dur, ramp = _segment_timing(T0, T1, cfg)
    n = max(1, int(math.ceil(dur * cfg.fps)))
    tau = np.arange(1, n + 1) / n
    return min_jerk(tau) if cfg.profile == "min_jerk" else trapezoid(tau, ramp)


def interpolate(T0: np.ndarray, T1: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Poses [len(s), 4, 4] between T0 and T1 at fractions s: linear position, slerp rotation."""
    q0 = roma.rotmat_to_unitquat(torch.from_numpy(T0[:3, :3]))
    q1 = roma.rotmat_to_unitquat(torch.from_numpy(T1[:3, :3]))
    q = roma.unitquat_slerp(q0, q1, torch.from_numpy(np.asarray(s, dtype=np.float64)),
                            shortest_arc=True)
    out = np.tile(np.eye(4), (len(s), 1, 1))
    out[:, :3, :3] = roma.unitquat_to_rotmat(q).numpy()
    out[:, :3, 3] = T0[:3, 3] + np.asarray(s)[:, None] * (T1[:3, 3] - T0[:3, 3])
    return out


class _Builder:
    """Accumulates frames; the scene state (object poses, held object) evolves with them."""

    def __init__(self, scene: Scene, cfg: MotionConfig, geom: GripperGeometry,
                 T_start: np.ndarray):
        self.scene, self.cfg, self.geom = scene, cfg, geom
        self.poses = {n: scene.poses[n].double().numpy().copy() for n in scene.objects}
        self.held: str | None = None
        self.T_ee_obj: np.ndarray | None = None
        self.pick_bottom_z = 0.0  # task-frame z of the held object's bottom when grasped
        self.push: tuple[str, np.ndarray, np.ndarray, np.ndarray, float] | None = None
        self.T_ee = T_start
        self.opening = geom.max_opening
        self.frames: list[dict] = []
        self.step = 0
        self._emit("start")

    def _emit(self, phase: str) -> None:
        if self.held is not None:
            self.poses[self.held] = self.T_ee @ self.T_ee_obj
        if self.push is not None:
            name, pose0, p0, direction, gap = self.push
            travelled = float((self.T_ee[:3, 3] - p0) @ direction)
            shift = max(0.0, travelled - gap) * direction
            P = pose0.copy()
            P[:3, 3] += shift
            self.poses[name] = P
        self.frames.append({"T": self.T_ee.copy(), "open": self.opening, "phase": phase,
                            "step": self.step, "held": self.held or "",
                            "poses": {n: p.copy() for n, p in self.poses.items()}})

    def move(self, T1: np.ndarray, phase: str) -> None:
        for T in interpolate(self.T_ee, T1, segment_profile(self.T_ee, T1, self.cfg)):
            self.T_ee = T
            self._emit(phase)

    def gripper(self, target: float, phase: str) -> None:
        n = max(1, int(math.ceil(self.cfg.gripper_seconds * self.cfg.fps)))
        start = self.opening
        for k in range(1, n + 1):
            self.opening = start + (target - start) * k / n
            self._emit(phase)

    def hold(self, seconds: float, phase: str) -> None:
        for _ in range(max(1, int(round(seconds * self.cfg.fps)))):
            self._emit(phase)

    def fall(self, name: str, drop_world: np.ndarray, g: float = 9.81) -> None:
        """The released object ``name`` falls by the vector ``drop_world`` (down, metres):
        free fall, one frame per control step, the last frame exactly at rest."""
        d = float(np.linalg.norm(drop_world))
        n = max(1, int(math.ceil(math.sqrt(2 * d / g) * self.cfg.fps)))
        pose0 = self.poses[name].copy()
        for k in range(1, n + 1):
            frac = min(1.0, 0.5 * g * (k / self.cfg.fps) ** 2 / d) if k < n else 1.0
            self.poses[name] = pose0.copy()
            self.poses[name][:3, 3] -= frac * drop_world
            self._emit("drop")

    def attach(self, name: str) -> None:
        self.held = name
        self.T_ee_obj = np.linalg.inv(self.T_ee) @ self.poses[name]

    def release(self) -> None:
        self.held = None
        self.T_ee_obj = None


def _translate(T: np.ndarray, v: np.ndarray) -> np.ndarray:
    out = T.copy()
    out[:3, 3] += v
    return out


_BESIDE = {"left_of": "left", "right_of": "right", "in_front_of": "backward", "behind": "forward"}
"""Relations of move_to and the task-frame direction from the target to the object."""


class MotionPlanner:
    """Turns plan steps into frames for one scene."""

    def __init__(self, scene: Scene, cfg: MotionConfig | None = None,
                 geometry: GripperGeometry | None = None, T_world_base: np.ndarray | None = None,
                 reachable: Callable[[np.ndarray], bool] | None = None):
        self.scene = scene
        self.T_world_base = T_world_base
        self.reachable = reachable
        self.cfg = cfg or MotionConfig()
        self.geom = geometry or GripperGeometry()
        self.tf: TaskFrame = task_frame(scene)
        bg = scene.background.means.double().numpy()
        bg_task = self.tf.to_task(bg)
        self.table_obstacles = bg[bg_task[:, 2] > 0.005]

    # ------------------------------------------------------------------ geometry of the state
    def points_task(self, b: _Builder, name: str) -> np.ndarray:
        return self.tf.to_task(object_points(self.scene, name, b.poses[name]))

    def obstacles_task(self, b: _Builder, exclude: str) -> np.ndarray:
        parts = [self.tf.to_task(self.table_obstacles)] if len(self.table_obstacles) else []
        parts += [self.points_task(b, n) for n in self.scene.objects if n != exclude]
        return np.concatenate(parts) if parts else np.zeros((0, 3))

    def safe_height(self, b: _Builder, extra: float, exclude: str | None = None) -> float:
        """Task-frame z above every object's top (but ``exclude``'s) plus ``extra``."""
        tops = [self.points_task(b, n)[:, 2].max() for n in self.scene.objects if n != exclude]
        return (max(tops) if tops else 0.0) + extra

    def _nearest_symmetric(self, T_from: np.ndarray, T_to: np.ndarray) -> np.ndarray:
        """A parallel-jaw grasp turned by 180 degrees about its approach axis is the same
        grasp: pick the one closer in orientation to the current pose (less wrist rotation).
        An exact tie (within 1e-6 rad, e.g. a quarter turn either way) is broken in the task
        frame, so the choice does not depend on the world frame or on rounding."""
        flip = T_to.copy()
        flip[:3, :2] *= -1
        d = [float(roma.rotmat_geodesic_distance(torch.from_numpy(T_from[:3, :3]),
                                                 torch.from_numpy(T[:3, :3])))
             for T in (T_to, flip)]
        if abs(d[0] - d[1]) > 1e-6:
            return T_to if d[0] < d[1] else flip
        x_task = self.tf.T_world_task[:3, :3].T @ T_to[:3, 0]
        return T_to if x_task @ _TIE_DIRECTION >= 0 else flip

    def _by_turning(self, b: _Builder, grasps: list[Grasp]) -> list[Grasp]:
        """``grasps`` (best first) with the ones as good as the best (:data:`TIE_SCORE`,
        :data:`TIE_WIDTH_M`) moved to the front, least wrist rotation from the current TCP
        (to the nearest symmetric grasp) first; the others follow in their order."""
        if not grasps:
            return grasps
        top = grasps[0].score
        tied = [g for g in grasps if g.kind == grasps[0].kind and g.score >= top - TIE_SCORE]
        narrow = min(g.width_m for g in tied)
        tied = [g for g in tied if g.width_m <= narrow + TIE_WIDTH_M]
        R_now = torch.from_numpy(b.T_ee[:3, :3])

        def turn(g: Grasp) -> float:
            T = self._nearest_symmetric(b.T_ee, self._world(g.T_task_ee))
            return float(roma.rotmat_geodesic_distance(R_now, torch.from_numpy(T[:3, :3])))

        tied.sort(key=turn)
        ids = {id(g) for g in tied}
        return tied + [g for g in grasps if id(g) not in ids]

    def _world(self, T_task: np.ndarray) -> np.ndarray:
        return self.tf.T_world_task @ T_task

    def _over(self, b: _Builder, T_world: np.ndarray, z_task: float) -> np.ndarray:
        """T_world with its position raised (along up) to task height z_task."""
        p = self.tf.to_task(T_world[:3, 3][None])[0]
        p[2] = max(p[2], z_task)
        out = T_world.copy()
        out[:3, 3] = self.tf.to_world(p[None])[0]
        return out

    def grasps(self, b: _Builder, name: str) -> list[Grasp]:
        """Feasible grasps of ``name`` in its current pose, best first (ValueError if none)."""
        pts = self.points_task(b, name)
        side = None
        if self.T_world_base is not None:  # side grasps from the robot's side
            base = self.tf.to_task(self.T_world_base[:3, 3][None])[0]
            side = pts.mean(0)[:2] - base[:2]
        # Only obstacles the hand can reach matter: within its size plus the approach of the
        # object's footprint (saves time on lifted scenes with large backgrounds).
        obstacles = self.obstacles_task(b, name)
        e = extent(pts, robust=0)
        reach = float(np.linalg.norm(self.geom.body_size)) + self.cfg.approach_m + 0.05
        near = (obstacles[:, :2] >= e.lo[:2] - reach).all(1) & \
            (obstacles[:, :2] <= e.hi[:2] + reach).all(1)
        grasps = synthesize_grasps(pts, obstacles[near], self.geom,
                                   approach_m=self.cfg.approach_m, kinds=self.cfg.grasp_kinds,
                                   side_direction=side)
        if not grasps:
            size = extent(pts, robust=2).size
            raise ValueError(f"no feasible grasp for {name!r}: its horizontal size is "
                             f"{size[0] * 100:.1f} x {size[1] * 100:.1f} cm (the gripper opens "
                             f"{self.geom.max_opening * 100:.0f} cm) or its surroundings block "
                             "the fingers")
        return grasps

    def choose_grasp(self, b: _Builder, name: str) -> tuple[Grasp, np.ndarray]:
        """The best grasp whose pose and pre-grasp pose the arm reaches (when a reachability
        test is given; up to 16 candidates, each turned by 180 degrees about its approach if
        that reaches), and its world TCP pose. Of grasps as good as the best (a box's faces at
        right angles, see :data:`TIE_SCORE`), the one nearest the hand's orientation first."""
        grasps = self._by_turning(b, self.grasps(b, name))
        if self.reachable is None:
            return grasps[0], self._nearest_symmetric(b.T_ee, self._world(grasps[0].T_task_ee))
        for g in grasps[:16]:
            T = self._nearest_symmetric(b.T_ee, self._world(g.T_task_ee))
            flip = T.copy()
            flip[:3, :2] *= -1
            for T_grasp in (T, flip):
                T_pre = _translate(T_grasp, -self.cfg.approach_m * T_grasp[:3, 2])
                if self.reachable(T_grasp) and self.reachable(T_pre):
                    return g, T_grasp
        T = self._world(grasps[0].T_task_ee)
        dist = float(np.linalg.norm(T[:3, 3] - self.T_world_base[:3, 3]))
        raise UnreachableError(
            f"no grasp of {name!r} is reachable by the arm: the best one has the TCP at "
            f"{np.round(T[:3, 3], 3).tolist()} m in the world, approach "
            f"{np.round(T[:3, 2], 2).tolist()}, {dist:.2f} m from the base "
            f"({min(16, len(grasps))} of {len(grasps)} feasible grasps tried); move the robot "
            "base or the object")

    # ------------------------------------------------------------------ primitives
    def pick(self, b: _Builder, name: str, lift_m: float | None = None) -> Grasp:
        if b.held is not None:
            raise ValueError(f"cannot pick {name!r} while holding {b.held!r}")
        grasp, T_grasp = self.choose_grasp(b, name)
        approach = T_grasp[:3, 2]
        T_pre = _translate(T_grasp, -self.cfg.approach_m * approach)
        # Travel above everything, then down to the pre-grasp. A side grasp keeps the hand's
        # orientation while travelling and turns it on the way down (turning it high up, near
        # the shoulder, folds the arm into its joint limits).
        travel_z = self.safe_height(b, 0.08)
        b.move(self._over(b, b.T_ee, travel_z), "transport")
        T_over = self._over(b, T_pre, travel_z)
        if grasp.kind == "side":
            T_over[:3, :3] = b.T_ee[:3, :3]
        b.move(T_over, "transport")
        if abs(b.opening - grasp.open_m) > 1e-4:
            b.gripper(max(grasp.open_m, b.opening), "open")
        b.move(T_pre, "pre-grasp")
        b.move(T_grasp, "grasp")
        b.gripper(max(0.0, grasp.width_m - self.cfg.squeeze_m), "close")
        b.attach(name)
        b.pick_bottom_z = float(self.points_task(b, name)[:, 2].min())
        b.hold(self.cfg.settle_seconds, "close")
        up = self.tf.up
        b.move(_translate(b.T_ee, (lift_m or self.cfg.lift_m) * up), "lift")
        return grasp

    def place_pose(self, b: _Builder, xy: np.ndarray) -> np.ndarray:
        """World TCP pose that sets the held object down with its footprint centre at
        task-frame ``xy``, on whatever is under it (other objects, the table),
        ``clearance_m`` above it."""
        name = b.held
        pts = self.points_task(b, name)
        centre = extent(pts, robust=2).centre
        moved = pts + np.array([xy[0] - centre[0], xy[1] - centre[1], 0.0])
        support = [self.points_task(b, n) for n in self.scene.objects if n != name]
        dz = rest_shift(moved, np.concatenate(support) if support else np.zeros((0, 3)))
        shift_task = np.array([xy[0] - centre[0], xy[1] - centre[1], dz + self.cfg.clearance_m])
        return _translate(b.T_ee, self.tf.T_world_task[:3, :3] @ shift_task)

    def place_at(self, b: _Builder, xy: np.ndarray) -> None:
        """Carry the held object over task-frame ``xy`` (its footprint centre there), set it
        down (:meth:`place_pose`), open and retreat. Where the gripper cannot go all the way
        down (into a container, between close objects), it releases the object at the lowest
        height up to ``max_drop_m`` above its resting pose where it hits nothing, and the
        object falls (free fall, g = 9.81 m/s^2) to rest. ValueError if that does not help."""
        name = b.held
        pts = self.points_task(b, name)
        T_rest = self.place_pose(b, xy)
        up = self.tf.up
        drop = None
        first_error = ValueError(f"cannot set {name!r} down there (max_drop_m < 0)")
        for d in np.arange(0.0, self.cfg.max_drop_m + 1e-9, 0.005):
            try:
                self._check_fingers_at_place(b, name,
                                             self.tf.T_task_world @ _translate(T_rest, d * up))
                drop = float(d)
                break
            except ValueError as e:
                first_error = e if d == 0.0 else first_error
        if drop is None:
            raise first_error
        T_place = _translate(T_rest, drop * up)
        tcp_z = self.tf.to_task(b.T_ee[:3, 3][None])[0, 2]
        hang = tcp_z - float(pts[:, 2].min())  # TCP height above the held object's bottom
        travel_z = self.safe_height(b, 0.05, exclude=name) + hang
        T_pre = _translate(T_place, 0.05 * up)
        b.move(self._over(b, b.T_ee, travel_z), "transport")
        b.move(self._over(b, T_pre, travel_z), "transport")
        b.move(T_pre, "pre-place")
        b.move(T_place, "place")
        b.release()
        b.gripper(min(self.geom.max_opening, b.opening + 0.02), "open")
        if drop > 0:
            b.fall(name, drop * up)
        b.move(_translate(b.T_ee, -self.cfg.approach_m * b.T_ee[:3, 2]), "retreat")

    def _check_fingers_at_place(self, b: _Builder, name: str, T_task_ee: np.ndarray) -> None:
        """ValueError when the hand, coming down 5 cm to ``T_task_ee`` and opening there,
        would hit another object."""
        from .grasp import _finger_hits, _hand_hits

        final = min(self.geom.max_opening, b.opening + 0.02)
        for other in self.scene.objects:
            if other == name:
                continue
            q = (self.points_task(b, other) - T_task_ee[:3, 3]) @ T_task_ee[:3, :3]
            up_ee = T_task_ee[:3, :3].T @ np.array([0.0, 0.0, 1.0])
            for lift in np.linspace(0.0, 0.05, 5):
                qq = q - lift * up_ee  # the hand raised by `lift`
                if (_hand_hits(qq, self.geom).any() or _finger_hits(qq, b.opening, self.geom)
                        .any() or (lift == 0.0 and _finger_hits(qq, final, self.geom).any())):
                    raise ValueError(f"cannot set {name!r} down there: the gripper would hit "
                                     f"{other!r}")

    def place(self, b: _Builder, step: Step) -> None:
        if step.relation in _BESIDE:
            self.move_to(b, step)
            return
        if b.held != step.object:
            raise ValueError(f"cannot {step.action} {step.object!r}: it is not held "
                             f"(holding {b.held or 'nothing'})")
        if step.target is None:
            raise ValueError(f"{step.action} {step.object!r} needs a target")
        tpts = self.points_task(b, step.target)
        offset = np.asarray(self.cfg.place_offset_m, dtype=np.float64)
        xy = extent(tpts, robust=2).centre[:2]
        if step.relation == "in":
            # Into a container: centred on its opening (the rim's extent, not the handle's).
            top = float(np.percentile(tpts[:, 2], 99))
            xy = extent(tpts[tpts[:, 2] >= top - 0.01], robust=0).centre[:2]
            self._check_fits_inside(b, step, tpts, xy + offset)
        self.place_at(b, xy + offset)

    def _check_fits_inside(self, b: _Builder, step: Step, tpts: np.ndarray, xy: np.ndarray
                           ) -> None:
        """For "in" a container (a target whose inside, within 1.5 cm of its centre, lies more
        than 2 cm below its top): ValueError when the object would not go in but rest higher
        than half-way up (on the rim). A flat target (at most 3 cm high: a plate, a tray)
        takes "in" as "on"; a taller one without such a cavity (a solid block, a closed box)
        cannot hold anything: ValueError."""
        near = np.linalg.norm(tpts[:, :2] - xy, axis=1) < 0.015
        if near.sum() < 3:
            return  # nothing at the centre: open all the way down
        top = float(np.percentile(tpts[:, 2], 99))
        height = top - float(np.percentile(tpts[:, 2], 1))
        inside = float(np.percentile(tpts[near, 2], 50))
        if top - inside <= 0.02:
            if height <= 0.03:
                return  # a plate or a tray: "in" is "on"
            raise ValueError(f"{step.target!r} cannot hold {step.object!r}: it has no opening "
                             f"(its top is closed, {100 * (top - inside):.1f} cm deep at the "
                             f"centre); say 'on' to put it on top")
        T = self.place_pose(b, xy)
        bottom = float(self.tf.to_task(object_points(
            self.scene, step.object, T @ b.T_ee_obj))[:, 2].min())
        if bottom > inside + 0.5 * (top - inside):
            raise ValueError(f"{step.object!r} does not fit into {step.target!r}: it would rest "
                             f"{100 * (bottom - inside):.1f} cm above its inside, on the rim")

    def move_to(self, b: _Builder, step: Step) -> None:
        """Beside a target (relation, gap ``distance_m``), or without a target ``distance_m``
        in ``direction`` from where the object is; set down on the table (or whatever is
        there)."""
        if b.held is not None and b.held != step.object:
            raise ValueError(f"cannot move {step.object!r} while holding {b.held!r}")
        if step.target is None:
            start = extent(self.points_task(b, step.object), robust=2).centre
            axis = self.tf.T_task_world[:3, :3] @ self.tf.direction(step.direction or "forward")
            dist = step.distance_m if step.distance_m is not None else 0.10
            if b.held != step.object:
                self.pick(b, step.object)
            self.place_at(b, self.free_spot(b, step.object, start[:2] + dist * axis[:2]))
            return
        rel = step.relation or "right_of"
        if rel not in _BESIDE:
            raise ValueError(f"move_to needs a relation among {', '.join(_BESIDE)}, got {rel!r}")
        if b.held != step.object:
            self.pick(b, step.object)
        tpts = self.points_task(b, step.target)
        opts = self.points_task(b, step.object)
        te, oe = extent(tpts, robust=2), extent(opts, robust=2)
        axis = self.tf.T_task_world[:3, :3] @ self.tf.direction(_BESIDE[rel])
        gap = step.distance_m if step.distance_m is not None else self.cfg.beside_gap_m
        reach = 0.5 * abs(te.size[:2] @ np.abs(axis[:2])) + 0.5 * abs(oe.size[:2] @
                                                                      np.abs(axis[:2]))
        xy = te.centre[:2] + (reach + gap) * axis[:2]
        self.place_at(b, self.free_spot(b, step.object, xy, axis))

    def free_spot(self, b: _Builder, name: str, xy: np.ndarray, axis: np.ndarray | None = None,
                  margin: float = 0.01) -> np.ndarray:
        """The task-frame xy nearest to ``xy`` where the held object ``name`` can be set down
        on the table: its footprint (horizontal bounding box, ``margin`` wider) holds no other
        object's points and the gripper hits nothing there. Searched on a 1 cm grid up to 15
        cm away (only forward along ``axis`` when given, to stay on that side); ``xy`` itself
        when nothing is free."""
        pts = self.points_task(b, name)
        e = extent(pts, robust=0)
        half = 0.5 * e.size[:2] + margin
        others = [self.points_task(b, n) for n in self.scene.objects if n != name]
        if not others:
            return xy
        other_xy = np.concatenate(others)[:, :2]
        steps = np.arange(-0.15, 0.1501, 0.01)
        offsets = np.stack(np.meshgrid(steps, steps, indexing="ij"), -1).reshape(-1, 2)
        if axis is not None:
            offsets = offsets[offsets @ axis[:2] >= -1e-9]
        offsets = offsets[np.argsort(np.linalg.norm(offsets, axis=1), kind="stable")]
        for off in offsets:
            c = xy + off
            if (np.abs(other_xy - c) <= half).all(1).any():
                continue
            try:
                self._check_fingers_at_place(b, name,
                                             self.tf.T_task_world @ self.place_pose(b, c))
            except ValueError:
                continue
            return c
        return xy

    def lift(self, b: _Builder, step: Step) -> None:
        """Hold the object with its bottom ``height_m`` above where it was picked from."""
        height = step.height_m if step.height_m is not None else 0.10
        if b.held != step.object:
            self.pick(b, step.object, lift_m=height)
        else:
            bottom = float(self.points_task(b, step.object)[:, 2].min())
            b.move(_translate(b.T_ee, (b.pick_bottom_z + height - bottom) * self.tf.up), "lift")
        b.hold(self.cfg.settle_seconds * 2, "hold")

    def rotate(self, b: _Builder, step: Step) -> None:
        """Pick, turn about the vertical through the object's centre, put back down."""
        if b.held is not None and b.held != step.object:
            raise ValueError(f"cannot rotate {step.object!r} while holding {b.held!r}")
        if b.held != step.object:
            self.pick(b, step.object)
        pts = self.points_task(b, step.object)
        centre = extent(pts, robust=2).centre
        angle = math.radians(step.angle_deg if step.angle_deg is not None else 90.0)
        R = frames.axis_angle_to_rotmat(torch.from_numpy(self.tf.up),
                                        torch.tensor(angle, dtype=torch.float64)).numpy()
        pivot = self.tf.to_world(centre[None])[0]
        T_turn = b.T_ee.copy()
        T_turn[:3, :3] = R @ b.T_ee[:3, :3]
        T_turn[:3, 3] = pivot + R @ (b.T_ee[:3, 3] - pivot)
        b.move(T_turn, "rotate")
        self.place_at(b, centre[:2])

    def push(self, b: _Builder, step: Step) -> None:
        if b.held is not None:
            raise ValueError(f"cannot push {step.object!r} while holding {b.held!r}")
        name = step.object
        direction_w = self.tf.direction(step.direction or "forward")
        d_task = self.tf.T_task_world[:3, :3] @ direction_w
        pts = self.points_task(b, name)
        e = extent(pts, robust=2)
        half = 0.5 * float(np.abs(e.size[:2]) @ np.abs(d_task[:2]))
        g = self.geom
        z_tcp = max(e.lo[2] + min(0.6 * e.size[2], 0.03), 0.005 + g.finger_tip_z)
        contact_task = np.array([e.centre[0], e.centre[1], z_tcp]) - \
            (half + g.finger_thickness + 0.01) * d_task
        # Top-down, fingers closed, closing axis across the push direction.
        R = np.stack([d_task, np.cross([0.0, 0.0, -1.0], d_task), [0.0, 0.0, -1.0]], 1)
        T_c = np.eye(4)
        T_c[:3, :3], T_c[:3, 3] = R, contact_task
        T_contact = self._nearest_symmetric(b.T_ee, self._world(T_c))
        dist = step.distance_m if step.distance_m is not None else 0.10
        self._check_push(b, step, T_c, d_task, dist)
        travel_z = self.safe_height(b, 0.08)
        b.move(self._over(b, b.T_ee, travel_z), "transport")
        b.move(self._over(b, T_contact, travel_z), "transport")
        b.gripper(0.0, "close")
        b.move(T_contact, "pre-push")
        gap = 0.01 + 0.5 * g.finger_thickness
        b.push = (name, b.poses[name].copy(), T_contact[:3, 3].copy(), direction_w, gap)
        b.move(_translate(T_contact, (dist + gap) * direction_w), "push")
        b.push = None
        b.move(_translate(b.T_ee, self.cfg.approach_m * self.tf.up), "retreat")

    def _check_push(self, b: _Builder, step: Step, T_c: np.ndarray, d_task: np.ndarray,
                    dist: float) -> None:
        """ValueError when the closed fingers, lowered to the contact pose ``T_c`` (task
        frame), would hit something, or when the pushed object would run into another object
        within ``dist`` (it may not come closer than 4 mm, or half its starting distance)."""
        from scipy.spatial import cKDTree

        from .grasp import _finger_hits, _hand_hits

        name = step.object
        obstacles = self.obstacles_task(b, name)
        to_ee = (obstacles - T_c[:3, 3]) @ T_c[:3, :3]
        for back in np.linspace(0.0, self.cfg.approach_m, 5):
            q = to_ee + np.array([0.0, 0.0, back])  # the hand raised by `back` along -approach
            if len(q) and (_finger_hits(q, 0.0, self.geom).any() or
                           _hand_hits(q, self.geom).any()):
                raise ValueError(f"cannot {step.describe()}: no room for the fingers behind "
                                 f"{name!r}")
        pts = self.points_task(b, name)
        for other in self.scene.objects:
            if other == name:
                continue
            tree = cKDTree(self.points_task(b, other))
            d0 = float(tree.query(pts)[0].min())
            limit = min(0.004, 0.5 * d0)
            for travel in np.arange(0.0025, dist + 1e-9, 0.0025):
                if tree.query(pts + travel * d_task)[0].min() < limit:
                    raise ValueError(f"cannot {step.describe()}: it would run into {other!r} "
                                     f"after {100 * travel:.1f} cm")

    def tilt(self, b: _Builder, step: Step) -> None:
        if b.held != step.object:
            self.pick(b, step.object)
        angle = math.radians(step.angle_deg if step.angle_deg is not None else 90.0)
        # About the forward axis: a pour to the side, which the wrist can roll through (tilts
        # about the left-right axis run into the Panda's joint limits beyond ~45 degrees).
        axis = self.tf.direction("forward")
        R = frames.axis_angle_to_rotmat(torch.from_numpy(axis), torch.tensor(angle)).numpy()
        T_tilt = b.T_ee.copy()
        T_tilt[:3, :3] = R @ b.T_ee[:3, :3]
        T_back = b.T_ee.copy()
        b.move(T_tilt, "tilt")
        b.hold(self.cfg.settle_seconds * 2, "tilt")
        b.move(T_back, "untilt")

    def run(self, plan: Plan, T_start: np.ndarray) -> _Builder:
        b = _Builder(self.scene, self.cfg, self.geom, T_start)
        for i, step in enumerate(plan.steps):
            b.step = i
            for n in (step.object, step.target):
                if n is not None and n not in self.scene.objects:
                    raise ValueError(f"step {i + 1} ({step.describe()}) names unknown object "
                                     f"{n!r}; the scene has: {', '.join(self.scene.objects)}")
            try:
                self._step(b, step)
            except UnreachableError as e:
                raise UnreachableError(f"step {i + 1} ({step.describe()}): {e}") from None
        b.step = len(plan.steps)
        b.hold(self.cfg.settle_seconds, "done")
        return b

    def _step(self, b: _Builder, step: Step) -> None:
        if step.action == "pick":
            self.pick(b, step.object)
            return
        primitive = {"place": self.place, "stack": self.place, "move_to": self.move_to,
                     "push": self.push, "lift": self.lift, "tilt": self.tilt,
                     "rotate": self.rotate}.get(step.action)
        if primitive is None:
            raise ValueError(f"unknown action {step.action!r}")
        primitive(b, step)

    def start_pose(self, R_world_ee: np.ndarray | None = None) -> np.ndarray:
        """Home: 35 cm above the workspace centre, pointing down; the orientation is
        ``R_world_ee`` (e.g. the arm's ready pose, so the wrist starts mid-range), else
        closing axis "left"."""
        T = np.eye(4)
        T[:3, :3] = np.stack([[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]], 1)
        T[:3, 3] = [0.0, 0.0, 0.35]
        T = self._world(T)
        if R_world_ee is not None:
            T[:3, :3] = R_world_ee
        return T


def build_trajectory(scene: Scene, plan: Plan, cfg: MotionConfig | None = None,
                     geometry: GripperGeometry | None = None,
                     T_world_base: np.ndarray | None = None,
                     reachable: Callable[[np.ndarray], bool] | None = None) -> Trajectory:
    """Frames for ``plan`` on ``scene``. ``reachable(T_world_ee) -> bool``, when given, makes
    grasp selection skip grasps the arm cannot reach; the full joint-space check is
    :func:`igen_gs.planning.plan_task`'s."""
    mp = MotionPlanner(scene, cfg, geometry, T_world_base, reachable)
    R_start = None
    if T_world_base is not None:
        from .kinematics import READY, fk

        R_start = (T_world_base @ fk(READY))[:3, :3]  # the wrist starts mid-range
    b = mp.run(plan, mp.start_pose(R_start))
    fr = b.frames
    T = len(fr)
    names = list(scene.objects)
    return Trajectory(
        timestamps=np.arange(T) / mp.cfg.fps,
        T_world_ee=np.stack([f["T"] for f in fr]),
        gripper=np.array([f["open"] for f in fr]) / mp.geom.max_opening,
        gripper_opening_m=np.array([f["open"] for f in fr]),
        attached=[f["held"] for f in fr],
        object_poses={n: np.stack([f["poses"][n] for f in fr]) for n in names},
        step_index=np.array([f["step"] if f["step"] < len(plan.steps) else -1 for f in fr]),
        phase=[f["phase"] for f in fr],
        plan=plan, fps=mp.cfg.fps, max_opening_m=mp.geom.max_opening,
        T_world_base=np.eye(4) if T_world_base is None else T_world_base)

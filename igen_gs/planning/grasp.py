"""Parallel-jaw grasp synthesis from an object's points (task frame, metres).

Candidates: top-down grasps (approach straight down, centred on the object or on points of its
upper part -- rims, edges --, the closing axis turned every 15 degrees about the vertical and
across the sides of the upper part's minimum-area footprint rectangle, :func:`footprint_yaw`)
and side grasps (approach horizontally through the object's centre at 60 % of its height,
from ``side_direction`` -- by default "forward", away from the robot -- and from directions
turned 30 and 60 degrees either way; closing horizontally). A candidate is kept when

* the object's width between the fingers (twice the larger robust 2/98 percentile distance from
  the TCP, across the fingers, of its points in the fingers' slab and height band, within the
  maximum opening) plus a margin on each side fits the maximum opening: the fingers open
  ``margin`` (1 cm) wider than the object on each side, less when the opening is at its
  maximum, but never less than ``min_margin`` (4 mm);
* the open fingers (boxes of the gripper's finger size) contain none of the object's own points
  and none of the obstacle points (other objects, and the table: fingertips at least 5 mm
  above it), at the grasp and along the last 10 cm of the approach.

The best candidate has the highest score: top-down (1) over side grasps (0.5, less 0.2 per
radian away from ``side_direction``), then the closing axis across the sides of the footprint
rectangle (+ ``ALIGNED_BONUS``: a box is held across its faces, as an expert holds it, not
a few degrees off -- the 15-degree steps alone put a rotated cube up to 7.5 degrees off its
faces and grasps 30 degrees off nearly as wide), then the grasp centre closest to the object's
centre (3 per metre), then the most spare opening (0.1 per unit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..robot.geometry import GripperGeometry

ALIGNED_BONUS = 0.05
"""Score added to top grasps closing across the sides of the footprint rectangle (more than
the spare-opening term can separate grasps, so they come first among top grasps)."""


@dataclass
class Grasp:
    T_task_ee: np.ndarray  # [4, 4] TCP pose in the task frame
    width_m: float  # object width across the fingers
    open_m: float  # opening before closing
    kind: str  # "top" or "side"
    score: float


def _ee_rotation(approach: np.ndarray, closing: np.ndarray) -> np.ndarray:
    z = approach / np.linalg.norm(approach)
    y = closing - (closing @ z) * z
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    return np.stack([x, y, z], 1)


def _finger_hits(points_ee: np.ndarray, open_m: float, g: GripperGeometry) -> np.ndarray:
    """bool [M]: points (TCP frame) inside either open finger's box."""
    x, y, z = points_ee[:, 0], points_ee[:, 1], points_ee[:, 2]
    in_x = np.abs(x) <= g.finger_width / 2
    in_z = (z <= g.finger_tip_z) & (z >= g.finger_tip_z - g.finger_length)
    in_y = (np.abs(y) >= open_m / 2) & (np.abs(y) <= open_m / 2 + g.finger_thickness)
    return in_x & in_y & in_z


def _hand_hits(points_ee: np.ndarray, g: GripperGeometry) -> np.ndarray:
    """bool [M]: points inside the hand body (behind the fingers)."""
    bx, by, bz = g.body_size
    base = g.finger_tip_z - g.finger_length
    return (np.abs(points_ee[:, 0]) <= bx / 2) & (np.abs(points_ee[:, 1]) <= by / 2) & \
        (points_ee[:, 2] <= base) & (points_ee[:, 2] >= base - bz)


def _spread(points: np.ndarray, k: int) -> list[np.ndarray]:
    """Up to k points far from each other (deterministic farthest-point sampling)."""
    if len(points) == 0:
        return []
    chosen = [points[0]]
    d = np.linalg.norm(points - points[0], axis=1)
    for _ in range(1, min(k, len(points))):
        i = int(np.argmax(d))
        chosen.append(points[i])
        d = np.minimum(d, np.linalg.norm(points - points[i], axis=1))
    return chosen


def footprint_yaw(points: np.ndarray, step_deg: float = 1.0) -> float:
    """Yaw (radians, in [0, pi/2)) of the minimum-area rectangle around the points' [M, 2+]
    horizontal footprint: the rectangle's sides point along yaw and yaw + pi/2. Extents are
    robust (2/98 percentiles), searched every ``step_deg`` degrees."""
    xy = np.asarray(points, dtype=np.float64)[:, :2]
    if len(xy) < 3:
        return 0.0
    yaws = np.radians(np.arange(0.0, 90.0, step_deg))
    u = np.stack([np.cos(yaws), np.sin(yaws)], 1)         # [A, 2] first side
    v = np.stack([-np.sin(yaws), np.cos(yaws)], 1)        # [A, 2] second side
    pu, pv = xy @ u.T, xy @ v.T                           # [M, A]
    wu = np.percentile(pu, 98, axis=0) - np.percentile(pu, 2, axis=0)
    wv = np.percentile(pv, 98, axis=0) - np.percentile(pv, 2, axis=0)
    return float(yaws[int(np.argmin(wu * wv))])


def synthesize_grasps(obj: np.ndarray, obstacles: np.ndarray, geometry: GripperGeometry,
                      table_z: float = 0.0, margin: float = 0.01, approach_m: float = 0.10,
                      min_margin: float = 0.004,
                      kinds: tuple[str, ...] = ("top", "side"),
                      side_direction: np.ndarray | None = None) -> list[Grasp]:
    """Feasible grasps of the object with points ``obj`` [M, 3] among ``obstacles`` [K, 3]
    (both in the task frame), best first. ``side_direction``: preferred horizontal approach
    [2 or 3] of side grasps (default +x)."""
    bad = set(kinds) - {"top", "side"}
    if bad:
        raise ValueError(f"grasp kinds must be 'top' and/or 'side', got {sorted(bad)}")
    g = geometry
    lo = np.percentile(obj, 2, axis=0)
    hi = np.percentile(obj, 98, axis=0)
    centre = 0.5 * (lo + hi)
    height = hi[2] - lo[2]
    out: list[Grasp] = []
    candidates = []
    if "top" in kinds:
        depth = min(0.025, 0.5 * height)  # how far the pads reach down from the top
        z_tcp = max(hi[2] - depth, table_z + 0.005 + g.finger_tip_z)
        # Grasp centres: the object's centre, and points on its upper part (rims, handles,
        # edges of wide objects), spread out by farthest-point sampling.
        upper = obj[obj[:, 2] >= hi[2] - depth]
        centres = [centre[:2]] + [c for c in _spread(upper[:, :2], 12)]
        y0 = footprint_yaw(upper)
        yaws = [(y, False) for y in np.radians(np.arange(0, 180, 15))]
        yaws += [(y0, True), (y0 + np.pi / 2, True)]
        for c in centres:
            for yaw, aligned in yaws:
                closing = np.array([np.cos(yaw), np.sin(yaw), 0.0])
                R = _ee_rotation(np.array([0.0, 0.0, -1.0]), closing)
                candidates.append(("top", R, np.array([c[0], c[1], z_tcp]), aligned))
    if "side" in kinds:
        z_tcp = lo[2] + 0.6 * height
        sd = np.array([1.0, 0.0]) if side_direction is None else np.asarray(
            side_direction, dtype=np.float64)[:2]
        yaw0 = float(np.arctan2(sd[1], sd[0]))
        if z_tcp - g.finger_width / 2 > table_z + 0.005:
            for off in np.radians([0.0, 30.0, -30.0, 60.0, -60.0]):
                a = np.array([np.cos(yaw0 + off), np.sin(yaw0 + off), 0.0])
                R = _ee_rotation(a, np.array([-a[1], a[0], 0.0]))
                candidates.append(("side", R, np.array([centre[0], centre[1], z_tcp]), False))
    for kind, R, p, aligned in candidates:
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R, p
        to_ee = lambda q, T=T: (q - T[:3, 3]) @ T[:3, :3]  # noqa: E731
        obj_ee = to_ee(obj)
        band = (obj_ee[:, 2] <= g.finger_tip_z) & \
            (obj_ee[:, 2] >= g.finger_tip_z - g.finger_length)
        band &= np.abs(obj_ee[:, 0]) <= g.finger_width / 2  # in the fingers' slab
        band &= np.abs(obj_ee[:, 1]) <= g.max_opening / 2  # between the open fingers
        if band.sum() < 5:
            continue
        ys = obj_ee[band, 1]
        y_lo, y_hi = np.percentile(ys, 2), np.percentile(ys, 98)
        if y_lo > 0 or y_hi < 0:  # nothing on the closing line through the TCP
            continue
        width = float(2 * max(-y_lo, y_hi))  # symmetric about the TCP
        if width + 2 * min_margin > g.max_opening:
            continue
        open_m = min(width + 2 * margin, g.max_opening)
        if _finger_hits(obj_ee, open_m, g).mean() > 0.002:
            continue
        # Sweep along the approach: the fingers and hand must stay clear of obstacles and the
        # table from 10 cm before the grasp.
        blocked = False
        for back in np.linspace(0.0, approach_m, 5):
            shift = T[:3, 2] * back
            obs_ee = to_ee(obstacles + shift) if len(obstacles) else np.zeros((0, 3))
            if len(obs_ee) and (_finger_hits(obs_ee, open_m, g).any() or
                                _hand_hits(obs_ee, g).any()):
                blocked = True
                break
        tips = p + T[:3, 2] * g.finger_tip_z
        if blocked or tips[2] < table_z + 0.004:
            continue
        spare = (g.max_opening - open_m) / g.max_opening
        off = float(np.linalg.norm(p[:2] - centre[:2]))
        if kind == "top":
            score = 1.0 + (ALIGNED_BONUS if aligned else 0.0)
        else:
            a = T[:2, 2]
            score = 0.5 - 0.2 * float(np.arccos(np.clip(a @ sd / np.linalg.norm(sd), -1, 1)))
        score += 0.1 * spare - 3.0 * off
        out.append(Grasp(T, width, open_m, kind, score))
    out.sort(key=lambda gr: -gr.score)
    return out

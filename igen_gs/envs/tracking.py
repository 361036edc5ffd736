"""How the arm's TCP follows commanded targets: a per-axis second-order model, identified from a
few free-space moves of the arm, that turns a generated episode's targets into the TCP path a
controller would really produce.

A planned trajectory is exact: the TCP is where the plan says, and stops dead where the plan
stops. A real controller lags a moving target and overshoots where it stops (robosuite's
OSC_POSE at its default gains: about 1 cm past a pre-grasp pose reached at 0.25 m/s). A policy
trained on exact paths learns that "hovering here" means "the object is under me" -- in
closed loop, after the controller's overshoot, it descends beside the object.

Model, per axis of the robot base frame (x, y horizontal, z vertical), at the control rate::

    p[t+1] = p[t] + k_err * (target[t] - p[t]) + k_vel * (p[t] - p[t-1])

(a damped spring towards the target, with momentum). Fitted by least squares on recorded
(target, TCP) pairs; :func:`identify_tracking` records them from random point-to-point moves of
the arm alone (no task, no objects), as one would calibrate a real arm once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class TrackingModel:
    """Per-axis gains (base frame x, y, z) of :func:`simulate_tracking`."""

    k_err: tuple[float, float, float]
    k_vel: tuple[float, float, float]

    def __post_init__(self):
        ke, kv = np.asarray(self.k_err, float), np.asarray(self.k_vel, float)
        if ke.shape != (3,) or kv.shape != (3,) or not np.isfinite(ke).all() or \
                not np.isfinite(kv).all():
            raise ValueError(f"tracking gains must be 3 finite values each, got k_err "
                             f"{self.k_err}, k_vel {self.k_vel}")
        # stable: both roots of z^2 - (1 + k_vel - k_err) z + k_vel inside the unit circle
        for e, v in zip(ke, kv):
            if np.max(np.abs(np.roots([1.0, -(1.0 + v - e), v]))) >= 1.0:
                raise ValueError(f"tracking gains k_err={e:.3f}, k_vel={v:.3f} are unstable")


def fit_tracking(targets: list[np.ndarray], positions: list[np.ndarray]) -> TrackingModel:
    """Least-squares gains from episodes of commanded ``targets`` [T, 3] and measured TCP
    ``positions`` [T, 3] (base frame, metres): ``positions[t+1] - positions[t]`` against
    ``targets[t] - positions[t]`` and ``positions[t] - positions[t-1]``."""
    if len(targets) != len(positions) or not targets:
        raise ValueError("fit_tracking needs as many target as position sequences (>= 1)")
    ke, kv = [], []
    for ax in range(3):
        A, y = [], []
        for a, p in zip(targets, positions):
            a, p = np.asarray(a, float), np.asarray(p, float)
            if a.shape != p.shape or a.ndim != 2 or a.shape[1] != 3:
                raise ValueError(f"targets and positions must both be [T, 3], got {a.shape} "
                                 f"and {p.shape}")
            t = np.arange(1, len(p) - 1)
            A.append(np.stack([a[t, ax] - p[t, ax], p[t, ax] - p[t - 1, ax]], 1))
            y.append(p[t + 1, ax] - p[t, ax])
        A, y = np.concatenate(A), np.concatenate(y)
        if len(y) < 10:
            raise ValueError(f"fit_tracking needs at least 10 steps, got {len(y)}")
        k, *_ = np.linalg.lstsq(A, y, rcond=None)
        ke.append(float(k[0]))
        kv.append(float(k[1]))
    return TrackingModel(tuple(ke), tuple(kv))


def simulate_tracking(model: TrackingModel, targets: np.ndarray, p0: np.ndarray) -> np.ndarray:
    """TCP positions [T, 3] following ``targets`` [T, 3] from rest at ``p0`` [3]: row t is the
    position when target t is commanded (row 0 = ``p0``)."""
    a = np.asarray(targets, dtype=np.float64)
    ke, kv = np.asarray(model.k_err), np.asarray(model.k_vel)
    p = np.empty_like(a)
    p[0] = p0
    prev = np.asarray(p0, dtype=np.float64)
    for t in range(len(a) - 1):
        p[t + 1] = p[t] + tracking_step(ke, kv, p[t], a[t], p[t] - prev)
        prev = p[t]
    return p


def tracking_step(k_err, k_vel, p: np.ndarray, target: np.ndarray, last_step: np.ndarray
                  ) -> np.ndarray:
    """The model's next displacement ``k_err * (target - p) + k_vel * last_step`` (per axis)."""
    return k_err * (target - p) + k_vel * last_step


def track_trajectory(traj, targets_world: np.ndarray, model: TrackingModel,
                     floor_z: float | None = None):
    """``traj`` with its TCP positions replaced by those of an arm tracking ``targets_world``
    [T, 3] (world frame; e.g. the plan's positions a few steps ahead), simulated in the base
    frame; rotations, finger openings and free objects unchanged; held objects move with the
    hand; joint angles recomputed when the trajectory had them. ``floor_z``: the TCP never goes
    below this world height (a hand overshooting downwards stops on what it grasps)."""
    from ..planning.kinematics import joint_trajectory

    targets_world = np.asarray(targets_world, dtype=np.float64)
    if targets_world.shape != (len(traj), 3):
        raise ValueError(f"targets_world must have shape [{len(traj)}, 3] (one target per "
                         f"frame), got {list(targets_world.shape)}")
    T_wb = np.asarray(traj.T_world_base, dtype=np.float64)
    R, o = T_wb[:3, :3], T_wb[:3, 3]
    tgt_b = (targets_world - o) @ R
    p_b = simulate_tracking(model, tgt_b, (traj.T_world_ee[0, :3, 3] - o) @ R)
    T = np.array(traj.T_world_ee, dtype=np.float64, copy=True)
    T[:, :3, 3] = p_b @ R.T + o
    if floor_z is not None:
        T[:, 2, 3] = np.maximum(T[:, 2, 3], floor_z)
    poses = {n: np.array(P, copy=True) for n, P in traj.object_poses.items()}
    for t, name in enumerate(traj.attached):
        if name:
            delta = T[t] @ np.linalg.inv(traj.T_world_ee[t])
            poses[name][t] = delta @ traj.object_poses[name][t]
    out = replace(traj, T_world_ee=T, object_poses=poses)
    if traj.joint_positions is not None:
        out.joint_positions = joint_trajectory(T, traj.T_world_base, out.step_labels())
    return out


def identify_tracking(env, seed: int = 0, moves: int = 10, move_steps: int = 12,
                      hold_steps: int = 10, reach_m: float = 0.08,
                      rng_seed: int = 0) -> TrackingModel:
    """Fit the model on the arm alone: from ``env``'s reset ``seed``, move the target to
    ``moves`` random points within ``reach_m`` of the start TCP along each axis, each move a
    constant-speed ramp of ``move_steps`` control steps followed by ``hold_steps`` at rest
    (orientation and fingers kept; ramps rather than jumps keep the controller's input below
    its clipping, and their abrupt stops show the overshoot), through the same target ->
    controller conversion as every data source, and fit the gains on what the TCP did.
    Measured on robosuite's Panda (OSC_POSE defaults): the fitted model, run free on the
    targets of 20 of the scripted expert's Lift demonstrations, reproduces their TCP paths to
    3.6 mm (median; 6.8 mm p90), against 2.8 mm for gains fitted on those demonstrations
    themselves; minimum-jerk probe moves, or vertical moves half as large, gave 6.7-12 mm."""
    rng = np.random.default_rng(rng_seed)
    obs = env.reset(seed)
    T0 = obs.T_base_tcp.copy()
    g = obs.gripper
    targets, positions = [], []
    here = T0[:3, 3].copy()
    for _ in range(moves):
        goal = T0[:3, 3] + rng.uniform(-reach_m, reach_m, 3)
        u = np.linspace(0.0, 1.0, move_steps + 1)[1:]
        path = list(here + u[:, None] * (goal - here)) + [goal] * hold_steps
        for p in path:
            T = T0.copy()
            T[:3, 3] = p
            targets.append(p.copy())
            positions.append(obs.T_base_tcp[:3, 3].copy())
            obs = env.step_to(T, g)
        here = goal
    return fit_tracking([np.array(targets)], [np.array(positions)])


def plan_keyframes(traj, eps_m: float = 1e-5, eps_rad: float = 1e-4,
                   eps_open_m: float = 1e-5) -> list[tuple[str, int]]:
    """The plan as a program of ("move", t) and ("grip", t) items: each move ends at frame t
    where the TCP comes to rest or the phase changes, each grip (fingers changing, the TCP
    still) ends where the fingers stop. Frames where nothing changes are left out."""
    from .control import rotvec

    T = np.asarray(traj.T_world_ee, dtype=np.float64)
    g = np.asarray(traj.gripper_opening_m, dtype=np.float64)
    n = len(T)
    moving = [np.linalg.norm(T[t + 1, :3, 3] - T[t, :3, 3]) > eps_m or
              np.linalg.norm(rotvec(T[t + 1, :3, :3] @ T[t, :3, :3].T)) > eps_rad
              for t in range(n - 1)]
    gripping = [abs(g[t + 1] - g[t]) > eps_open_m for t in range(n - 1)]
    prog: list[tuple[str, int]] = []
    t = 0
    while t < n - 1:
        if moving[t]:
            e = t + 1
            while e < n - 1 and moving[e] and traj.phase[e + 1] == traj.phase[e]:
                e += 1
            prog.append(("move", e))
            t = e
        elif gripping[t]:
            e = t + 1
            while e < n - 1 and gripping[e] and not moving[e]:
                e += 1
            prog.append(("grip", e))
            t = e
        else:
            t += 1
    return prog


def target_law(traj, model: TrackingModel, config=None, finger_rate: float = 0.06,
               squeeze_m: float = 0.004, hold_steps: int = 6, max_steps: int = 600):
    """``traj`` executed as the scripted expert (:class:`igen_gs.envs.expert.ScriptedExpert`)
    drives the arm: the commanded target moves towards each keyframe of the plan
    (:func:`plan_keyframes`) at the speed limits, waits there until the TCP is within
    ``config.tolerance_m`` (or ``waypoint_timeout_steps`` pass), and the commanded opening
    ramps to each grip's opening over ``gripper_steps``; the TCP follows the targets as the
    identified ``model`` says (position; rotation by the same law on its rotation vector), the
    fingers move ``finger_rate`` (normalised opening per step) while the command differs from
    them by more than :data:`igen_gs.envs.control.GRIPPER_MARGIN`, and stop on a grasped
    object (the grip's opening + ``squeeze_m``); held objects move with the TCP. After the
    last item, ``hold_steps`` more frames at rest (the expert's recordings end so).

    Returns ``(shown, targets, commands)``: the trajectory as it would be seen (TCP path,
    finger opening, object poses; joint angles recomputed when ``traj`` had them), the
    commanded targets [T, 4, 4] (world) and openings [T] (normalised): the actions."""
    from ..planning.kinematics import joint_trajectory
    from .control import GRIPPER_MARGIN, rotvec
    from .expert import ExpertConfig, _rotvec_to_matrix, _step_towards

    cfg = config or ExpertConfig()
    dt = 1.0 / float(traj.fps)
    T_plan = np.asarray(traj.T_world_ee, dtype=np.float64)
    g_plan = np.asarray(traj.gripper, dtype=np.float64)
    T_wb = np.asarray(traj.T_world_base, dtype=np.float64)
    R_wb, o_wb = T_wb[:3, :3], T_wb[:3, 3]
    ke, kv = np.asarray(model.k_err), np.asarray(model.k_vel)
    ke_r, kv_r = float(ke.mean()), float(kv.mean())
    floor_z = float(T_plan[:, 2, 3].min())
    program = plan_keyframes(traj)

    tcp = T_plan[0].copy()
    v = np.zeros(3)  # base-frame TCP displacement of the last step
    w = np.zeros(3)  # rotation vector of the last step
    target = tcp.copy()
    cmd = float(g_plan[0])
    fingers = float(g_plan[0])
    width = None  # normalised opening at which the fingers meet a grasped object
    held: dict[str, np.ndarray] = {}  # name -> T_tcp_obj
    objects = {n: np.asarray(P[0], dtype=np.float64).copy() for n, P in traj.object_poses.items()}
    rows: dict[str, list] = {k: [] for k in ("T", "g", "obj", "att", "tgt", "cmd", "k")}

    def record(k):
        if len(rows["T"]) >= max_steps:
            raise ValueError(f"the plan did not finish within {max_steps} steps of the target "
                             f"law (frame {k}: {traj.step_labels()[k]})")
        rows["T"].append(tcp.copy())
        rows["g"].append(fingers)
        rows["obj"].append({n: P.copy() for n, P in objects.items()})
        rows["att"].append(next(iter(held), ""))
        rows["tgt"].append(target.copy())
        rows["cmd"].append(cmd)
        rows["k"].append(k)

    def advance():
        nonlocal tcp, v, w, fingers
        p = R_wb.T @ (tcp[:3, 3] - o_wb)
        a = R_wb.T @ (target[:3, 3] - o_wb)
        v = tracking_step(ke, kv, p, a, v)
        p_new = R_wb @ (p + v) + o_wb
        p_new[2] = max(p_new[2], floor_z)
        w = tracking_step(ke_r, kv_r, 0.0, rotvec(target[:3, :3] @ tcp[:3, :3].T), w)
        tcp = tcp.copy()
        tcp[:3, :3] = _rotvec_to_matrix(w) @ tcp[:3, :3]
        tcp[:3, 3] = p_new
        if cmd < fingers - GRIPPER_MARGIN:
            fingers = max(fingers - finger_rate, cmd)
        elif cmd > fingers + GRIPPER_MARGIN:
            fingers = min(fingers + finger_rate, cmd)
        if width is not None:
            fingers = max(fingers, width)
        for n, T_tcp_obj in held.items():
            objects[n] = tcp @ T_tcp_obj

    for i, (kind, k) in enumerate(program):
        steps_here = 0
        if kind == "move":
            goal = T_plan[k]
            cmd = float(g_plan[k])
            while True:
                steps_here += 1
                target = _step_towards(target, goal, cfg.max_speed * dt,
                                       cfg.max_angular_speed * dt)
                at_goal = np.allclose(target, goal, atol=1e-9)
                close = np.linalg.norm(tcp[:3, 3] - goal[:3, 3]) < cfg.tolerance_m
                record(k)
                advance()
                if at_goal and (close or steps_here > cfg.waypoint_timeout_steps):
                    break
        else:
            g0, g1 = cmd, float(g_plan[k])
            closing = g1 < g0
            # the object held from this grip on: the plan's at the end of the next item
            name = traj.attached[program[i + 1][1] if i + 1 < len(program) else len(traj) - 1]
            if closing:
                width = g1 + squeeze_m / traj.max_opening_m
            while True:
                steps_here += 1
                cmd = g0 + (g1 - g0) * min(1.0, steps_here / cfg.gripper_steps)
                record(k)
                advance()
                if steps_here >= cfg.gripper_steps:
                    break
            if closing and name:
                held = {name: np.linalg.inv(tcp) @ objects[name]}
            elif not closing:
                held, width = {}, None
    last = program[-1][1] if program else 0
    for _ in range(hold_steps):
        record(last)
        advance()

    n = len(rows["T"])
    ks = np.asarray(rows["k"])
    g = np.asarray(rows["g"])
    shown = replace(
        traj, timestamps=np.arange(n) / float(traj.fps), T_world_ee=np.stack(rows["T"]),
        gripper=g, gripper_opening_m=g * traj.max_opening_m, attached=rows["att"],
        object_poses={nm: np.stack([o[nm] for o in rows["obj"]]) for nm in objects},
        step_index=np.asarray(traj.step_index)[ks],
        phase=[traj.phase[k] for k in ks], joint_positions=None)
    if traj.joint_positions is not None:
        shown.joint_positions = joint_trajectory(shown.T_world_ee, traj.T_world_base,
                                                 shown.step_labels())
    return shown, np.stack(rows["tgt"]), np.asarray(rows["cmd"])

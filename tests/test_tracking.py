"""The controller-tracking model (igen_gs.envs.tracking): fitting, simulation, and a tracked
trajectory. Pure NumPy; no simulator needed (identify_tracking runs in the robosuite tests)."""

from __future__ import annotations

import numpy as np
import pytest

from igen_gs.envs.tracking import (
    TrackingModel,
    fit_tracking,
    simulate_tracking,
    track_trajectory,
)


def _ramps(rng, n_moves=8, steps=12, hold=10):
    here, out = np.zeros(3), []
    for _ in range(n_moves):
        goal = rng.uniform(-0.08, 0.08, 3)
        u = np.linspace(0, 1, steps + 1)[1:]
        out += list(here + u[:, None] * (goal - here)) + [goal] * hold
        here = goal
    return np.array(out)


def test_fit_recovers_the_gains_that_made_the_path():
    """Paths simulated with known gains (plus 0.02 mm measurement noise) give those gains back
    to 0.01; fresh seeds, 176 steps each."""
    rng = np.random.default_rng(np.random.SeedSequence().entropy)
    true = TrackingModel((0.08, 0.085, 0.11), (0.70, 0.65, 0.57))
    targets = [_ramps(rng) for _ in range(3)]
    paths = [simulate_tracking(true, a, a[0]) + rng.normal(0, 2e-5, a.shape) for a in targets]
    got = fit_tracking(targets, paths)
    assert np.allclose(got.k_err, true.k_err, atol=0.01), got
    assert np.allclose(got.k_vel, true.k_vel, atol=0.01), got


def test_simulated_arm_lags_a_ramp_overshoots_its_stop_and_settles():
    """A target moving 10 cm at 1 cm per step: the TCP lags it while it moves (by about
    (1 - k_vel) / k_err steps of motion), passes the stop, and settles on it."""
    m = TrackingModel((0.08, 0.08, 0.11), (0.70, 0.70, 0.57))
    a = np.zeros((80, 3))
    a[:10, 0] = np.arange(1, 11) * 0.01
    a[10:, 0] = 0.1
    p = simulate_tracking(m, a, np.zeros(3))
    assert p[0, 0] == 0.0
    lag = a[9, 0] - p[9, 0]
    assert 0.01 < lag < 0.05
    assert p[:, 0].max() > 0.1 + 0.003  # overshoot
    assert abs(p[-1, 0] - 0.1) < 1e-3  # settled
    assert np.allclose(p[:, 1:], 0.0)


def test_unstable_or_malformed_gains_and_bad_fit_input_are_clear_errors():
    with pytest.raises(ValueError, match="unstable"):
        TrackingModel((0.1, 0.1, 0.1), (1.2, 0.5, 0.5))
    with pytest.raises(ValueError, match="3 finite values"):
        TrackingModel((0.1, 0.1), (0.5, 0.5))
    with pytest.raises(ValueError, match=r"\[T, 3\]"):
        fit_tracking([np.zeros((20, 2))], [np.zeros((20, 2))])
    with pytest.raises(ValueError, match="at least 10 steps"):
        fit_tracking([np.zeros((5, 3))], [np.zeros((5, 3))])


def test_tracked_trajectory_moves_the_held_object_with_the_hand_only():
    """The TCP follows the targets (not the plan), never below the floor; rotations and
    fingers are the plan's; a free object stays put; a held one keeps its offset from the
    hand; the base frame is honoured (a base turned 90 degrees gives the same world path)."""
    from igen_gs.planning.types import Plan, Step, Trajectory

    T = 60
    Ts = np.repeat(np.eye(4)[None], T, 0)
    z = np.concatenate([np.linspace(0.3, 0.1, 20), np.full(20, 0.1), np.linspace(0.1, 0.25, 20)])
    Ts[:, 2, 3] = z
    Ts[:20, 0, 3] = np.linspace(0.0, 0.1, 20)
    Ts[20:, 0, 3] = 0.1
    Ts[:20, 1, 3] = np.linspace(0.05, 0.0, 20)
    cube = np.repeat(np.eye(4)[None], T, 0)
    cube[:, 2, 3] = z - 0.02
    cube[:40, 2, 3] = 0.08
    other = np.repeat(np.eye(4)[None], T, 0)
    other[:, 0, 3] = 0.3
    traj = Trajectory(timestamps=np.arange(T) / 20, T_world_ee=Ts, gripper=np.ones(T),
                      gripper_opening_m=np.full(T, 0.08),
                      attached=[""] * 40 + ["cube"] * 20,
                      object_poses={"cube": cube, "other": other},
                      step_index=np.zeros(T, int), phase=["lift"] * T,
                      plan=Plan("lift the cube", [Step("lift", "cube")]), fps=20.0)
    m = TrackingModel((0.08, 0.08, 0.11), (0.70, 0.70, 0.57))
    lead = np.minimum(np.arange(T) + 4, T - 1)
    out = track_trajectory(traj, Ts[lead, :3, 3], m, floor_z=0.1)
    p = out.T_world_ee[:, :3, 3]
    free = simulate_tracking(m, Ts[lead, :3, 3], Ts[0, :3, 3])
    assert np.allclose(p, np.maximum(free, [-np.inf, -np.inf, 0.1]))
    assert p[:, 2].min() >= 0.1 - 1e-12
    assert np.abs(p[:, 2] - z).max() > 0.005  # it does not follow the plan exactly
    assert np.array_equal(out.T_world_ee[:, :3, :3], Ts[:, :3, :3])
    assert np.array_equal(out.object_poses["other"], other)
    assert np.array_equal(out.object_poses["cube"][:40], cube[:40])
    held = out.object_poses["cube"][40:, 2, 3] - p[40:, 2]
    assert np.allclose(held, -0.02)
    # gains act along the base's axes: with the base turned 90 degrees about z (base x = world
    # y), gains (a, b) give the world path that gains (b, a) give with an unturned base
    Rz = np.eye(4)
    Rz[:2, :2] = [[0, -1], [1, 0]]
    Rz[:3, 3] = [0.2, -0.1, 0.0]
    turned = track_trajectory(
        type(traj)(**{**traj.__dict__, "T_world_base": Rz}), Ts[lead, :3, 3],
        TrackingModel((0.05, 0.12, 0.11), (0.75, 0.6, 0.57)), floor_z=0.1)
    swapped = track_trajectory(traj, Ts[lead, :3, 3],
                               TrackingModel((0.12, 0.05, 0.11), (0.6, 0.75, 0.57)), floor_z=0.1)
    assert np.allclose(turned.T_world_ee, swapped.T_world_ee)
    assert not np.allclose(turned.T_world_ee, out.T_world_ee)
    with pytest.raises(ValueError, match=r"targets_world must have shape \[60, 3\]"):
        track_trajectory(traj, Ts[lead[:-1], :3, 3], m)


def _pick_plan(fps=20.0):
    """A planned pick: start -> over the cube (move), down (move), close (grip), lift (move),
    hold; minimum-jerk-like moves that stop at each waypoint."""
    from igen_gs.planning.types import Plan, Step, Trajectory

    def seg(p0, p1, n):
        s = np.linspace(0, 1, n + 1)[1:]
        s = 10 * s**3 - 15 * s**4 + 6 * s**5
        return [p0 + u * (p1 - p0) for u in s]

    start, over = np.array([0.0, 0.1, 0.35]), np.array([0.15, -0.05, 0.2])
    grasp, up = over - [0, 0, 0.1], over + [0, 0, 0.05]
    pos = [start] + seg(start, over, 16) + seg(over, grasp, 12) + [grasp] * 12 + \
        seg(grasp, up, 14) + [up] * 4
    phase = ["start"] * 17 + ["grasp"] * 12 + ["close"] * 12 + ["lift"] * 14 + ["hold"] * 4
    n = len(pos)
    Ts = np.repeat(np.eye(4)[None], n, 0)
    Ts[:, :3, 3] = pos
    Ts[:, :3, :3] = np.diag([1.0, -1.0, -1.0])  # pointing down
    g = np.full(n, 0.08)
    g[29:41] = np.linspace(0.08, 0.03, 12)
    g[41:] = 0.03
    attached = [""] * 41 + ["cube"] * (n - 41)
    cube = np.repeat(np.eye(4)[None], n, 0)
    cube[:, :3, 3] = grasp
    cube[41:, :3, 3] = np.array(pos[41:])
    other = np.repeat(np.eye(4)[None], n, 0)
    other[:, 0, 3] = 0.4
    return Trajectory(timestamps=np.arange(n) / fps, T_world_ee=Ts, gripper=g / 0.08,
                      gripper_opening_m=g, attached=attached,
                      object_poses={"cube": cube, "other": other},
                      step_index=np.zeros(n, int), phase=phase,
                      plan=Plan("lift the cube", [Step("lift", "cube")]), fps=fps)


def test_plan_keyframes_split_moves_at_rest_and_phase_changes():
    from igen_gs.envs.tracking import plan_keyframes

    traj = _pick_plan()
    assert plan_keyframes(traj) == [("move", 16), ("move", 28), ("grip", 40), ("move", 54)]


def test_target_law_drives_the_plan_as_the_scripted_expert_does():
    """Targets move at most the speed limit per step and reach every waypoint; the gripper
    command only ramps once the simulated TCP is within the tolerance of the grasp; the
    fingers stop on the cube (closed opening + squeeze); the cube stays put until held, then
    keeps its offset from the hand; the TCP is the tracking model's response to the targets
    (never below the lowest planned height) and ends at the lift's waypoint; the other object
    never moves."""
    from igen_gs.envs.expert import ExpertConfig
    from igen_gs.envs.tracking import target_law

    traj = _pick_plan()
    m = TrackingModel((0.08, 0.085, 0.11), (0.70, 0.65, 0.57))
    cfg = ExpertConfig()
    shown, targets, cmds = target_law(traj, m, cfg, squeeze_m=0.004)
    n = len(shown)
    assert targets.shape == (n, 4, 4) and cmds.shape == (n,) and shown.fps == traj.fps
    step = np.linalg.norm(np.diff(targets[:, :3, 3], axis=0), axis=1)
    assert step.max() <= cfg.max_speed / traj.fps + 1e-9
    for k in (16, 28, 54):  # every move's waypoint is commanded
        assert np.min(np.linalg.norm(targets[:, :3, 3] - traj.T_world_ee[k, :3, 3], axis=1)) \
            < 1e-9
    p = shown.T_world_ee[:, :3, 3]
    grasp = traj.T_world_ee[28, :3, 3]
    first = int(np.nonzero(cmds < 1.0 - 1e-9)[0][0])
    assert np.linalg.norm(p[first] - grasp) < cfg.tolerance_m
    assert np.linalg.norm(p[first - 3] - grasp) > 0.002  # it did not just wait there
    assert cmds.min() == pytest.approx(0.03 / 0.08)
    width = (0.03 + 0.004) / 0.08
    assert shown.gripper.min() == pytest.approx(width)
    assert shown.gripper[first] > 0.95
    # the TCP as the model follows the targets (base frame = world here), floored
    ref = np.empty_like(p)
    ref[0] = traj.T_world_ee[0, :3, 3]
    v = np.zeros(3)
    for t in range(n - 1):
        v = np.array(m.k_err) * (targets[t, :3, 3] - ref[t]) + np.array(m.k_vel) * v
        ref[t + 1] = ref[t] + v
        ref[t + 1, 2] = max(ref[t + 1, 2], grasp[2])
    assert np.allclose(p, ref)
    assert np.linalg.norm(p[-1] - traj.T_world_ee[54, :3, 3]) < cfg.tolerance_m
    held = [t for t, a in enumerate(shown.attached) if a == "cube"]
    assert held and held[0] > first + cfg.gripper_steps - 2
    cube = shown.object_poses["cube"]
    assert np.allclose(cube[:held[0], :3, 3], grasp)
    offs = [np.linalg.inv(shown.T_world_ee[t]) @ cube[t] for t in held]
    assert np.allclose(offs, offs[0]) and cube[-1, 2, 3] > grasp[2] + 0.04
    assert np.array_equal(shown.object_poses["other"], np.repeat(traj.object_poses["other"][:1],
                                                                 n, 0))
    with pytest.raises(ValueError, match="did not finish within 30 steps"):
        target_law(traj, m, cfg, max_steps=30)

"""Planning on the built-in scene and on rigidly moved copies of it: language, placement
without penetration, pushes, rotations, grasp synthesis, limits and frame invariance."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import roma
import torch

from igen_gs.episode.gripper import GripperGeometry
from igen_gs.planning import Plan, PlanConfig, Step, plan_task
from igen_gs.planning.geometry import object_points, rest_shift, task_frame
from igen_gs.planning.grasp import synthesize_grasps
from igen_gs.planning.rule import rule_plan
from igen_gs.scene import Scene, frames
from igen_gs.scene.builtin import builtin_camera, builtin_scene

NAMES = ["red block", "blue plate", "mug", "green can"]
PLATE_TOP = 0.012  # builtin plate: 1.2 cm high cylinder standing on z = 0, radius 9 cm
CAN_TOP = 0.12


@pytest.fixture(scope="module")
def scene():
    return builtin_scene(spacing=0.005)


def _pts(scene, traj, name, t=-1):
    return object_points(scene, name, traj.object_poses[name][t])


# ---------------------------------------------------------------------------- language
@pytest.mark.parametrize("instruction,expected", [
    ("pick up the mug and put it on the blue plate", ["pick mug", "place mug on blue plate"]),
    ("take the block and place it on the plate", ["pick red block",
                                                  "place red block on blue plate"]),
    ("Pick the mug up", ["pick mug"]),
    ("push the block 5 cm to the left", ["push red block left 0.05 m"]),
    ("push the block to the right by 30 mm", ["push red block right 0.03 m"]),
    ("slide the can forward", ["push green can forward 0.10 m"]),
    ("move the red block 10 cm to the left", ["move red block left 0.10 m"]),
    ("move the mug forward by 0.2 m", ["move mug forward 0.20 m"]),
    ("move the block to the plate", ["pick red block", "place red block on blue plate"]),
    ("put the red block into the mug", ["pick red block", "place red block in mug"]),
    ("rotate the mug by 30 degrees", ["rotate mug by 30 deg"]),
    ("pour the green cans", ["tilt green can by 90 deg"]),
    ("pick up the block and lift it by 5 cm", ["pick red block", "lift red block by 0.05 m"]),
    ("put the mug in front of the can", ["move_to mug in front of green can"]),
])
def test_more_phrasings(instruction, expected):
    assert [s.describe() for s in rule_plan(instruction, NAMES).steps] == expected


def test_phrases_naming_several_objects_are_rejected():
    with pytest.raises(ValueError, match="names more than one object"):
        rule_plan("pick up the mug and the can", NAMES)
    with pytest.raises(ValueError) as e:
        rule_plan("pick up the block", ["red block", "blue block", "mug"])
    assert str(e.value) == "'block' is ambiguous: it could be red block, blue block"


# ---------------------------------------------------------------------------- geometry
def _cube(centre, size=0.05, n=11):
    u = np.linspace(-size / 2, size / 2, n)
    g = np.stack(np.meshgrid(u, u, u, indexing="ij"), -1).reshape(-1, 3)
    return g + np.asarray(centre)


def test_rest_shift_sets_objects_down_on_the_highest_support():
    r = np.linspace(0, 0.085, 18)
    a = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    disc = np.stack([np.outer(r, np.cos(a)).ravel(), np.outer(r, np.sin(a)).ravel(),
                     np.full(r.size * a.size, 0.01)], 1)
    rim = np.stack([0.09 * np.cos(a), 0.09 * np.sin(a), np.full(a.size, 0.02)], 1)
    plate = np.concatenate([disc, rim])
    cube = _cube([0.0, 0.0, 0.125])  # bottom at 0.1
    assert rest_shift(cube, plate) == pytest.approx(0.01 - 0.1)
    assert rest_shift(_cube([0.09, 0.0, 0.125]), plate) == pytest.approx(0.02 - 0.1)  # rim
    assert rest_shift(_cube([0.5, 0.0, 0.125]), plate) == pytest.approx(-0.1)  # the table
    with pytest.raises(ValueError, match="nothing to rest on"):
        rest_shift(_cube([0.5, 0.0, 0.125]), plate, floor=None)
    # Penetrating objects are pushed up.
    assert rest_shift(_cube([0.0, 0.0, 0.0]), plate) == pytest.approx(0.01 + 0.025)


def _cylinder_points(radius, height, n=48):
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    z = np.linspace(0, height, 25)
    side = np.stack([np.repeat(radius * np.cos(a)[None], z.size, 0).ravel(),
                     np.repeat(radius * np.sin(a)[None], z.size, 0).ravel(),
                     np.repeat(z[:, None], n, 1).ravel()], 1)
    r = np.linspace(0, radius, 8)
    top = np.stack([np.outer(r, np.cos(a)).ravel(), np.outer(r, np.sin(a)).ravel(),
                    np.full(r.size * n, height)], 1)
    return np.concatenate([side, top])


def test_side_grasps_approach_horizontally_and_avoid_obstacles():
    can = _cylinder_points(0.03, 0.15)
    g = GripperGeometry()
    grasps = synthesize_grasps(can, np.zeros((0, 3)), g, kinds=("side",))
    best = grasps[0]
    R = best.T_task_ee[:3, :3]
    assert abs(R[2, 2]) < 1e-9 and R[:3, 2] @ [1.0, 0.0, 0.0] == pytest.approx(1.0)  # +x
    assert best.width_m == pytest.approx(0.06, abs=0.004)
    assert best.T_task_ee[2, 3] == pytest.approx(0.09, abs=0.005)  # 60 % of the height
    # A post 20 cm behind the can on the straight approach line: the 20 cm wide hand, swept
    # back 10 cm along the approach, hits it unless it comes in 60 degrees to either side.
    post = _cylinder_points(0.01, 0.25) + [-0.2, 0.0, 0.0]
    blocked = synthesize_grasps(can, post, g, kinds=("side",))
    angles = sorted(round(math.degrees(math.atan2(gr.T_task_ee[1, 2], gr.T_task_ee[0, 2])))
                    for gr in blocked)
    assert angles == [-60, 60]
    with pytest.raises(ValueError, match="grasp kinds"):
        synthesize_grasps(can, post, g, kinds=("diagonal",))


# ---------------------------------------------------------------------------- motion
def test_place_on_the_plate_and_stack_on_the_can(scene):
    traj = plan_task(scene, "put the red block on the blue plate")
    block = _pts(scene, traj, "red block")
    plate_c = scene.poses["blue plate"][:2, 3].numpy()
    assert abs(block[:, 2].min() - PLATE_TOP) < 0.005  # resting on the plate's surface
    assert np.linalg.norm(block[:, :2] - plate_c, axis=1).max() < 0.09  # inside its footprint
    close = traj.phase.index("close")
    start = object_points(scene, "red block")
    grasp_point = 0.5 * (start.min(0) + start.max(0))
    assert np.linalg.norm(traj.T_world_ee[close, :2, 3] - grasp_point[:2]) < 0.01
    assert start[:, 2].min() < traj.T_world_ee[close, 2, 3] < start[:, 2].max()
    traj = plan_task(scene, "stack the red block on the green can")
    block = _pts(scene, traj, "red block")
    can_c = scene.poses["green can"][:2, 3].numpy()
    assert abs(block[:, 2].min() - CAN_TOP) < 0.005
    assert np.linalg.norm(block[:, :2].mean(0) - can_c) < 0.033


def test_placements_never_penetrate_and_find_free_space(scene):
    # Beside the plate, where the can partly stands: the block must land on free table.
    for instr in ("move the red block behind the blue plate",
                  "put the green can to the left of the red block",
                  "move the red block 20 cm forward"):
        traj = plan_task(scene, instr)
        moved = next(n for n in scene.object_names
                     if not np.allclose(traj.object_poses[n][-1], traj.object_poses[n][0]))
        final = _pts(scene, traj, moved)
        others = np.concatenate([_pts(scene, traj, n) for n in scene.object_names if n != moved])
        assert rest_shift(final, others) <= 1e-9, instr  # touches nothing from below
        assert abs(final[:, 2].min()) < 0.005, instr  # on the table
    tf = task_frame(scene)
    block = tf.to_task(_pts(scene, traj, "red block"))
    start = tf.to_task(object_points(scene, "red block"))
    assert block.mean(0)[0] - start.mean(0)[0] == pytest.approx(0.20, abs=0.01)


def test_push_into_another_object_is_rejected(scene):
    # The plate's edge lies ahead of the block's side (forward = +x without a camera), 19.5 cm
    # away (a circle of radius 9 cm about (0.12, 0.05) meets y = -0.025 at x = 0.070).
    with pytest.raises(ValueError, match=r"cannot push red block forward 0.30 m: it would run "
                                         r"into 'blue plate' after 19\.\d cm"):
        plan_task(scene, "push the red block forward 30 cm")
    traj = plan_task(scene, "push the red block forward 10 cm")
    moved = _pts(scene, traj, "red block").mean(0) - object_points(scene, "red block").mean(0)
    assert moved[0] == pytest.approx(0.10, abs=0.012) and abs(moved[1]) < 0.005


def test_rotate_turns_the_object_in_place(scene):
    traj = plan_task(scene, "rotate the red block by 45 degrees")
    T0, T1 = traj.object_poses["red block"][0], traj.object_poses["red block"][-1]
    dR = T1[:3, :3] @ T0[:3, :3].T
    rotvec = roma.rotmat_to_rotvec(torch.from_numpy(dR)).numpy()
    assert math.degrees(np.linalg.norm(rotvec)) == pytest.approx(45.0, abs=0.5)
    assert rotvec[2] > 0 and abs(rotvec[2]) / np.linalg.norm(rotvec) == pytest.approx(1.0,
                                                                                    abs=1e-6)
    assert np.linalg.norm(T1[:2, 3] - T0[:2, 3]) < 0.01
    assert abs(_pts(scene, traj, "red block")[:, 2].min()) < 0.005
    assert traj.attached[-1] == "" and "rotate" in traj.phase


@pytest.mark.parametrize("profile", ["min_jerk", "trapezoid"])
def test_lift_held_object_and_respect_motion_limits(scene, profile):
    pc = PlanConfig()
    pc = replace(pc, motion=replace(pc.motion, profile=profile))
    traj = plan_task(scene, "pick up the green can and lift it by 20 cm", pc)
    bottom = max(_pts(scene, traj, "green can", t)[:, 2].min() for t in range(len(traj)))
    assert bottom == pytest.approx(0.20, abs=0.005)
    cfg = pc.motion
    p = traj.T_world_ee[:, :3, 3]
    v = np.diff(p, axis=0) * cfg.fps
    a = np.diff(v, axis=0) * cfg.fps
    assert np.linalg.norm(v, axis=1).max() <= cfg.max_speed + 1e-9
    assert np.linalg.norm(a, axis=1).max() <= cfg.max_accel * 1.1  # sampled, 15 Hz
    R = traj.T_world_ee[:, :3, :3]
    rel = np.einsum("tji,tjk->tik", R[:-1], R[1:])
    ang = np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1))
    assert ang.max() * cfg.fps <= cfg.max_angular_speed + 1e-6
    dg = np.abs(np.diff(traj.gripper_opening_m))
    moving = np.linalg.norm(np.diff(p, axis=0), axis=1) > 1e-12
    assert not (moving & (dg > 0)).any()  # the gripper opens/closes with the hand still


def test_trapezoid_profile_cruises_at_the_speed_limit_and_is_quicker(scene):
    from igen_gs.planning.motion import segment_profile, trapezoid

    tau = np.linspace(0, 1, 2001)
    for ramp in (0.1, 0.3, 0.5):
        s = trapezoid(tau, ramp)
        assert s[0] == 0 and s[-1] == pytest.approx(1.0, abs=1e-12)
        assert (np.diff(s) >= -1e-15).all()
        v = np.diff(s) / np.diff(tau)
        assert v.max() == pytest.approx(1 / (1 - ramp), rel=1e-3)  # area 1 under the speed
        mid = (tau[1:] > ramp + 0.01) & (tau[1:] < 1 - ramp - 0.01)
        if mid.any():  # cruise at constant speed (ramp 0.5 is a triangle: no cruise)
            assert np.ptp(v[mid]) < 1e-9
    cfg = replace(PlanConfig().motion, fps=20.0, max_accel=2.5, profile="trapezoid")
    T0, T1 = np.eye(4), np.eye(4)
    T1[:3, 3] = [0.3, 0.0, 0.0]
    p = segment_profile(T0, T1, cfg) * 0.3
    v = np.diff(np.concatenate([[0.0], p])) * cfg.fps
    # 0.3 m at 0.25 m/s with 0.1 s ramps: 1.3 s, 26 frames, most of them at the limit
    assert len(p) == 26 and v.max() <= cfg.max_speed + 1e-9
    assert (v > 0.99 * cfg.max_speed).sum() >= 20
    mj = segment_profile(T0, T1, replace(cfg, profile="min_jerk"))
    assert len(mj) == 45  # 1.875 x 0.3 / 0.25 = 2.25 s
    with pytest.raises(ValueError, match="profile must be"):
        replace(cfg, profile="bang_bang")
    with pytest.raises(ValueError, match="max_accel must be > 0"):
        replace(cfg, max_accel=0.0)
    slow = plan_task(scene, "pick up the green can and lift it by 20 cm")
    pc = PlanConfig()
    fast = plan_task(scene, "pick up the green can and lift it by 20 cm",
                     replace(pc, motion=replace(pc.motion, profile="trapezoid")))
    assert len(fast) < 0.9 * len(slow)  # same limits: the gripper and holds take as long


def _moved(scene: Scene, G: np.ndarray) -> Scene:
    """The same scene in another world frame: X_new = G X_old (G rigid)."""
    Gt = torch.from_numpy(G)
    n = scene.support_plane.double()
    normal = Gt[:3, :3] @ n[:3]
    plane = torch.cat([normal, (n[3] - normal @ Gt[:3, 3]).reshape(1)])
    cam = None
    if scene.camera is not None:
        T = scene.camera.T_world_cam
        cam = scene.camera.with_pose(Gt.to(T.dtype) @ T)
    return Scene(scene.background.transform(Gt), scene.objects,
                 {k: Gt @ v for k, v in scene.poses.items()}, cam, plane)


def test_planning_is_invariant_to_the_world_frame(scene):
    """Any up direction: a scene rigidly moved (here tipped over so "up" is a slanted axis)
    gives the same plan, moved the same way, and the same joint angles."""
    s = Scene(scene.background, scene.objects, scene.poses, builtin_camera(160, 120),
              scene.support_plane)
    axis = torch.tensor([0.3, -0.8, 0.5], dtype=torch.float64)
    G = frames.make_T(frames.axis_angle_to_rotmat(axis / axis.norm(),
                                                  torch.tensor(2.1, dtype=torch.float64)),
                      torch.tensor([0.4, -1.2, 2.0], dtype=torch.float64)).numpy()
    instr = "put the red block on the blue plate then push the green can right 5 cm"
    a = plan_task(s, instr)
    b = plan_task(_moved(s, G), instr)
    assert len(a) == len(b) and a.phase == b.phase
    assert np.abs(G @ a.T_world_ee - b.T_world_ee).max() < 1e-6
    assert np.abs(G @ a.T_world_base - b.T_world_base).max() < 1e-6
    for n in s.object_names:
        assert np.abs(G @ a.object_poses[n] - b.object_poses[n]).max() < 1e-6
    assert np.abs(a.joint_positions - b.joint_positions).max() < 1e-4
    up = task_frame(_moved(s, G)).up
    assert np.allclose(up, G[:3, :3] @ [0.0, 0.0, 1.0], atol=1e-9)


def test_same_seed_same_trajectory_and_step_labels(scene):
    cfg = PlanConfig(seed=3)
    a = plan_task(scene, "lift the red block by 10 cm", cfg)
    b = plan_task(scene, "lift the red block by 10 cm", cfg)
    assert np.array_equal(a.T_world_ee, b.T_world_ee)
    assert np.array_equal(a.joint_positions, b.joint_positions)
    labels = a.step_labels()
    assert labels[0] == "start" and labels[-1] == "done"
    assert "lift red block by 0.10 m: grasp" in labels
    with pytest.raises(ValueError, match="unknown action 'dance'"):
        plan_task(scene, plan=Plan("x", [Step("dance", "red block")]))


def test_a_cube_is_grasped_across_the_faces_nearest_the_hand(scene):
    """Of a cube's two face-aligned grasps (equally good), the planner takes the one nearest the
    hand's orientation: over a sweep of the cube's yaw, the wrist turns at most 45 degrees (and
    the footprint's estimation error) and the fingers close across faces (within 3 degrees; the
    simulator's expert holds a cube across its faces, and generated grasps up to 30 degrees off
    them taught a policy grasps that held the cube on its edges). Without the turning cost
    the choice fell either way, so one picture of a cube was grasped at angles 90 degrees
    apart -- a policy trained on such data averages them."""
    turns = []
    for yaw_deg in range(0, 90, 7):
        yaw = math.radians(yaw_deg)
        Rz = torch.eye(4, dtype=scene.poses["red block"].dtype)
        Rz[:2, :2] = torch.tensor([[math.cos(yaw), -math.sin(yaw)],
                                   [math.sin(yaw), math.cos(yaw)]])
        poses = dict(scene.poses)
        poses["red block"] = scene.poses["red block"] @ Rz
        moved = Scene(scene.background, scene.objects, poses, scene.camera,
                      scene.support_plane, dict(scene.meta))
        traj = plan_task(moved, "pick up the red block")
        R0 = traj.T_world_ee[0, :3, :3]
        R = traj.T_world_ee[traj.phase.index("close"), :3, :3]
        turn = math.degrees(float(roma.rotmat_geodesic_distance(torch.from_numpy(R0),
                                                                torch.from_numpy(R))))
        fingers = math.degrees(math.atan2(R[1, 1], R[0, 1]))
        off_face = (fingers - yaw_deg) % 90.0
        assert min(off_face, 90.0 - off_face) <= 3.0, (yaw_deg, fingers)
        turns.append(turn)
    assert max(turns) <= 45.0 + 3.0, turns


def test_footprint_yaw_finds_a_rotated_boxs_sides():
    """A box top (3-8 cm sides, any yaw) seen as a lift sees it -- points on a 3 mm pixel grid
    with 1 mm noise: the minimum-area rectangle's yaw is within 2.5 degrees of the box's
    (modulo 90) in the median and 6 in the 90th percentile over 40 fresh boxes (measured over
    3000: 1.4 median, 3.4 p90, 5.5 p99, 8.3 max -- a tail too long for a bound on the maximum;
    the 74 trials of 40 in them: median at most 2.1, p90 at most 4.7; on the lifted Lift cube
    0.4). A wrong yaw would be off by 22 in the median."""
    from igen_gs.planning.grasp import footprint_yaw

    rng = np.random.default_rng(np.random.SeedSequence().entropy)
    errs = []
    for _ in range(40):
        yaw = rng.uniform(0, np.pi)
        a, b = rng.uniform(0.03, 0.08, 2)
        g = np.arange(-0.06, 0.06, 0.003)
        X, Y = np.meshgrid(g, g)
        P = np.c_[X.ravel(), Y.ravel()] + rng.uniform(-0.0015, 0.0015, 2)
        c, s = np.cos(yaw), np.sin(yaw)
        L = P @ np.array([[c, -s], [s, c]])  # box coordinates
        inside = (np.abs(L[:, 0]) <= a / 2) & (np.abs(L[:, 1]) <= b / 2)
        pts = P[inside] + rng.normal(0, 0.001, (int(inside.sum()), 2))
        got = footprint_yaw(np.c_[pts, np.zeros(len(pts))])
        errs.append(abs((np.degrees(got - yaw) + 45.0) % 90.0 - 45.0))
    assert np.median(errs) <= 2.5 and np.percentile(errs, 90) <= 6.0, sorted(errs)

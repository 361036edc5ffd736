"""Pure parts of the simulator bridge and the policy benchmark (no robosuite needed): the wire
format, the server's request loop and error replies, the image flip, the one action
representation and its OSC conversion, the expert's grasp geometry, start-pose prefixes,
object-pose sampling, Wilson intervals, action chunks and proprioception."""

from __future__ import annotations

import io
import math
import subprocess
import sys

import numpy as np
import pytest

from igen_gs.envs import control, wire
from igen_gs.envs.robosuite import SERVER as SERVER_FILE
from igen_gs.envs.robosuite_server import flip_rows


def _random_rotation(rng) -> np.ndarray:
    q = rng.normal(size=4)
    return control.quat_to_matrix(q / np.linalg.norm(q))


# ---------------------------------------------------------------------- wire
def test_wire_round_trip_keeps_every_value_and_dtype():
    rng = np.random.default_rng(0)
    msg = {"cmd": "step", "a": rng.normal(size=(3, 4)), "b": np.arange(6, dtype=np.uint8)[::2],
           "c": {"nested": [np.float32(1.5), np.int64(7), None, True, "x"],
                 "empty": np.zeros((0, 3), np.float32), "scalar": np.array(2.0)},
           "img": rng.integers(0, 255, (5, 4, 3), dtype=np.uint8)[::-1],
           "mask": rng.random((4, 4)) > 0.5, "nan": float("nan")}
    out = wire.decode(wire.encode(msg))
    assert out["cmd"] == "step" and out["c"]["nested"] == [1.5, 7, None, True, "x"]
    for k in ("a", "b", "img", "mask"):
        assert out[k].dtype == np.asarray(msg[k]).dtype and np.array_equal(out[k], msg[k])
    assert out["c"]["empty"].shape == (0, 3) and out["c"]["scalar"].shape == ()
    assert math.isnan(out["nan"])
    buf = io.BytesIO()
    wire.write_message(buf, msg)
    wire.write_message(buf, {"second": 2})
    buf.seek(0)
    assert np.array_equal(wire.read_message(buf)["a"], msg["a"])
    assert wire.read_message(buf) == {"second": 2}
    with pytest.raises(EOFError):
        wire.read_message(buf)


def test_wire_rejects_what_it_cannot_carry():
    with pytest.raises(ValueError, match="object arrays"):
        wire.encode({"a": np.array([object()])})
    with pytest.raises(ValueError, match="keys must be strings"):
        wire.encode({1: 2})
    with pytest.raises(ValueError, match="cannot send"):
        wire.encode({"a": {1, 2}})
    payload = wire.encode({"a": np.arange(10)})
    with pytest.raises(ValueError, match="truncated"):
        wire.decode(payload[:-8])


def test_server_loop_answers_errors_in_one_line_and_lives_on():
    """The server as a process (our interpreter: no robosuite needed for these requests):
    stdout carries only messages, failures come back as replies, and it exits on close."""
    proc = subprocess.Popen([sys.executable, str(SERVER_FILE)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wire.write_message(proc.stdin, {"cmd": "reset", "seed": 0})
        r = wire.read_message(proc.stdout)
        assert r == {"ok": False, "error": "ValueError: no environment: send 'make' first"}
        wire.write_message(proc.stdin, {"cmd": "fly"})
        assert wire.read_message(proc.stdout) == {"ok": False,
                                                  "error": "unknown command 'fly'"}
        wire.write_message(proc.stdin, {"cmd": "close"})
        assert wire.read_message(proc.stdout) == {"ok": True}
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()


def test_flip_rows_puts_mujocos_bottom_row_last():
    img = np.zeros((4, 3, 3), np.uint8)
    img[0] = 255  # MuJoCo's first row is the image's bottom
    out = flip_rows(img)
    assert out[-1].min() == 255 and out[:-1].max() == 0 and out.flags.c_contiguous


# ---------------------------------------------------------------------- control
def test_action_pose_round_trip_and_6d_orthonormalisation():
    rng = np.random.default_rng(1)
    for _ in range(20):
        T = np.eye(4)
        T[:3, :3] = _random_rotation(rng)
        T[:3, 3] = rng.normal(size=3)
        a = control.pose_to_action(T, 0.3)
        T2, g = control.action_to_pose(a)
        assert np.allclose(T2, T, atol=1e-6) and g == pytest.approx(0.3)
    # a noisy 6D vector still gives a rotation
    R = control.rot6d_to_matrix(np.array([1.0, 0.1, 0.0, 0.2, 1.0, 0.1]))
    assert np.allclose(R.T @ R, np.eye(3), atol=1e-9) and np.linalg.det(R) == pytest.approx(1)
    with pytest.raises(ValueError, match="10 finite"):
        control.action_to_pose(np.zeros(7))
    with pytest.raises(ValueError, match="parallel"):
        control.rot6d_to_matrix(np.array([1.0, 0, 0, 2.0, 0, 0]))


def test_osc_command_scales_clips_and_turns_the_right_way():
    rng = np.random.default_rng(2)
    T0 = np.eye(4)
    T0[:3, :3] = _random_rotation(rng)
    T0[:3, 3] = [0.4, 0.0, 0.2]
    same = control.osc_command(T0, T0, 1.0, 0.5)
    assert np.allclose(same[:6], 0) and same[6] == -1.0  # opens towards the target
    T1 = T0.copy()
    T1[:3, 3] += [0.01, -0.02, 0.5]
    c = control.osc_command(T0, T1, 0.4, 1.0)
    assert np.allclose(c[:3], [0.2, -0.4, 1.0]) and c[6] == 1.0  # 1 cm = 0.2; clipped; closes
    # 0.1 rad about the world z axis, applied on the left (the controller's convention)
    Rz = control.quat_to_matrix([math.cos(0.05), 0, 0, math.sin(0.05)])
    T2 = T0.copy()
    T2[:3, :3] = Rz @ T0[:3, :3]
    assert np.allclose(control.osc_command(T0, T2, 1.0, 1.0)[3:6], [0, 0, 0.2], atol=1e-9)


def test_gripper_closes_opens_and_holds_between():
    m = control.GRIPPER_MARGIN
    assert control.gripper_command(0.45, 1.0) == 1.0  # closing onto an object
    assert control.gripper_command(0.45, 0.45 + 0.9 * m) == 0.0  # holding: the grip stays
    assert control.gripper_command(0.68, 0.49) == -1.0  # releasing a little (stacking)
    assert control.gripper_command(0.68, 0.66) == 0.0  # ... and staying there
    assert control.gripper_command(1.0, 1.0) == 0.0
    assert control.gripper_command(1.0, 0.52) == -1.0


def test_rotvec_and_quaternions_round_trip_also_near_a_half_turn():
    rng = np.random.default_rng(3)
    for angle in (0.0, 1e-8, 0.3, 2.0, math.pi - 1e-6, math.pi):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        R = control.quat_to_matrix([math.cos(angle / 2), *(math.sin(angle / 2) * axis)])
        rv = control.rotvec(R)
        assert np.linalg.norm(rv) == pytest.approx(angle, abs=1e-6)
        from igen_gs.envs.expert import _rotvec_to_matrix

        assert np.allclose(_rotvec_to_matrix(rv), R, atol=1e-6)
        q = control.matrix_to_quat(R)
        assert q[0] >= 0 and np.allclose(control.quat_to_matrix(q), R, atol=1e-9)


def test_state_vector_keeps_quaternion_signs_continuous():
    T = np.eye(4)
    T[:3, :3] = np.diag([1.0, -1.0, -1.0])  # top-down: w = 0
    s0 = control.state_vector(T, 1.0)
    s1 = control.state_vector(T, 1.0, previous_quat=-s0[3:7])
    assert np.allclose(s1[3:7], -s0[3:7]) and s1[7] == 1.0


# ---------------------------------------------------------------------- expert and demos
def test_expert_grasps_across_the_face_nearest_the_current_fingers():
    from igen_gs.envs.expert import box_width_across, grasp_rotation

    yaw = math.radians(30)
    T_obj = np.eye(4)
    T_obj[:3, :3] = control.quat_to_matrix([math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)])
    R_now = np.diag([1.0, -1.0, -1.0])  # fingers along world -y
    R = grasp_rotation(T_obj, R_now)
    assert np.allclose(R[:, 2], [0, 0, -1])
    assert R[:, 1] @ R_now[:, 1] == pytest.approx(math.cos(math.radians(30)))
    assert np.allclose(R.T @ R, np.eye(3)) and np.linalg.det(R) == pytest.approx(1.0)
    assert box_width_across(np.array([0.04, 0.06, 0.05]), T_obj, R[:, 1]) == pytest.approx(0.06)


def test_sampled_object_poses_cover_the_range_and_keep_apart():
    from igen_gs.envs.demos import sample_object_poses
    from igen_gs.envs.robosuite import RobosuiteConfig

    rest = {"cubeA": np.eye(4), "cubeB": np.eye(4)}
    rest["cubeA"][2, 3] = 0.82
    rest["cubeB"][2, 3] = 0.825
    cfg = RobosuiteConfig(placement_xy_m=0.1)
    rng = np.random.default_rng(0)
    xy, yaws = [], []
    for _ in range(200):
        p = sample_object_poses(rng, rest, cfg, 0.08)
        assert np.linalg.norm(p["cubeA"][:2, 3] - p["cubeB"][:2, 3]) >= 0.08
        assert p["cubeB"][2, 3] == 0.825
        xy.append(p["cubeA"][:2, 3])
        yaws.append(math.atan2(p["cubeA"][1, 0], p["cubeA"][0, 0]))
    xy = np.array(xy)
    assert np.abs(xy).max() <= 0.1 and np.abs(xy).max() > 0.09
    assert min(yaws) < -2.5 and max(yaws) > 2.5
    with pytest.raises(ValueError, match="placement range"):
        sample_object_poses(rng, rest, RobosuiteConfig(placement_xy_m=None))


def test_sampled_object_poses_follow_robosuites_separation_rule():
    """Given radii, two centres are farther apart than the sum of the objects' horizontal radii
    (robosuite's placement sampler), and closer pairs than the old fixed 8 cm do occur."""
    from igen_gs.envs.demos import placement_radii, sample_object_poses
    from igen_gs.envs.robosuite import RobosuiteConfig

    radii = placement_radii({"cubeA": np.array([0.04, 0.04, 0.04]),
                             "cubeB": np.array([0.05, 0.05, 0.05])})
    assert radii["cubeA"] == pytest.approx(0.02 * math.sqrt(2))
    assert radii["cubeB"] == pytest.approx(0.025 * math.sqrt(2))
    rest = {"cubeA": np.eye(4), "cubeB": np.eye(4)}
    rng = np.random.default_rng(np.random.SeedSequence().entropy)
    d = []
    for _ in range(400):
        p = sample_object_poses(rng, rest, RobosuiteConfig(placement_xy_m=0.1), radii)
        d.append(np.linalg.norm(p["cubeA"][:2, 3] - p["cubeB"][:2, 3]))
    assert min(d) > radii["cubeA"] + radii["cubeB"]
    # uniform over a 20 cm square: P(6.4 cm < d < 8 cm) is about 0.15, so 400 draws hold some
    assert sum(d_ < 0.08 for d_ in d) >= 20


def test_start_prefix_replaces_the_home_travel_and_starts_at_the_simulators_pose():
    from igen_gs.envs.demos import with_prefix
    from igen_gs.planning.types import Plan, Step, Trajectory

    T = 12
    Ts = np.repeat(np.eye(4)[None], T, 0)
    Ts[:, 2, 3] = np.linspace(0.5, 0.2, T)
    phase = ["start"] + ["transport"] * 4 + ["pre-grasp"] * 4 + ["grasp"] * 3
    traj = Trajectory(timestamps=np.arange(T) / 20, T_world_ee=Ts, gripper=np.ones(T),
                      gripper_opening_m=np.full(T, 0.08), attached=[""] * T,
                      object_poses={"cube": np.repeat(np.eye(4)[None], T, 0)},
                      step_index=np.zeros(T, int), phase=phase,
                      plan=Plan("lift the cube", [Step("lift", "cube")]), fps=20.0)
    start = np.eye(4)
    start[:3, 3] = [0.1, 0.0, 0.3]
    out = with_prefix(traj, start, 0.25)
    assert np.allclose(out.T_world_ee[0], start)
    k = out.phase.index("pre-grasp")
    assert np.allclose(out.T_world_ee[k - 1], Ts[4])  # the last transport pose, kept
    assert np.allclose(out.T_world_ee[k:], Ts[5:])
    steps = np.linalg.norm(np.diff(out.T_world_ee[:k, :3, 3], axis=0), axis=1)
    assert steps.max() <= 0.25 / 20 * 1.01  # the speed limit
    assert len(out.timestamps) == len(out) and out.object_poses["cube"].shape[0] == len(out)
    assert np.all(out.gripper_opening_m[:k] == 0.08)  # no start opening given: the plan's
    # The simulator's fingers start half open: the first states say so, then open to the plan's.
    from igen_gs.envs.demos import OPEN_FRAMES

    out = with_prefix(traj, start, 0.25, start_opening_m=0.04)
    assert out.gripper_opening_m[0] == pytest.approx(0.04) and out.gripper[0] == 0.5
    assert np.all(np.diff(out.gripper_opening_m[:OPEN_FRAMES + 1]) > 0)
    assert np.allclose(out.gripper_opening_m[OPEN_FRAMES:], 0.08)
    assert np.allclose(out.gripper, out.gripper_opening_m / 0.08)
    # With the plan's motion options, the move follows its profile: a trapezoid cruises at the
    # prefix's speed limit, so it takes fewer frames than minimum jerk and still starts there.
    from igen_gs.planning.motion_config import MotionConfig

    slow = with_prefix(traj, start, 0.25)
    fast = with_prefix(traj, start, 0.25, motion=MotionConfig(fps=20.0, profile="trapezoid",
                                                               max_accel=2.5))
    k_slow, k_fast = slow.phase.index("pre-grasp"), fast.phase.index("pre-grasp")
    assert np.allclose(fast.T_world_ee[0], start) and np.allclose(fast.T_world_ee[k_fast:],
                                                                   Ts[5:])
    steps = np.linalg.norm(np.diff(fast.T_world_ee[:k_fast, :3, 3], axis=0), axis=1)
    assert steps.max() <= 0.25 / 20 * (1 + 1e-9) and steps.max() > 0.95 * 0.25 / 20
    assert k_fast < 0.7 * k_slow
    same = with_prefix(traj, start, 0.25, motion=MotionConfig(fps=20.0))  # min jerk: as before
    assert np.array_equal(same.T_world_ee, slow.T_world_ee)


# ---------------------------------------------------------------------- policy pieces
def test_wilson_interval_known_values_and_bad_input():
    from igen_gs.policy.stats import rate_summary, wilson_interval

    lo, hi = wilson_interval(0, 2)
    assert lo == 0.0 and hi == pytest.approx(0.6576, abs=1e-4)
    lo, hi = wilson_interval(10, 20)
    assert (lo, hi) == (pytest.approx(0.2993, abs=1e-4), pytest.approx(0.7007, abs=1e-4))
    lo, hi = wilson_interval(50, 50)
    assert hi == 1.0 and lo == pytest.approx(0.9287, abs=1e-4)
    assert rate_summary(3, 4)["rate"] == 0.75
    for s, n in ((1, 0), (-1, 3), (4, 3)):
        with pytest.raises(ValueError):
            wilson_interval(s, n)


def test_action_chunks_and_proprioception():
    from igen_gs.policy.data import action_chunks, proprio_from_state

    a = np.arange(5)[:, None] * np.ones((1, 2))
    c = action_chunks(a, 3)
    assert c.shape == (5, 3, 2) and c[0, :, 0].tolist() == [0, 1, 2]
    assert c[4, :, 0].tolist() == [4, 4, 4]  # hold the last action past the end
    rng = np.random.default_rng(4)
    R = _random_rotation(rng)
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = [1, 2, 3]
    p = proprio_from_state(control.state_vector(T, 0.5)[None])[0]
    assert np.allclose(p[:3], [1, 2, 3]) and np.allclose(p[3:6], R[:, 0], atol=1e-6)
    assert np.allclose(p[6:9], R[:, 1], atol=1e-6) and p[9] == 0.5
    with pytest.raises(ValueError, match="8 values"):
        proprio_from_state(np.zeros((2, 7)))


def test_augmentation_shifts_within_the_pad_and_is_seeded():
    import torch

    from igen_gs.policy.train import TrainConfig, augment

    img = torch.zeros(2, 3, 16, 16)
    img[:, :, 8, 8] = 1.0
    cfg = TrainConfig(shift_px=3, brightness=0, contrast=0, channel_gain=0)
    a = augment(img, cfg, torch.Generator().manual_seed(0))
    b = augment(img, cfg, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == img.shape
    for i in range(2):
        ys, xs = torch.nonzero(a[i, 0] > 0.5, as_tuple=True)
        assert len(ys) == 1 and abs(int(ys[0]) - 8) <= 3 and abs(int(xs[0]) - 8) <= 3


def test_missing_simulator_venv_is_a_clear_error(tmp_path):
    from igen_gs.envs.robosuite import RobosuiteConfig, RobosuiteEnv

    with pytest.raises(ValueError, match="robosuite's venv is not installed"):
        RobosuiteEnv(RobosuiteConfig(python=str(tmp_path / "no-python")))


def test_generated_starts_are_jittered_about_the_simulators_start():
    """Each variation starts elsewhere (a fixed start lets a policy read the goal from its own
    position instead of the image): within the stated ranges, seeded, rotation about z only."""
    from igen_gs.envs.demos import jitter_start

    T0 = np.eye(4)
    T0[:3, :3] = [[1, 0, 0], [0, -1, 0], [0, 0, -1]]  # pointing down
    T0[:3, 3] = [0.45, 0.0, 1.0]
    rng = np.random.default_rng(0)
    outs = [jitter_start(T0, rng, 0.03, 0.15) for _ in range(200)]
    d = np.array([T[:3, 3] - T0[:3, 3] for T in outs])
    assert np.abs(d).max() <= 0.03 and np.abs(d).max(0).min() > 0.025  # every axis moves
    assert (d.min(0) < -0.02).all() and (d.max(0) > 0.02).all()  # both ways
    yaw = np.array([np.arctan2(T[1, 0], T[0, 0]) for T in outs])
    assert np.abs(yaw).max() <= 0.15 + 1e-9 and np.abs(yaw).max() > 0.13
    for T in outs:
        assert np.allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3)) and np.allclose(T[2, :3], T0[2, :3])
    again = jitter_start(T0, np.random.default_rng(0), 0.03, 0.15)
    assert np.array_equal(again, outs[0])
    assert np.array_equal(jitter_start(T0, np.random.default_rng(0), 0.0, 0.0), T0)


def test_generated_starts_with_joint_noise_tilt_and_move_the_hand_like_robosuites_resets():
    """start_pose: the observed start itself without noise; with 0.02 rad per joint (robosuite's
    Panda initialization noise) the forward kinematics of the noisy angles in the world: the
    hand moves by about a centimetre and tilts by a few degrees (the Cartesian jitter never
    tilts it), seeded."""
    from types import SimpleNamespace

    from igen_gs.envs.demos import start_pose
    from igen_gs.planning.kinematics import fk

    q0 = np.array([0.0, 0.196, 0.0, -2.617, 0.0, 2.94, 0.785])  # robosuite's Panda init_qpos
    T_wb = np.eye(4)
    T_wb[:3, 3] = [-0.56, 0.0, 0.912]
    start = SimpleNamespace(joint_positions=q0, T_world_tcp=T_wb @ fk(q0))
    same = start_pose(start, T_wb, 0.0, np.random.default_rng(0))
    assert np.array_equal(same, start.T_world_tcp)
    outs = [start_pose(start, T_wb, 0.02, np.random.default_rng([0, i, 3])) for i in range(100)]
    q1 = q0 + np.random.default_rng([0, 0, 3]).normal(0.0, 0.02, 7)
    assert np.allclose(outs[0], T_wb @ fk(q1))
    d = np.linalg.norm([T[:3, 3] - start.T_world_tcp[:3, 3] for T in outs], axis=1)
    assert 0.004 < np.median(d) < 0.03
    tilt = np.degrees([np.arccos(np.clip(T[:3, 2] @ start.T_world_tcp[:3, 2], -1, 1))
                       for T in outs])
    assert 1.0 < np.median(tilt) < 6.0


def test_lead_actions_target_the_pose_k_steps_ahead_and_hold_at_the_end():
    """Generated actions lead the state like the controller's own lag needs (the expert's
    targets run ~26 mm ahead of its TCP): row t is the next-pose action of t + k - 1."""
    from igen_gs.envs.demos import lead_actions

    a = np.arange(10, dtype=np.float32)[:, None] * np.ones((1, 10), np.float32)
    assert np.array_equal(lead_actions(a, 1), a)
    out = lead_actions(a, 4)
    assert out.shape == a.shape
    assert np.array_equal(out[:, 0], [3, 4, 5, 6, 7, 8, 9, 9, 9, 9])
    with pytest.raises(ValueError, match="action_lead_steps"):
        lead_actions(a, 0)


def test_lead_actions_give_the_gripper_its_own_lead():
    """With ``gripper_lead_steps`` the pose columns keep their lead and the gripper column
    (the last) leads by its own; a bad lead is refused, also from GeneratedConfig."""
    from igen_gs.envs.demos import GeneratedConfig, lead_actions

    rng = np.random.default_rng()
    a = rng.normal(size=(23, 10)).astype(np.float32)
    out = lead_actions(a, 4, 1)
    assert np.array_equal(out[:, :9], lead_actions(a, 4)[:, :9])
    assert np.array_equal(out[:, 9], a[:, 9])
    out = lead_actions(a, 2, 5)
    assert np.array_equal(out[:, 9], a[np.minimum(np.arange(23) + 4, 22), 9])
    assert np.array_equal(out[:, :9], a[np.minimum(np.arange(23) + 1, 22), :9])
    assert np.array_equal(lead_actions(a, 4, None), lead_actions(a, 4))
    with pytest.raises(ValueError, match="gripper_lead_steps"):
        lead_actions(a, 4, 0)
    with pytest.raises(ValueError, match="gripper_lead_steps"):
        GeneratedConfig(gripper_lead_steps=0)


def test_prefix_drops_an_open_step_that_changes_nothing():
    """A plan's "open" step with the fingers already open is standing still with nothing to
    see change; it is dropped, an "open" step that opens the fingers is kept."""
    from igen_gs.envs.demos import with_prefix
    from igen_gs.planning.types import Plan, Step, Trajectory

    def make(opening):
        T = 14
        Ts = np.repeat(np.eye(4)[None], T, 0)
        Ts[:5, 2, 3] = np.linspace(0.5, 0.3, 5)
        Ts[5:9, 2, 3] = 0.3
        Ts[9:, 2, 3] = np.linspace(0.3, 0.2, 5)
        phase = ["start"] + ["transport"] * 4 + ["open"] * 4 + ["grasp"] * 5
        return Trajectory(timestamps=np.arange(T) / 20, T_world_ee=Ts, gripper=opening / 0.08,
                          gripper_opening_m=opening, attached=[""] * T,
                          object_poses={"cube": np.repeat(np.eye(4)[None], T, 0)},
                          step_index=np.zeros(T, int), phase=phase,
                          plan=Plan("lift the cube", [Step("lift", "cube")]), fps=20.0)

    start = np.eye(4)
    start[:3, 3] = [0.1, 0.0, 0.3]
    idle = make(np.full(14, 0.08))
    kept = with_prefix(idle, start, 0.25)
    dropped = with_prefix(idle, start, 0.25, drop_idle_open=True)
    assert kept.phase.count("open") == 4 and dropped.phase.count("open") == 1
    assert len(kept) - len(dropped) == 4  # the kept last transport pose and 3 idle frames
    k = dropped.phase.index("grasp")
    assert np.allclose(dropped.T_world_ee[k:], idle.T_world_ee[9:])
    opening = np.full(14, 0.08)
    opening[5:9] = np.linspace(0.04, 0.08, 4)
    opens = make(opening)
    assert with_prefix(opens, start, 0.25, drop_idle_open=True).phase.count("open") == 4


def test_perturbed_approach_returns_to_the_plan_before_the_fingers_close():
    """Corrective data: the drawn TCP path leaves the plan by at most the amplitude (half of
    it vertically), starts on it, is back on it from the first closing frame on, and nothing
    else changes; seeded; amplitude 0 leaves the trajectory alone."""
    from igen_gs.envs.demos import perturb_approach
    from igen_gs.planning.types import Plan, Step, Trajectory

    T = 80
    Ts = np.repeat(np.eye(4)[None], T, 0)
    Ts[:, 0, 3] = np.linspace(0.3, 0.5, T)
    Ts[:, 2, 3] = np.linspace(0.4, 0.1, T)
    opening = np.full(T, 0.08)
    opening[50:62] = np.linspace(0.08, 0.03, 12)
    opening[62:] = 0.03
    traj = Trajectory(timestamps=np.arange(T) / 20, T_world_ee=Ts, gripper=opening / 0.08,
                      gripper_opening_m=opening, attached=[""] * 62 + ["cube"] * 18,
                      object_poses={"cube": np.repeat(np.eye(4)[None], T, 0)},
                      step_index=np.zeros(T, int), phase=["grasp"] * T,
                      plan=Plan("lift the cube", [Step("lift", "cube")]), fps=20.0)
    biggest = 0.0
    for seed in range(20):
        out = perturb_approach(traj, np.random.default_rng(seed), 0.03)
        d = out.T_world_ee[:, :3, 3] - Ts[:, :3, 3]
        assert np.allclose(d[0], 0) and np.allclose(d[50:], 0)  # 51: the first narrower
        assert np.linalg.norm(d[:, :2], axis=1).max() <= 2 * 0.03 + 1e-9
        assert np.abs(d[:, 2]).max() <= 2 * 0.015 + 1e-9
        assert np.array_equal(out.T_world_ee[:, :3, :3], Ts[:, :3, :3])
        assert np.array_equal(out.gripper, traj.gripper) and out.phase == traj.phase
        assert np.max(np.linalg.norm(np.diff(d, axis=0), axis=1)) < 0.01  # smooth
        biggest = max(biggest, np.linalg.norm(d, axis=1).max())
    assert biggest > 0.02
    again = perturb_approach(traj, np.random.default_rng(3), 0.03)
    assert np.array_equal(again.T_world_ee, perturb_approach(traj, np.random.default_rng(3),
                                                             0.03).T_world_ee)
    assert perturb_approach(traj, np.random.default_rng(0), 0.0) is traj


def test_shown_fingers_stop_on_the_object_while_the_command_squeezes():
    """The fingers drawn and reported close no narrower than the object (closed target +
    squeeze) until they open past it again; before the grasp and after the release nothing
    changes; the normalised gripper follows."""
    from igen_gs.envs.demos import contact_opening
    from igen_gs.planning.types import Plan, Step, Trajectory

    g = np.concatenate([np.full(5, 0.08), np.linspace(0.08, 0.036, 6)[1:], np.full(6, 0.036),
                        np.linspace(0.036, 0.08, 5)[1:], np.full(3, 0.08)])
    T = len(g)
    traj = Trajectory(timestamps=np.arange(T) / 20, T_world_ee=np.repeat(np.eye(4)[None], T, 0),
                      gripper=g / 0.08, gripper_opening_m=g, attached=[""] * T,
                      object_poses={"cube": np.repeat(np.eye(4)[None], T, 0)},
                      step_index=np.zeros(T, int), phase=["grasp"] * T,
                      plan=Plan("lift the cube", [Step("lift", "cube")]), fps=20.0)
    out = contact_opening(traj, 0.004)
    shown = out.gripper_opening_m
    assert np.array_equal(shown[:5], g[:5]) and np.array_equal(shown[-3:], g[-3:])
    assert shown[5:].min() == pytest.approx(0.040)
    assert np.allclose(shown[10:16], 0.040)  # held on the object, the command 4 mm narrower
    assert np.all(shown >= g) and np.allclose(out.gripper, shown / 0.08)
    assert np.array_equal(traj.gripper_opening_m, g)  # the plan itself is unchanged
    wider = contact_opening(traj, 0.004 + 0.01).gripper_opening_m  # held_opening_jitter_m
    assert np.allclose(wider[10:16], 0.050) and np.array_equal(wider[:5], g[:5])


@pytest.mark.parametrize("bad", [{"held_opening_jitter_m": -0.01}, {"perturb_m": -0.03},
                                 {"start_jitter_m": float("nan")}, {"prefix_max_speed": 0.0},
                                 {"action_lead_steps": 0}, {"render_eps2d": -0.01},
                                 {"motion_options": {"fps": 10.0}},
                                 {"motion_options": {"settle_secs": 0.0}},
                                 {"timing": "fast"}, {"robot_inset_m": -0.002},
                                 {"supersample": 0}, {"supersample": 1.5},
                                 {"robot_spacing_m": 0.0005}, {"robot_spacing_m": float("nan")}])
def test_generated_config_rejects_negative_and_nan_amounts(bad):
    from igen_gs.envs.demos import GeneratedConfig

    with pytest.raises(ValueError, match=f"GeneratedConfig.{next(iter(bad))} must be"):
        GeneratedConfig(**bad)
    GeneratedConfig()  # the defaults are valid


def test_proprioception_noise_hides_the_state_from_the_network():
    """Actions that copy the state's position are learnt from clean states (low loss) and not
    from states with 5 cm of noise (the pictures here say nothing): the noise reaches the
    network, in metres, only in training. Negative noise is a clear error."""
    from igen_gs.policy.data import ACTION_DIM, PROPRIO_DIM, Samples
    from igen_gs.policy.train import TrainConfig, train_policy

    rng = np.random.default_rng(0)
    N = 256
    proprio = np.zeros((N, PROPRIO_DIM), np.float32)
    proprio[:, :3] = rng.uniform(-0.1, 0.1, (N, 3))
    proprio[:, 3], proprio[:, 7], proprio[:, 9] = 1.0, 1.0, 0.5
    chunks = np.zeros((N, 2, ACTION_DIM), np.float32)
    chunks[:, :, :3] = proprio[:, None, :3]
    images = np.full((N, 24, 24, 3), 128, np.uint8)
    samples = Samples(images, proprio, chunks, episodes=1)
    losses = {}
    for noise in (0.0, 0.05):
        cfg = TrainConfig(steps=150, batch_size=32, chunk=2, execute=1, lr=3e-3,
                          proprio_noise_m=noise)
        losses[noise] = train_policy(None, cfg, progress=False, samples=samples).info[
            "final_loss"]
    assert losses[0.0] < 0.05 < losses[0.05], losses
    with pytest.raises(ValueError, match="proprio_noise_m must be >= 0"):
        train_policy(None, TrainConfig(proprio_noise_m=-0.01), progress=False, samples=samples)


def test_box_down_averages_blocks_and_refuses_a_ragged_size():
    """Supersampled frames are averaged over whole blocks: each output pixel is the rounded
    mean of its own factor x factor block (checked against a loop), constant blocks stay
    exact, and a size that does not divide is a clear error."""
    from igen_gs.envs.demos import box_down

    rng = np.random.default_rng()
    x = rng.integers(0, 256, (3, 12, 18, 3), dtype=np.uint8)
    y = box_down(x, 3)
    assert y.shape == (3, 4, 6, 3) and y.dtype == np.uint8
    for t, i, j in ((0, 0, 0), (1, 2, 5), (2, 3, 1)):
        block = x[t, 3 * i:3 * i + 3, 3 * j:3 * j + 3].reshape(-1, 3).astype(np.float64)
        assert np.array_equal(y[t, i, j], np.rint(block.mean(0)).astype(np.uint8))
    flat = np.full((2, 8, 8, 3), 77, np.uint8)
    assert np.array_equal(box_down(flat, 2), np.full((2, 4, 4, 3), 77, np.uint8))
    assert box_down(x, 1) is not None and np.array_equal(box_down(x, 1), x)
    with pytest.raises(ValueError, match="do not divide"):
        box_down(x, 5)


def test_mount_mesh_keeps_what_the_camera_can_see_in_the_base_frame():
    """:func:`mount_mesh` on a made-up photo (camera at the origin looking along +z, 64 x 64):
    of four boxes, the one the photo shows as the mount and the one behind the robot's pixels
    are kept (even their large faces, split first); the one hidden behind a nearer surface
    and the one outside the image are dropped; the result is in the base frame, coloured."""
    import trimesh

    from igen_gs.envs.robosuite import MOUNT_INSTANCE, mount_mesh

    W = H = 64
    K = np.array([[64.0, 0, 32], [0, 64.0, 32], [0, 0, 1]])

    def box(centre_px, z, half=0.1):  # a box whose front face, at depth z, is seen at centre_px
        c = np.array([(centre_px[0] - 32) * (z + half) / 64, (centre_px[1] - 32) * (z + half) / 64,
                      z + half])
        b = trimesh.creation.box(extents=(2 * half,) * 3)
        b.apply_translation(c)
        return b

    boxes = {"seen": box((16, 16), 2.0), "behind_robot": box((48, 16), 2.0),
             "behind_table": box((16, 48), 2.0), "outside": box((200, 32), 2.0)}
    depth = np.full((H, W), 5.0)
    masks = {MOUNT_INSTANCE: np.zeros((H, W), bool), "Panda0": np.zeros((H, W), bool)}
    masks[MOUNT_INSTANCE][10:23, 10:23] = True
    depth[10:23, 10:23] = 2.0
    masks["Panda0"][6:27, 38:59] = True  # the arm, in front of the second box
    depth[6:27, 38:59] = 1.0
    depth[40:57, 8:25] = 1.2  # a nearer surface (the table) hides the third
    verts, faces, rgb, n = [], [], [], 0
    for i, b in enumerate(boxes.values()):
        verts.append(b.vertices)
        faces.append(b.faces + n)
        rgb.append(np.full((len(b.faces), 3), 0.1 * (i + 1)))
        n += len(b.vertices)
    mount = {"vertices": np.concatenate(verts), "faces": np.concatenate(faces),
             "face_rgb": np.concatenate(rgb)}
    T_world_base = np.eye(4)
    T_world_base[:3, 3] = [0.3, -0.2, 1.0]
    photo = {"K": K, "T_world_cam": np.eye(4), "depth": depth, "masks": masks,
             "T_world_base": T_world_base}
    mesh = mount_mesh(mount, photo, max_edge_m=0.05)
    pts = mesh.triangles_center + T_world_base[:3, 3]  # back to the world (camera) frame
    near = {k: np.all(np.abs(pts - b.bounds.mean(0)) <= 0.1 + 1e-9, axis=1)
            for k, b in boxes.items()}
    assert near["seen"].any() and near["behind_robot"].any()
    assert not near["behind_table"].any() and not near["outside"].any()
    assert np.all(near["seen"] | near["behind_robot"])
    # the seen box: its front and sides, not its back (behind its own front by 0.2 m)
    back = near["seen"] & (pts[:, 2] > 2.0 + 0.2 - 1e-9)
    assert near["seen"].sum() > 8 and not back.any()
    colours = mesh.visual.face_colors[:, :3]
    assert set(np.unique(colours[near["seen"]])) == {26}  # 0.1 * 255
    assert set(np.unique(colours[near["behind_robot"]])) == {51}
    with pytest.raises(ValueError, match="shows no part of the robot's mount"):
        mount_mesh({**mount, "vertices": mount["vertices"] + [0, 0, -10]}, photo)

"""Planning: instruction parsing, grasps, motion, scene evolution, kinematics, actions, VLM."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from recorded_chat import RecordedChat as _Recorded

from igen_gs.planning import PlanConfig, Trajectory, UnreachableError, plan_task
from igen_gs.planning.actions import actions_from_trajectory, observation_state
from igen_gs.planning.geometry import object_points, task_frame
from igen_gs.planning.rule import rule_plan
from igen_gs.planning.vlm_config import VLMConfig
from igen_gs.scene import frames
from igen_gs.synthetic import make_tabletop_world

PLATE_SURFACE_Z = 0.35 * 0.016  # the synthetic plate's base thickness (shapes.make_mesh)


@pytest.fixture(scope="module")
def world():
    return make_tabletop_world(0)


@pytest.fixture(scope="module")
def scene(world):
    s = world.gaussian_scene(spacing=0.005)
    s.camera = world.default_camera(320, 240)
    return s


@pytest.fixture(scope="module")
def block_on_plate(scene):
    return plan_task(scene, "put the red block on the blue plate")


# ---------------------------------------------------------------------------- language
@pytest.mark.parametrize("instruction,expected", [
    ("pick up the mug", ["pick mug"]),
    ("Put the red block on the blue plate", ["pick red block",
                                             "place red block on blue plate"]),
    ("move the mug to the left of the green can", ["move_to mug left of green can"]),
    ("push the red block forward 10 cm", ["push red block forward 0.10 m"]),
    ("stack red blocks on top of the blue plate", ["pick red block",
                                                   "stack red block on blue plate"]),
    ("Pick up the Red Block, then put it on the blue plate.", ["pick red block",
                                                              "place red block on blue plate"]),
    ("lift the can by 15 cm and then tilt the mug by 45 degrees",
     ["lift green can by 0.15 m", "tilt mug by 45 deg"]),
])
def test_rule_planner_understands_common_instructions(instruction, expected):
    names = ["red block", "blue plate", "mug", "green can"]
    assert [s.describe() for s in rule_plan(instruction, names).steps] == expected


def test_unknown_object_lists_the_known_ones():
    with pytest.raises(ValueError) as e:
        rule_plan("put the banana on the plate", ["red block", "blue plate"])
    assert str(e.value) == ("no object called 'banana' in the scene; known objects: red block, "
                            "blue plate")
    with pytest.raises(ValueError, match="cannot understand 'dance'"):
        rule_plan("dance", ["mug"])


# ---------------------------------------------------------------------------- motion
def test_trajectory_is_smooth_and_valid(block_on_plate):
    traj = block_on_plate
    R = traj.T_world_ee[:, :3, :3]
    ortho = np.abs(np.transpose(R, (0, 2, 1)) @ R - np.eye(3)).max()
    assert ortho < 1e-5 and np.allclose(np.linalg.det(R), 1.0, atol=1e-6)
    step = np.linalg.norm(np.diff(traj.T_world_ee[:, :3, 3], axis=0), axis=1)
    cfg = PlanConfig().motion
    assert step.max() <= cfg.max_speed / cfg.fps + 1e-9  # no jump beyond the speed limit
    assert np.allclose(np.diff(traj.timestamps), 1 / cfg.fps)
    assert ((traj.gripper >= 0) & (traj.gripper <= 1)).all()
    assert traj.phase[0] == "start" and traj.phase[-1] == "done"
    for p in ("pre-grasp", "grasp", "close", "lift", "transport", "pre-place", "place", "open",
              "retreat"):
        assert p in traj.phase


def test_grasp_and_place_are_where_they_should_be(world, scene, block_on_plate):
    traj = block_on_plate
    close = traj.phase.index("close")
    tcp = traj.T_world_ee[close, :3, 3]
    block = object_points(scene, "red block")
    lo, hi = block.min(0), block.max(0)
    centre = 0.5 * (lo + hi)
    # The gripper centre is within 1 cm of the grasp point: the block's centre line, between
    # its bottom and top, when the fingers close.
    assert np.linalg.norm(tcp[:2] - centre[:2]) < 0.01
    assert lo[2] < tcp[2] < hi[2]
    assert traj.attached[traj.phase.index("lift")] == "red block" and traj.attached[0] == ""
    # Placed: resting on the plate's surface (bottom within 5 mm) inside its footprint.
    final = object_points(scene, "red block", traj.object_poses["red block"][-1])
    assert abs(final[:, 2].min() - PLATE_SURFACE_Z) < 0.005
    plate_c = world.poses["blue plate"][:2, 3].numpy()
    assert np.linalg.norm(final[:, :2].mean(0) - plate_c) < 0.09 - 0.03
    assert traj.attached[-1] == ""
    # Other objects never move.
    for n in ("mug", "green can", "blue plate"):
        assert np.allclose(traj.object_poses[n], traj.object_poses[n][:1])


def test_held_object_follows_the_gripper_rigidly(block_on_plate):
    traj = block_on_plate
    held = [i for i, a in enumerate(traj.attached) if a == "red block"]
    rel = np.linalg.inv(traj.T_world_ee[held]) @ traj.object_poses["red block"][held]
    assert np.abs(rel - rel[:1]).max() < 1e-9
    assert np.linalg.norm(np.diff(traj.object_poses["red block"][held, :3, 3], axis=0),
                          axis=1).max() > 0.001  # it did move


def test_reachable_joint_trajectory(block_on_plate):
    from igen_gs.planning.kinematics import fk, panda

    traj = block_on_plate
    q = traj.joint_positions
    lo, hi = panda().qlim
    assert q.shape == (len(traj), 7) and (q >= lo - 1e-6).all() and (q <= hi + 1e-6).all()
    T_base_ee = np.linalg.inv(traj.T_world_base) @ traj.T_world_ee
    for t in range(0, len(traj), 17):
        assert np.abs(fk(q[t])[:3, 3] - T_base_ee[t, :3, 3]).max() < 1e-3
    assert np.abs(np.diff(q, axis=0)).max() < 0.5


def test_planning_is_deterministic_and_fast(scene):
    instr = "put the red block on the blue plate then push the mug left 5 cm"
    a = plan_task(scene, instr)  # warm-up (imports, kinematics model)
    t0 = time.perf_counter()
    b = plan_task(scene, instr)
    elapsed = time.perf_counter() - t0
    assert len(a.plan.steps) == 3
    assert np.array_equal(a.T_world_ee, b.T_world_ee) and a.phase == b.phase
    assert all(np.array_equal(a.object_poses[n], b.object_poses[n]) for n in a.object_poses)
    assert elapsed < 3.0  # the target is 1 s on an idle 2-core machine; CI may be busy


def test_push_move_lift_and_tilt(scene):
    tf = task_frame(scene)
    start = {n: tf.to_task(object_points(scene, n)).mean(0) for n in scene.object_names}
    traj = plan_task(scene, "push the mug forward 10 cm")
    end = tf.to_task(object_points(scene, "mug", traj.object_poses["mug"][-1])).mean(0)
    moved = end - start["mug"]
    assert moved[0] == pytest.approx(0.10, abs=0.015) and abs(moved[1]) < 0.01
    traj = plan_task(scene, "move the red block to the left of the green can")
    end = tf.to_task(object_points(scene, "red block", traj.object_poses["red block"][-1]))
    can = tf.to_task(object_points(scene, "green can"))
    assert end[:, 1].min() > can[:, 1].max()  # entirely to the left
    assert abs(end[:, 2].min()) < 0.005  # on the table
    traj = plan_task(scene, "lift the red block by 15 cm")
    top = max(tf.to_task(object_points(scene, "red block", P))[:, 2].min()
              for P in traj.object_poses["red block"])
    assert top == pytest.approx(0.15, abs=0.02)
    traj = plan_task(scene, "tilt the mug by 60 degrees")
    assert "tilt" in traj.phase and "untilt" in traj.phase


def test_infeasible_and_unreachable_plans_are_rejected(scene):
    with pytest.raises(ValueError, match="no feasible grasp for 'blue plate'"):
        plan_task(scene, "pick up the blue plate")  # 18 cm wide, 1.6 cm high
    far = np.eye(4)
    far[:3, 3] = [3.0, 0.0, 0.0]
    with pytest.raises(UnreachableError) as e:
        plan_task(scene, "pick up the mug", PlanConfig(robot_base=tuple(far.ravel())))
    msg = str(e.value)
    assert msg.startswith("step 1 (pick mug): no grasp of 'mug' is reachable by the arm: the "
                          "best one has the TCP at [") and "2.9" in msg and "\n" not in msg
    # Reachable grasps, but the place is out of reach: the joint-space check names the step.
    near = np.eye(4)
    near[:3, 3] = scene.poses["red block"][:3, 3].numpy() + [-0.45, 0.0, 0.0]
    with pytest.raises(UnreachableError, match=r"unreachable pose for the Panda at step "
                                               r"'place red block on blue plate: \w+"):
        plan_task(scene, "put the red block on the blue plate",
                  PlanConfig(robot_base=tuple(near.ravel())))
    with pytest.raises(ValueError, match="not held"):
        from igen_gs.planning import Plan, Step

        plan_task(scene, plan=Plan("x", [Step("place", "mug", "blue plate", "on")]))


def test_planning_a_lifted_camera_frame_scene(world):
    """A scene lifted without T_world_cam lives in the camera frame (y down): planning uses its
    support plane for "up" and still puts the block on the plate."""
    from igen_gs import lift

    cam = world.default_camera(320, 240)
    obs = world.render(cam)
    lifted = lift(obs["rgb"], obs["depth"], cam.K, masks=obs["masks"])
    traj = plan_task(lifted, "put the red block on the blue plate")
    tf = task_frame(lifted)
    block = tf.to_task(object_points(lifted, "red block", traj.object_poses["red block"][-1]))
    plate = tf.to_task(object_points(lifted, "blue plate"))
    plate_centre = 0.5 * (np.percentile(plate, 2, 0) + np.percentile(plate, 98, 0))
    assert np.linalg.norm(block.mean(0)[:2] - plate_centre[:2]) < 0.03
    assert abs(np.percentile(block[:, 2], 1) - PLATE_SURFACE_Z) < 0.008


def test_save_load_round_trip(tmp_path, block_on_plate):
    p = block_on_plate.save(tmp_path / "traj.json")
    t = Trajectory.load(p)
    assert np.array_equal(t.T_world_ee, block_on_plate.T_world_ee)
    assert np.array_equal(t.gripper, block_on_plate.gripper)
    assert t.object_poses.keys() == block_on_plate.object_poses.keys()
    assert t.plan.to_dict() == block_on_plate.plan.to_dict() and t.phase == block_on_plate.phase
    assert np.array_equal(t.joint_positions, block_on_plate.joint_positions)
    with pytest.raises(FileNotFoundError):
        Trajectory.load(tmp_path / "nope")
    import igen_gs

    again = igen_gs.Trajectory.load(tmp_path / "traj.npz")  # the package-level name
    assert again.step_labels() == block_on_plate.step_labels()
    doc = json.loads((tmp_path / "traj.json").read_text())
    doc["phase"] = doc["phase"][:-1]
    (tmp_path / "traj.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"corrupt trajectory .*traj: phase has shape"):
        Trajectory.load(p)
    (tmp_path / "traj.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt trajectory"):
        Trajectory.load(p)


def test_action_formats(block_on_plate):
    traj = block_on_plate
    T = len(traj)
    a = actions_from_trajectory(traj, "ee_abs")
    assert a.shape == (T, 8) and np.allclose(np.linalg.norm(a[:, 3:7], axis=1), 1, atol=1e-5)
    s = observation_state(traj)
    assert s.shape == (T, 8) and np.allclose(a[:-1, :7], s[1:, :7], atol=1e-6)
    d = actions_from_trajectory(traj, "ee_delta")
    recon = s[0, :3] + np.cumsum(d[:, :3], axis=0)
    assert np.allclose(recon[:-1], s[1:, :3], atol=1e-4)
    r6 = actions_from_trajectory(traj, "ee_6d")[:, 3:9].reshape(T, 2, 3)
    assert np.allclose(np.linalg.norm(r6, axis=2), 1, atol=1e-5)
    assert np.abs((r6[:, 0] * r6[:, 1]).sum(-1)).max() < 1e-5
    j = actions_from_trajectory(traj, "joints")
    assert j.shape == (T, 8) and np.allclose(j[:-1, :7], traj.joint_positions[1:], atol=1e-6)
    assert observation_state(traj, with_joints=True).shape == (T, 15)
    with pytest.raises(ValueError, match="action kind must be one of"):
        actions_from_trajectory(traj, "torques")


def test_quaternions_are_continuous_through_a_tilt(scene):
    """A top-down hand sits at w ~ 0: a tilt swings w through 0, where the w >= 0 convention
    would flip the quaternion's sign between frames; states and actions keep it continuous."""
    traj = plan_task(scene, "tilt the mug by 60 degrees", PlanConfig(check_reachability=False))
    s = observation_state(traj)
    a = actions_from_trajectory(traj, "ee_abs")
    assert s[0, 3] >= 0
    assert np.abs(np.diff(s[:, 3:7], axis=0)).max() < 0.1
    assert (s[:, 3] < -0.05).any()  # w did change sign: the flip would have happened
    assert np.allclose(a[:-1, 3:7], s[1:, 3:7], atol=1e-6)
    R = traj.T_world_base[:3, :3].T @ traj.T_world_ee[:, :3, :3]
    q = torch.as_tensor(s[:, 3:7], dtype=torch.float64)
    assert np.allclose(frames.quat_to_rotmat(q).numpy(), R, atol=1e-5)


# ---------------------------------------------------------------------------- VLM
GOOD = json.dumps({"steps": [{"action": "pick", "object": "red block"},
                             {"action": "place", "object": "red block",
                              "target": "blue plate", "relation": "on"}]})


def test_vlm_planner_retries_until_a_valid_reply(scene, chat_server):
    _Recorded.replies = [
        "Sure! I would pick up the block.",  # not JSON
        '{"steps": [{"action": "pick"}]}',  # partial: no object
        '{"steps": [{"action": "pick", "object": "banana"}]}',  # unknown object
        "```json\n" + GOOD + "\n```",  # valid (in a code fence)
    ]
    cfg = PlanConfig(planner="vlm", vlm=VLMConfig(base_url=chat_server, model="test-vlm",
                                                  max_attempts=4))
    traj = plan_task(scene, "put the red block on the blue plate", cfg)
    assert [s.describe() for s in traj.plan.steps] == ["pick red block",
                                                       "place red block on blue plate"]
    assert traj.plan.planner == "vlm:test-vlm"
    assert len(_Recorded.requests) == 4
    first = _Recorded.requests[0]["messages"]
    assert "red block" in first[0]["content"] and any(
        part.get("type") == "image_url" for part in first[1]["content"])
    # Each retry tells the model what was wrong.
    assert "not valid JSON" in _Recorded.requests[1]["messages"][-1]["content"]
    assert "banana" in _Recorded.requests[3]["messages"][-1]["content"]


def test_vlm_planner_survives_server_errors_and_partial_replies(scene, chat_server):
    _Recorded.replies = [
        (503, "overloaded"),  # transient: retried
        ("length", GOOD[:40]),  # partial: cut off at the token limit
        None,  # null content
        "Here is the plan: " + GOOD + " Good luck!",  # JSON inside prose
    ]
    cfg = PlanConfig(planner="vlm", check_reachability=False,
                     vlm=VLMConfig(base_url=chat_server, model="m", api_key="k", max_attempts=4))
    traj = plan_task(scene, "put the red block on the blue plate", cfg)
    assert [s.action for s in traj.plan.steps] == ["pick", "place"]
    reqs = _Recorded.requests
    assert len(reqs) == 4 and all(r["path"] == "/v1/chat/completions" for r in reqs)
    assert "cut off at the token limit" in reqs[2]["messages"][-1]["content"]
    assert "the reply is empty" in reqs[3]["messages"][-1]["content"]
    # A client error (401) is not retried.
    _Recorded.replies, _Recorded.requests = [(401, "invalid api key")], []
    with pytest.raises(ValueError, match="VLM request to .* failed: .*invalid api key"):
        plan_task(scene, "pick up the mug", cfg)
    assert len(_Recorded.requests) == 1


def test_vlm_endpoint_from_the_environment(scene, chat_server, monkeypatch):
    monkeypatch.setenv("IGEN_VLM_BASE_URL", chat_server)
    monkeypatch.setenv("IGEN_VLM_MODEL", "env-model")
    monkeypatch.setenv("IGEN_VLM_API_KEY", "env-key")
    _Recorded.replies = [json.dumps({"steps": [{"action": "pick", "object": "mug"}]})]
    cfg = PlanConfig(planner="vlm", check_reachability=False, vlm=VLMConfig(send_image=False))
    traj = plan_task(scene, "pick up the mug", cfg)
    assert traj.plan.planner == "vlm:env-model" and traj.plan.steps[0].object == "mug"
    req = _Recorded.requests[0]
    assert req["model"] == "env-model" and req["auth"] == "Bearer env-key"
    assert not any(isinstance(m["content"], list) and any(p.get("type") == "image_url"
                                                          for p in m["content"])
                   for m in req["messages"])


def test_vlm_planner_gives_up_with_a_clear_error(scene, chat_server):
    _Recorded.replies = ['{"steps": []}', "{}"]
    cfg = PlanConfig(planner="vlm", vlm=VLMConfig(base_url=chat_server, max_attempts=2))
    with pytest.raises(ValueError) as e:
        plan_task(scene, "pick up the mug", cfg)
    assert "no valid plan in 2 attempts" in str(e.value) and "\n" not in str(e.value)
    bad = PlanConfig(planner="vlm", vlm=VLMConfig(base_url="http://127.0.0.1:9/v1",
                                                  timeout_s=2, max_attempts=2))
    with pytest.raises(ValueError, match=r"the VLM at http://127.0.0.1:9/v1 gave no valid plan "
                                         r"in 2 attempts; last problem: request failed: "):
        plan_task(scene, "pick up the mug", bad)


# ---------------------------------------------------------------------------- CLI
def test_cli_plan(tmp_path, scene):
    scene.save(tmp_path / "scene")
    run = [sys.executable, "-c", "from igen_gs.cli.main import entrypoint; entrypoint()", "plan",
           "--scene", str(tmp_path / "scene")]
    r = subprocess.run(run + ["--instruction", "put the red block on the blue plate",
                              "--out", str(tmp_path / "p" / "plan.json")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "1. pick red block; 2. place red block on blue plate" in r.stdout
    t = Trajectory.load(tmp_path / "p" / "plan.json")
    assert len(t) > 50
    from PIL import Image

    assert Image.open(tmp_path / "p" / "plan.png").size[0] >= 800
    r = subprocess.run(run + ["--instruction", "pick up the teapot"], capture_output=True,
                       text=True)
    assert r.returncode == 2
    assert "no object called 'teapot' in the scene; known objects: red block" in r.stderr


def test_into_a_container_drops_from_above_the_rim():
    """A 3 cm cube goes into the mug (inner radius 3.6 cm, floor 4 mm thick): the fingers
    cannot follow it in, so it is released above the rim and falls to the floor; the 5 cm
    block does not fit and is rejected."""
    from igen_gs.synthetic import ObjectSpec, default_specs

    w = make_tabletop_world(1, default_specs() + [
        ObjectSpec("small cube", "box", (0.03, 0.03, 0.03), (0.9, 0.9, 0.1))])
    s = w.gaussian_scene(spacing=0.004)
    s.camera = w.default_camera(160, 120)
    traj = plan_task(s, "put the small cube into the mug")
    cube = [object_points(s, "small cube", P) for P in traj.object_poses["small cube"]]
    axis = w.poses["mug"][:2, 3].numpy()
    final = cube[-1]
    assert abs(final[:, 2].min() - 0.004) < 0.005  # on the mug's floor
    assert np.linalg.norm(final[:, :2] - axis, axis=1).max() < 0.036  # inside its wall
    drop = [i for i, p in enumerate(traj.phase) if p == "drop"]
    assert drop and traj.attached[drop[0]] == ""
    heights = [cube[i][:, 2].min() for i in [drop[0] - 1, *drop]]
    assert heights[0] > 0.07 and all(np.diff(heights) < 0)  # released high, falling
    assert np.allclose(traj.T_world_ee[drop], traj.T_world_ee[drop[0] - 1])  # hand still
    with pytest.raises(ValueError, match="'red block' does not fit into 'mug'"):
        plan_task(s, "put the red block in the mug")


def test_cli_plan_with_a_vlm(tmp_path, scene, chat_server):
    scene.save(tmp_path / "scene")
    _Recorded.replies = ["not json", GOOD]
    r = subprocess.run([sys.executable, "-c", "from igen_gs.cli.main import entrypoint; "
                        "entrypoint()", "plan", "--scene", str(tmp_path / "scene"),
                        "--instruction", "put the red block on the blue plate", "--planner",
                        "vlm", "--config.vlm.base-url", chat_server, "--config.vlm.model",
                        "recorded", "--config.no-check-reachability", "--out",
                        str(tmp_path / "v.json")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "plan (vlm:recorded): 1. pick red block; 2. place red block on blue plate" in r.stdout
    assert len(_Recorded.requests) == 2 and Trajectory.load(tmp_path / "v.json").plan.planner \
        == "vlm:recorded"

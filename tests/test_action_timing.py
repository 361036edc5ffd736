"""Action timing: the action at frame t commands what the robot reaches at t + 1 -- the pose
*and the gripper* -- and the state at t is frame t. A gripper that opens and closes at known
frames tells "the next frame's opening" from "this frame's" in every action kind (the planner
tests only compare the pose columns)."""

from __future__ import annotations

import numpy as np
import pytest

from igen_gs.planning.actions import ACTION_KINDS, actions_from_trajectory, observation_state
from igen_gs.planning.types import Plan, Trajectory
from igen_gs.scene import frames


def _trajectory(T: int = 9) -> Trajectory:
    """The TCP moves along x and turns about z; the gripper closes at frame 3 and opens at 6;
    the base is not at the world origin."""
    t = np.arange(T)
    T_world_base = frames.make_T(frames.axis_angle_to_rotmat([0, 0, 1.0], 0.3),
                                 [0.4, -0.2, 0.1]).numpy()
    T_world_ee = np.stack([
        frames.make_T(frames.axis_angle_to_rotmat([0, 0, 1.0], 0.1 * i),
                      [0.5 + 0.01 * i, 0.0, 0.3]).numpy() for i in t])
    gripper = np.where((t >= 3) & (t < 6), 0.0, 1.0) * np.linspace(1.0, 0.9, T)
    joints = np.stack([np.linspace(-1, 1, 7) + 0.05 * i for i in t])
    return Trajectory(
        timestamps=t / 15.0, T_world_ee=T_world_ee, gripper=gripper,
        gripper_opening_m=gripper * 0.08, attached=[""] * T, object_poses={},
        step_index=np.zeros(T, dtype=int), phase=["move"] * T, plan=Plan("test", []),
        T_world_base=T_world_base, joint_positions=joints)


@pytest.mark.parametrize("kind", ACTION_KINDS)
def test_action_gripper_is_the_next_frames(kind):
    traj = _trajectory()
    a = actions_from_trajectory(traj, kind)
    g = traj.gripper.astype(np.float32)
    next_g = np.concatenate([g[1:], g[-1:]])
    assert a.shape[0] == len(traj)
    np.testing.assert_array_equal(a[:, -1], next_g)
    assert not np.array_equal(a[:, -1], g)  # the gripper moves: this frame's would differ


def test_action_pose_is_the_next_frames_and_state_is_this_frames():
    traj = _trajectory()
    s = observation_state(traj)
    np.testing.assert_array_equal(s[:, 7], traj.gripper.astype(np.float32))
    abs_ = actions_from_trajectory(traj, "ee_abs")
    np.testing.assert_allclose(abs_[:-1, :7], s[1:, :7], atol=1e-6)
    np.testing.assert_allclose(abs_[-1, :7], s[-1, :7], atol=1e-6)  # the last repeats itself
    j = actions_from_trajectory(traj, "joints")
    np.testing.assert_allclose(j[:-1, :7], traj.joint_positions[1:], atol=1e-6)
    delta = actions_from_trajectory(traj, "ee_delta")
    np.testing.assert_allclose(delta[:-1, :3], np.diff(s[:, :3], axis=0), atol=1e-6)
    np.testing.assert_allclose(delta[:-1, 5], 0.1, atol=1e-6)  # 0.1 rad about z per frame
    assert np.abs(delta[-1, :6]).max() == 0.0

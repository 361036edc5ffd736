"""Where the robot stands: a given pose, a photo pixel plus a yaw, or automatic (reachable,
hiding as little of the task objects in the photo as possible)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from igen_gs.planning import PlanConfig, UnreachableError, plan_task
from igen_gs.planning.geometry import task_frame
from igen_gs.planning.pipeline import (
    _hover_joints,
    base_at_pixel,
    photo_occlusion,
    robot_base_pose,
)
from igen_gs.synthetic import make_tabletop_world


@pytest.fixture(scope="module")
def scene():
    world = make_tabletop_world(0)
    s = world.gaussian_scene(spacing=0.006)
    s.camera = world.default_camera(320, 240)
    return s


def test_base_by_pixel_lands_where_the_pixels_ray_meets_the_table(scene):
    for (u, v), yaw in (((60.0, 200.0), None), ((250.5, 180.25), 30.0)):
        T = base_at_pixel(scene, u, v, yaw)
        uv, z = scene.camera.project(torch.from_numpy(T[:3, 3])[None])
        assert np.allclose(uv[0].numpy(), [u, v], atol=1e-6) and z[0] > 0
        assert abs(T[2, 3]) < 1e-9 and np.allclose(T[:3, 2], [0, 0, 1])  # on the table, z up
        # x faces the workspace centre, turned by the yaw (counter-clockwise from above).
        tf = task_frame(scene)
        to_centre = tf.T_world_task[:3, 3] - T[:3, 3]
        to_centre /= np.linalg.norm(to_centre)
        cos = float(T[:3, 0] @ to_centre)
        assert cos == pytest.approx(np.cos(np.radians(yaw or 0.0)), abs=1e-9)
        if yaw:
            assert np.cross(to_centre, T[:3, 0])[2] > 0
    T = robot_base_pose(scene, PlanConfig(base_pixel=(60.0, 200.0)))
    assert np.allclose(T, base_at_pixel(scene, 60.0, 200.0))
    from igen_gs.scene.camera import Camera
    from igen_gs.scene.scene import Scene

    skyward = Scene(scene.background, scene.objects, scene.poses,
                    Camera.look_at((0.0, -0.78, 0.62), (0.0, 1.0, 1.2), width=320, height=240,
                               fov_y_deg=55.0), scene.support_plane)
    with pytest.raises(ValueError, match="does not meet the support plane"):
        base_at_pixel(skyward, 160.0, 120.0)  # above the horizon
    with pytest.raises(ValueError, match="outside the 320x240 photo"):
        base_at_pixel(scene, 400.0, 10.0)


def test_automatic_base_is_reachable_and_hides_least(scene):
    cfg = PlanConfig()
    traj = plan_task(scene, "put the red block on the blue plate", cfg)
    info = traj.base_info
    assert info["placement"] == "automatic" and 0.0 <= info["photo_occlusion"] < 0.2
    # Ranked by the hover pose's occlusion: the chosen angle's is the smallest of all.
    tf = task_frame(scene)
    objects = ["red block", "blue plate"]
    occ = {}
    for a in cfg.base_angles_deg:
        T = robot_base_pose(scene, cfg, cfg.base_distance_m, a)
        occ[a] = photo_occlusion(scene, T, _hover_joints(tf, T)[None], objects)
    chosen = min(cfg.base_angles_deg, key=lambda a: (round(occ[a], 3),
                                                      cfg.base_angles_deg.index(a)))
    expect = robot_base_pose(scene, cfg, cfg.base_distance_m, chosen)
    assert np.allclose(traj.T_world_base, expect)
    # The old default (between the camera and the workspace) hides much more.
    assert occ[0.0] > 0.2 > occ[chosen]
    # A trajectory's occlusion is measured over its frames.
    assert info["photo_occlusion"] == pytest.approx(photo_occlusion(
        scene, traj.T_world_base, traj.joint_positions[::10], objects))
    # A given base is used exactly.
    given = expect.copy()
    given[:3, 3] += [0.02, -0.03, 0.0]
    t2 = plan_task(scene, "put the red block on the blue plate",
                   PlanConfig(robot_base=tuple(given.ravel())))
    assert np.array_equal(t2.T_world_base, given) and t2.base_info["placement"] == "given"


def test_arm_collisions_name_the_step_and_the_link(scene):
    """A plan whose elbow passes through a block of scene Gaussians floating in its way is
    rejected (with the base given, no other base is tried); the clear scene passes."""
    from igen_gs.robot.model import load_robot
    from igen_gs.scene.field import GaussianField
    from igen_gs.scene.scene import Scene

    instr = "put the red block on the blue plate"
    clear = plan_task(scene, instr)  # collision-checked: passes
    base = tuple(clear.T_world_base.ravel())
    t = len(clear) // 2
    elbow = clear.T_world_base @ load_robot().link_poses(clear.joint_positions[t])["panda_link4"]
    g = np.stack(np.meshgrid(*[np.linspace(-0.03, 0.03, 7)] * 3, indexing="ij"), -1)
    cube = torch.from_numpy(g.reshape(-1, 3) + elbow[:3, 3])
    block = GaussianField.from_points(cube, torch.full((len(cube), 3), 0.5), 0.005)
    cluttered = Scene(GaussianField.concat([scene.background, block]), scene.objects,
                      scene.poses, scene.camera, scene.support_plane)
    with pytest.raises(UnreachableError, match=r"^the arm collides at step '[^']+' \(frame "
                                               r"\d+\): panda_link\d comes within 5 mm of the "
                                               r"scene at \[") as e:
        plan_task(cluttered, instr, PlanConfig(robot_base=base))
    assert "\n" not in str(e.value)
    ok = plan_task(cluttered, instr, PlanConfig(robot_base=base, check_arm_collisions=False))
    assert len(ok) == len(clear)

"""The robot package: import boundaries, models, forward kinematics, gripper geometry."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from igen_gs.robot import GripperGeometry


def test_planning_does_not_import_episode():
    code = ("import sys, igen_gs.planning, igen_gs.planning.pipeline, igen_gs.planning.grasp, "
            "igen_gs.planning.motion; import igen_gs.robot.gripper; "
            "bad = sorted(m for m in sys.modules if m.startswith('igen_gs.episode')); "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_planning_does_not_import_lifting():
    """Planning may import scene and robot only: the keypoint path (keypoints of a scene,
    drawn for the VLM, a rule plan compiled to stages) runs in a fresh process without
    loading igen_gs.lifting or igen_gs.episode, and no planning module imports them, not
    even inside a function."""
    import ast
    from pathlib import Path

    import igen_gs.planning

    code = ("import sys, numpy as np\n"
            "from igen_gs.synthetic import task_world\n"
            "from igen_gs.planning import PlanConfig, plan_task\n"
            "from igen_gs.planning.keypoint_planner import scene_keypoints\n"
            "from igen_gs.planning.keypoint_vlm import build_messages\n"
            "import igen_gs.planning.vlm, igen_gs.planning.stage_compiler\n"
            "w = task_world('hit'); s = w.gaussian_scene(spacing=0.01)\n"
            "s.camera = w.default_camera(64, 48); kp = scene_keypoints(s)\n"
            "build_messages('hit the box', s.object_names, kp, np.zeros((48, 64, 3), np.uint8))\n"
            "plan_task(s, 'hit the box', PlanConfig(check_reachability=False))\n"
            "bad = sorted(m for m in sys.modules if m.startswith(('igen_gs.lifting', "
            "'igen_gs.episode')))\n"
            "print(bad); sys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for path in sorted(Path(igen_gs.planning.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [("igen_gs." if node.level == 2 else "") + (node.module or "")]
                     if isinstance(node, ast.ImportFrom) else [])
            for n in names:
                assert not n.startswith(("igen_gs.lifting", "igen_gs.episode")), \
                    f"{path.name} imports {n}"


def test_episode_still_exports_the_gripper():
    from igen_gs.episode import Gripper, GripperGeometry, default_gripper
    from igen_gs.robot import GripperGeometry as G2
    from igen_gs.robot.gripper import Gripper as R2

    assert GripperGeometry is G2 and Gripper is R2 and default_gripper().geometry == G2()


def test_panda_link_poses_match_roboticstoolbox():
    from igen_gs.planning.kinematics import panda
    from igen_gs.robot.model import load_robot

    model = load_robot()
    rtb = panda()
    assert model.arm_joints == [f"panda_joint{i}" for i in range(1, 8)]
    rng = np.random.default_rng(0)
    lo, hi = rtb.qlim
    names = [f"panda_link{i}" for i in range(8)] + ["panda_hand"]
    for _ in range(5):
        q = rng.uniform(lo, hi)
        poses = model.link_poses(q, 0.05)
        for name in names:
            ref = np.asarray(rtb.fkine(q, end=name).A)
            assert np.allclose(poses[name], ref, atol=1e-9), name
        assert np.allclose(model.tcp_pose(q), np.asarray(rtb.fkine(q).A), atol=1e-9)
        # The fingers follow the opening: each 2.5 cm off the hand's centre along its y.
        for finger, sign in (("panda_leftfinger", 1), ("panda_rightfinger", -1)):
            off = np.linalg.inv(poses["panda_hand"]) @ poses[finger]
            assert np.allclose(off[:3, 3], [0, sign * 0.025, 0.0584], atol=1e-9)
    with pytest.raises(ValueError, match="joint vector must be 7 finite numbers"):
        model.link_poses(np.zeros(6))


def test_gripper_geometry_is_measured_from_the_panda_meshes():
    from igen_gs.robot.model import gripper_geometry

    measured = gripper_geometry()
    default = GripperGeometry()
    for f in ("max_opening", "finger_length", "finger_width", "finger_thickness",
              "finger_tip_z"):
        assert getattr(measured, f) == pytest.approx(getattr(default, f), abs=1e-3), f
    assert np.allclose(measured.body_size, default.body_size, atol=1e-3)


def _fibonacci_camera_ring(target, dist, W, H):
    from igen_gs.scene.camera import Camera

    K = torch.tensor([[0.9 * W, 0, W / 2], [0, 0.9 * W, H / 2], [0, 0, 1]], dtype=torch.float64)
    eye = target + torch.tensor([dist, 0.3 * dist, 0.25 * dist], dtype=torch.float64)
    return Camera.look_at(eye, target, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64),
                          width=W, height=H, K=K)


def _silhouette(model, poses, cam):
    """Ray-cast silhouette [H, W] of the posed link meshes (open3d, one ray per pixel)."""
    import open3d as o3d

    rs = o3d.t.geometry.RaycastingScene()
    for n, mesh in model.link_meshes.items():
        T = poses[n]
        v = mesh.vertices @ T[:3, :3].T + T[:3, 3]
        rs.add_triangles(o3d.core.Tensor(v.astype(np.float32)),
                         o3d.core.Tensor(mesh.faces.astype(np.uint32)))
    K = cam.K.numpy()
    H, W = cam.height, cam.width
    v, u = np.meshgrid(np.arange(H) + 0.5, np.arange(W) + 0.5, indexing="ij")
    d = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)],
                 -1).reshape(-1, 3) @ cam.T_world_cam[:3, :3].numpy().T
    o = np.broadcast_to(cam.T_world_cam[:3, 3].numpy(), d.shape)
    rays = np.concatenate([o, d], 1).astype(np.float32)
    return np.isfinite(rs.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy()).reshape(H, W)


def test_panda_gaussians_are_opaque_inside_the_mesh_silhouette():
    """At 640x480 from 0.5 m, every pixel inside the ray-cast silhouette of the link meshes
    (less its one-pixel rim) has alpha >= 0.99."""
    from scipy.ndimage import binary_erosion

    from igen_gs.render import rasterization
    from igen_gs.robot.gaussians import robot_gaussians
    from igen_gs.robot.model import load_robot

    model = load_robot()
    rg = robot_gaussians(model)
    assert 20_000 < len(rg) < 100_000
    assert rg.is_gripper.sum() > 0 and (~rg.is_gripper).sum() > 0
    q = np.array([0.3, -0.4, 0.2, -2.0, 0.1, 1.8, 0.7])
    poses = model.link_poses(q, 0.06)
    means, quats, rgb = rg.posed(np.eye(4), q, 0.06)
    cam = _fibonacci_camera_ring(torch.from_numpy(poses["panda_link4"][:3, 3]), 0.5, 640, 480)
    _, alpha, _ = rasterization(means, quats, rg.scales, rg.opacities, rgb,
                                torch.linalg.inv(cam.T_world_cam)[None].float(),
                                cam.K[None].float(), 640, 480, return_meta=False)
    a = alpha[0, ..., 0].numpy()
    sil = _silhouette(model, poses, cam)
    inner = binary_erosion(sil)
    assert sil.sum() > 50_000  # the arm fills a good part of the image
    assert (a[inner] >= 0.99).mean() >= 0.999 and a[inner].min() >= 0.95
    g = a > 0.5
    assert (g & sil).sum() / (g | sil).sum() > 0.95


TWO_LINK_URDF = """<?xml version="1.0"?>
<robot name="twolink">
  <link name="base">
    <visual><geometry><mesh filename="meshes/base.obj"/></geometry></visual>
  </link>
  <link name="upper">
    <visual>
      <origin xyz="0 0 0.15" rpy="0 0 0"/>
      <geometry><mesh filename="package://twolink/meshes/arm.stl" scale="1 1 1"/></geometry>
      <material name="orange"><color rgba="1.0 0.5 0.0 1.0"/></material>
    </visual>
  </link>
  <link name="tool">
    <visual><geometry><box size="0.04 0.04 0.04"/></geometry>
      <material name="blue"><color rgba="0.1 0.2 0.9 1.0"/></material></visual>
  </link>
  <joint name="shoulder" type="revolute">
    <parent link="base"/><child link="upper"/>
    <origin xyz="0 0 0.1" rpy="0 0 0"/><axis xyz="0 1 0"/>
    <limit lower="-2" upper="2" effort="1" velocity="1"/>
  </joint>
  <joint name="wrist" type="revolute">
    <parent link="upper"/><child link="tool"/>
    <origin xyz="0 0 0.33" rpy="0 0 0"/><axis xyz="0 0 1"/>
    <limit lower="-3" upper="3" effort="1" velocity="1"/>
  </joint>
</robot>
"""


def write_two_link(tmp_path):
    """A two-link URDF with box meshes (an .obj base, an .stl arm found through package://)
    and a primitive box tool."""
    import trimesh

    root = tmp_path / "twolink"
    (root / "meshes").mkdir(parents=True)
    base = trimesh.creation.box(extents=(0.2, 0.2, 0.1))
    base.apply_translation((0, 0, 0.05))
    base.visual.face_colors = (40, 200, 60, 255)
    base.export(root / "meshes" / "base.obj")
    trimesh.creation.box(extents=(0.06, 0.06, 0.3)).export(root / "meshes" / "arm.stl")
    (root / "twolink.urdf").write_text(TWO_LINK_URDF)
    return root / "twolink.urdf"


def test_a_small_urdf_robot_loads_poses_and_renders(tmp_path):
    from igen_gs.render import rasterization
    from igen_gs.robot.gaussians import RobotGaussians
    from igen_gs.robot.model import load_robot
    from igen_gs.scene.camera import Camera

    urdf = write_two_link(tmp_path)
    model = load_robot(str(urdf))
    assert model.arm_joints == ["shoulder", "wrist"] and model.gripper_joints == []
    assert model.hand_link == "tool" and model.gripper_links == {"tool"}
    poses = model.link_poses([np.pi / 2, 0.3])
    # The shoulder turns the arm about y: the tool (33 cm up the arm) ends up along +x.
    assert np.allclose(poses["tool"][:3, 3], [0.33, 0.0, 0.1], atol=1e-12)
    rg = RobotGaussians(model, spacing=0.005)
    assert set(rg.counts) == {"base", "upper", "tool"} and min(rg.counts.values()) > 50
    cam = Camera.look_at(torch.tensor([0.0, -1.2, 0.3], dtype=torch.float64),
                         torch.tensor([0.1, 0.0, 0.1], dtype=torch.float64),
                         torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), width=160,
                         height=120, K=torch.tensor([[150.0, 0, 80], [0, 150.0, 60], [0, 0, 1]],
                                                    dtype=torch.float64))
    means, quats, rgb = rg.posed(np.eye(4), [np.pi / 2, 0.3], 0.0)
    img, alpha, _ = rasterization(means, quats, rg.scales, rg.opacities, rgb,
                                  torch.linalg.inv(cam.T_world_cam)[None].float(),
                                  cam.K[None].float(), 160, 120, return_meta=False)
    # Each link shows in its material colour (green .obj, orange URDF material, blue box).
    for name, colour in (("base", (40, 200, 60)), ("upper", (255, 128, 0)),
                         ("tool", (26, 51, 230))):
        centre = torch.from_numpy(poses[name][:3, 3] + poses[name][:3, :3] @
                                  ([0, 0, 0.03] if name == "base" else
                                   [0, 0, 0.15] if name == "upper" else [0, 0, 0]))
        uv, _ = cam.project(centre[None])
        u, v = (int(x) for x in uv[0])
        px = img[0, v, u, :3].numpy()
        hue = np.asarray(colour, float) / 255
        assert alpha[0, v, u, 0] > 0.99, name
        # Shaded albedo: the same hue, scaled by a factor in [0.45, 1].
        k = float(px @ hue / (hue @ hue))
        assert 0.4 < k < 1.05 and np.abs(px - k * hue).max() < 0.05, (name, px, hue)
    with pytest.raises(ValueError, match="does not exist"):
        load_robot(str(tmp_path / "nope.urdf"))
    bad = tmp_path / "bad.urdf"
    bad.write_text(TWO_LINK_URDF.replace("meshes/base.obj", "meshes/missing.obj"))
    with pytest.raises(ValueError, match="mesh file 'meshes/missing.obj' not found"):
        _ = load_robot(str(bad)).link_meshes


def test_sampled_robots_are_cached_on_disk_bit_identically(tmp_path, monkeypatch):
    from igen_gs.robot import gaussians
    from igen_gs.robot.model import load_robot

    urdf = write_two_link(tmp_path)
    model = load_robot(str(urdf))
    monkeypatch.setenv("IGEN_GS_CACHE", str(tmp_path / "cache"))
    fresh = gaussians.RobotGaussians(model, spacing=0.006)
    assert len(list((tmp_path / "cache" / "robot").glob("twolink-*.npz"))) == 1

    def no_sampling(*a, **k):
        raise AssertionError("sampled again instead of reading the cache")

    monkeypatch.setattr(gaussians, "_sample_robot", no_sampling)
    again = gaussians.RobotGaussians(model, spacing=0.006)
    for name in ("points", "normals", "albedo", "scales", "quats", "link_index"):
        assert torch.equal(getattr(fresh, name), getattr(again, name)), name
    assert again.links == fresh.links
    with pytest.raises(AssertionError, match="sampled again"):  # another spacing: a new build
        gaussians.RobotGaussians(model, spacing=0.007)


def test_inset_moves_the_robot_gaussians_into_the_links_and_narrows_the_silhouette(tmp_path):
    """``RobotConfig.inset``: every Gaussian moves the inset along minus its normal (exactly),
    so fewer pixels outside the ray-cast silhouette are covered while its inside stays
    opaque; the cached builder applies it without touching the shared build."""
    from scipy.ndimage import binary_erosion

    from igen_gs.render import rasterization
    from igen_gs.robot.config import RobotConfig
    from igen_gs.robot.gaussians import RobotGaussians, robot_gaussians
    from igen_gs.robot.model import load_robot
    from igen_gs.scene.camera import Camera

    model = load_robot(str(write_two_link(tmp_path)))
    rg = RobotGaussians(model, spacing=0.005, cache=False)
    d = 0.003
    inner_g = rg.inset(d)
    assert torch.allclose(inner_g.points, rg.points - d * rg.normals, atol=1e-7)
    assert torch.equal(inner_g.scales, rg.scales) and torch.equal(inner_g.normals, rg.normals)
    assert rg.inset(0.0) is rg
    for bad in (-0.001, 0.02, float("nan")):
        with pytest.raises(ValueError, match="robot inset"):
            rg.inset(bad)
    W, H = 320, 240
    K = torch.tensor([[300.0, 0, W / 2], [0, 300.0, H / 2], [0, 0, 1]], dtype=torch.float64)
    cam = Camera.look_at(torch.tensor([0.35, -0.45, 0.35], dtype=torch.float64),
                         torch.tensor([0.05, 0.0, 0.15], dtype=torch.float64),
                         torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), width=W,
                         height=H, K=K)
    q = [0.4, 0.3]
    sil = _silhouette(model, model.link_poses(q), cam)
    cover = {}
    for name, g in (("surface", rg), ("inset", inner_g)):
        means, quats, rgb = g.posed(np.eye(4), q, 0.0)
        _, alpha, _ = rasterization(means, quats, g.scales, g.opacities, rgb,
                                    torch.linalg.inv(cam.T_world_cam)[None].float(),
                                    cam.K[None].float(), W, H, return_meta=False)
        cover[name] = alpha[0, ..., 0].numpy()
    outside = {k: int(((a > 0.5) & ~sil).sum()) for k, a in cover.items()}
    assert sil.sum() > 5_000
    assert outside["inset"] < 0.7 * outside["surface"], outside
    inner = binary_erosion(sil, iterations=2)
    assert (cover["inset"][inner] > 0.9).mean() > 0.99
    # the cached builder: the inset copy shares nothing it changes with the cached build
    a = robot_gaussians(model, 0.005)
    b = robot_gaussians(model, 0.005, inset=RobotConfig(inset=d).inset)
    assert torch.allclose(b.points, a.points - d * a.normals, atol=1e-7)
    assert robot_gaussians(model, 0.005) is a


def test_a_mount_mesh_joins_the_base_link_and_moves_with_the_base(tmp_path):
    """``RobotConfig.mount``: a mesh in the base frame is sampled as part of the root link,
    placed by ``T_world_base`` (not by any joint), keeps its face colour, and changes the
    robot's fingerprint (an appearance fitted without it is refused); a missing or corrupt
    file is a one-line error."""
    import trimesh

    from igen_gs.robot.config import RobotConfig
    from igen_gs.robot.gaussians import RobotGaussians
    from igen_gs.robot.model import load_robot, robot_from_config

    urdf = str(write_two_link(tmp_path))
    box = trimesh.creation.box(extents=(0.2, 0.16, 0.3))
    box.apply_translation([0.4, 0.1, -0.15])  # beside and below the base, base frame
    box.visual.face_colors = [30, 60, 90, 255]
    mount = tmp_path / "mount.ply"
    box.export(mount)
    plain = load_robot(urdf)
    model = robot_from_config(RobotConfig(urdf=urdf, mount=str(mount)))
    assert model.fingerprint() != plain.fingerprint()
    assert len(model.link_meshes[model.root].faces) == \
        len(plain.link_meshes[plain.root].faces) + 12
    rg, rg0 = RobotGaussians(model, 0.005, cache=False), RobotGaussians(plain, 0.005, cache=False)
    extra = rg.counts[model.root] - rg0.counts[plain.root]
    # the box's area over the spacing squared, give or take the even sampling's packing
    assert 0.5 < extra / (box.area / 0.005**2) < 2.0
    rng = np.random.default_rng()
    T = np.eye(4)
    T[:3, :3] = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    if np.linalg.det(T[:3, :3]) < 0:
        T[:3, 0] *= -1
    T[:3, 3] = rng.uniform(-1, 1, 3)
    q = rng.uniform(-1.0, 1.0, 2)
    Tl = rg.link_transforms(torch.from_numpy(T).float(), torch.from_numpy(q).float(), 0.0)
    means, _ = rg.surface(Tl)
    in_base = (means.double().numpy() - T[:3, 3]) @ T[:3, :3]
    lo, hi = box.bounds
    on_box = np.all((in_base > lo - 1e-3) & (in_base < hi + 1e-3), axis=1)
    root = (rg.link_index == rg.links.index(model.root)).numpy()
    # the box's samples are root-link samples where the box is, whatever the joints; the
    # rest of the root link is where the base's own mesh is
    assert on_box.sum() > 0 and not (on_box & ~root).any()
    assert abs(int(on_box.sum()) - extra) <= 0.02 * extra
    blo, bhi = plain.link_meshes[plain.root].bounds
    assert np.all((in_base[root & ~on_box] > blo - 1e-3) & (in_base[root & ~on_box] < bhi + 1e-3))
    assert np.allclose(rg.albedo.numpy()[on_box], np.array([30, 60, 90]) / 255, atol=1e-6)
    with pytest.raises(ValueError, match="mount mesh .* does not exist"):
        load_robot(urdf, mount=str(tmp_path / "nope.ply"))
    bad = tmp_path / "bad.ply"
    bad.write_bytes(b"ply\nformat ascii 1.0\nelement vertex 3\nend_header\n1 2\n")
    with pytest.raises(ValueError, match="mount mesh") as e:
        _ = load_robot(urdf, mount=str(bad)).link_meshes
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("seed", [1, 2])
def test_link_by_link_posing_and_facing_match_their_per_gaussian_references(seed):
    """The fast paths of :class:`RobotGaussians` against their readable twins on the Panda
    (about 60k Gaussians), random joints, a random base pose and random cameras:
    ``pose_links`` (one matmul per link) vs ``pose_links_reference`` (every Gaussian's own
    link transform, Hamilton products), with the mesh colours and with fitted lights
    (tolerance 2e-6 m, 1e-6 in quaternions and colours); a subset of rows poses as the same
    rows of the whole link (to 1e-6); ``facing`` (link frame, no posing) vs
    ``facing_reference`` (the world frame): they may differ only where n . v / |v| lies
    within 1e-4 of the threshold."""
    from igen_gs.robot.appearance import Lighting
    from igen_gs.robot.gaussians import facing_reference, pose_links_reference, robot_gaussians
    from igen_gs.robot.model import load_robot
    from igen_gs.scene import frames

    rng = np.random.default_rng(seed)
    model = load_robot()
    rg = robot_gaussians(model, inset=0.001)
    lit = rg.with_albedo(rg.albedo.numpy(), Lighting(
        0.2, np.array([[0.0, 0.6, 0.8], [1.0, 0.0, 0.0]]), np.array([0.9, 0.4])))
    lo, hi = model.joint_limits
    q = rng.uniform(lo, hi)
    R = frames.axis_angle_to_rotmat(rng.normal(size=3), rng.uniform(0, np.pi)).numpy()
    Tb = np.eye(4)
    Tb[:3, :3], Tb[:3, 3] = R, rng.uniform(-1, 1, 3)
    for g in (rg, lit):
        Tl = g.link_transforms(Tb, q, rng.uniform(0, 0.08))
        fast = g.pose_links(Tl, up=(0.0, 0.3, 1.0))
        ref = pose_links_reference(g, Tl, up=(0.0, 0.3, 1.0))
        for name, f, r, tol in zip(("means", "quats", "rgb"), fast, ref, (2e-6, 1e-6, 1e-6)):
            assert f.shape == r.shape and (f - r).abs().max() <= tol, name
        k = len(g.links) // 2
        rows = torch.from_numpy(np.sort(rng.choice(g.counts[g.links[k]], 500, replace=False)))
        whole, part = g.pose_link(k, Tl[k]), g.pose_link(k, Tl[k], rows=rows)
        for key in ("means", "quats", "scales", "opacities", "rgb", "normals"):
            # the same rows up to float rounding: BLAS may block a 500-row product
            # differently from the whole link's
            torch.testing.assert_close(part[key], whole[key][rows], rtol=0, atol=1e-6,
                                       msg=key)
    eyes = torch.from_numpy(Tb[:3, 3] + rng.normal(size=(2, 3)) * 1.5).float()
    means, normals = rg.surface(Tl)
    for cos in (-0.3, -0.1, 0.2):
        fast = torch.cat([rg.facing(k, Tl[k], eyes, cos) for k in range(len(rg.links))])
        ref = facing_reference(rg, Tl, eyes, cos)
        assert 0.2 < ref.float().mean() < 0.97  # both kinds are there
        v = eyes[:, None] - means[None]
        c = ((normals[None] * v).sum(-1) / v.norm(dim=-1))  # [C, N]
        near = ((c - cos).abs() < 1e-4).any(0)
        assert torch.equal(fast[~near], ref[~near])

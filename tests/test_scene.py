"""Scene model: frames, cameras, Gaussian fields (transforms, SH rotation, PLY), scenes."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from igen_gs import Camera, GaussianField, Scene
from igen_gs.render.sh import sh_rotation
from igen_gs.scene import frames
from igen_gs.scene.builtin import builtin_camera, builtin_scene


def random_T(g: torch.Generator) -> torch.Tensor:
    q = torch.nn.functional.normalize(torch.randn(4, generator=g, dtype=torch.float64), dim=0)
    return frames.make_T(frames.quat_to_rotmat(q), torch.randn(3, generator=g, dtype=torch.float64))


def random_field(n: int, g: torch.Generator, degree: int = 0) -> GaussianField:
    K = (degree + 1) ** 2
    return GaussianField(
        torch.randn(n, 3, generator=g) * 0.2,
        torch.nn.functional.normalize(torch.randn(n, 4, generator=g), dim=-1),
        torch.rand(n, 3, generator=g) * 0.02 + 0.002,
        torch.rand(n, generator=g) * 0.9 + 0.05,
        torch.randn(n, K, 3, generator=g) * 0.5,
    )


# ---------------------------------------------------------------------------- frames
def test_frames_quaternion_conventions(fresh_seed):
    g = torch.Generator().manual_seed(fresh_seed)
    q = torch.nn.functional.normalize(torch.randn(100, 4, generator=g, dtype=torch.float64), dim=-1)
    R = frames.quat_to_rotmat(q)
    # (w, x, y, z): the identity is (1, 0, 0, 0); a rotation about z by 90 deg maps x to y.
    identity = frames.quat_to_rotmat(torch.tensor([1.0, 0, 0, 0], dtype=torch.float64))
    assert torch.allclose(identity, torch.eye(3, dtype=torch.float64))
    qz = torch.tensor([math.cos(math.pi / 4), 0, 0, math.sin(math.pi / 4)], dtype=torch.float64)
    x_axis = torch.tensor([1.0, 0, 0], dtype=torch.float64)
    assert torch.allclose(frames.quat_to_rotmat(qz) @ x_axis,
                          torch.tensor([0.0, 1, 0], dtype=torch.float64), atol=1e-12)
    q2 = frames.rotmat_to_quat(R)
    assert torch.allclose(frames.quat_to_rotmat(q2), R, atol=1e-10)
    assert (q2[:, 0] >= 0).all()
    # Composition: R(q1 * q2) = R(q1) R(q2).
    q1 = q.roll(1, 0)
    assert torch.allclose(frames.quat_to_rotmat(frames.quat_multiply(q1, q)),
                          frames.quat_to_rotmat(q1) @ R, atol=1e-10)
    T = random_T(g)
    assert torch.allclose(frames.invert_T(T) @ T, torch.eye(4, dtype=torch.float64), atol=1e-12)
    p = torch.randn(20, 3, generator=g, dtype=torch.float64)
    assert torch.allclose(frames.transform_points(frames.invert_T(T),
                                                  frames.transform_points(T, p)), p, atol=1e-12)


def test_look_at_points_the_optical_axis_at_the_target():
    cam = Camera.look_at((1.0, -2.0, 1.5), (0.1, 0.2, 0.0), width=64, height=48)
    z_axis = cam.T_world_cam[:3, 2]
    d = torch.tensor([0.1, 0.2, 0.0], dtype=torch.float64) - torch.tensor([1.0, -2.0, 1.5],
                                                                        dtype=torch.float64)
    assert torch.allclose(z_axis, d / d.norm(), atol=1e-12)
    # Image "down" (camera +y) points away from world up.
    assert float(cam.T_world_cam[:3, 1] @ torch.tensor([0.0, 0, 1], dtype=torch.float64)) < 0
    uv, z = cam.project(torch.tensor([[0.1, 0.2, 0.0]]))
    assert torch.allclose(uv[0], torch.tensor([32.0, 24.0], dtype=torch.float64), atol=1e-9)
    assert float(z[0]) == pytest.approx(float(d.norm()))


def test_camera_unproject_project_round_trip(fresh_seed):
    g = torch.Generator().manual_seed(fresh_seed)
    cam = Camera.look_at((0.3, -1.0, 0.8), (0, 0, 0), width=40, height=30, fov_y_deg=55)
    depth = torch.rand(30, 40, generator=g, dtype=torch.float64) + 0.5
    pts = cam.unproject(depth)
    uv, z = cam.project(pts.reshape(-1, 3))
    v, u = torch.meshgrid(torch.arange(30) + 0.5, torch.arange(40) + 0.5, indexing="ij")
    assert torch.allclose(uv, torch.stack([u, v], -1).reshape(-1, 2).double(), atol=1e-8)
    assert torch.allclose(z, depth.reshape(-1), atol=1e-10)
    with pytest.raises(ValueError, match="depth must have shape"):
        cam.unproject(torch.ones(29, 40))


def test_orbit_cameras_keep_distance_and_elevation():
    cams = Camera.orbit((0.0, 0.0, 0.1), 0.8, 30.0, [0, 90, 180, 270], width=32, height=24)
    for c in cams:
        offset = c.center - torch.tensor([0.0, 0.0, 0.1], dtype=torch.float64)
        assert float(offset.norm()) == pytest.approx(0.8)
        assert math.degrees(math.asin(float(offset[2]) / 0.8)) == pytest.approx(30.0)
    assert len({c.name for c in cams}) == 4


def test_camera_validation():
    with pytest.raises(ValueError, match="K must have shape"):
        Camera(torch.eye(2), torch.eye(4), 10, 10)
    with pytest.raises(ValueError, match="size must be positive"):
        Camera(torch.eye(3), torch.eye(4), 0, 10)
    with pytest.raises(ValueError, match="share a resolution"):
        from igen_gs.scene import stack_cameras

        stack_cameras([Camera.from_fov(60, 10, 10), Camera.from_fov(60, 12, 10)])


# ---------------------------------------------------------------------------- fields
def test_field_validation_messages():
    with pytest.raises(ValueError, match=r"GaussianField.quats must have shape \[3, 4\]"):
        GaussianField(torch.zeros(3, 3), torch.zeros(2, 4), torch.zeros(3, 3), torch.zeros(3),
                      torch.zeros(3, 1, 3))
    with pytest.raises(ValueError, match="K = 1, 4, 9 or 16"):
        GaussianField(torch.zeros(3, 3), torch.zeros(3, 4), torch.zeros(3, 3), torch.zeros(3),
                      torch.zeros(3, 5, 3))


def test_transform_moves_gaussians_rigidly(fresh_seed):
    g = torch.Generator().manual_seed(fresh_seed)
    f = random_field(500, g)
    T = random_T(g)
    h = f.transform(T)
    assert torch.allclose(h.means.double(), frames.transform_points(T, f.means.double()),
                          atol=1e-5)
    # Orientation composes: R_new = R_T R_old.
    assert torch.allclose(frames.quat_to_rotmat(h.quats.double()),
                          T[:3, :3] @ frames.quat_to_rotmat(f.quats.double()), atol=1e-5)
    assert torch.equal(h.scales, f.scales) and torch.equal(h.opacities, f.opacities)
    back = h.transform(frames.invert_T(T))
    assert torch.allclose(back.means, f.means, atol=1e-5)
    with pytest.raises(ValueError, match="not a rigid motion"):
        f.transform(torch.diag(torch.tensor([2.0, 1, 1, 1])))


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_sh_rotation_is_exact(fresh_seed, degree):
    """Colour seen along direction d after rotating the field by R equals the colour seen
    along R^T d before."""
    from igen_gs.render.sh import sh_bases

    g = torch.Generator().manual_seed(fresh_seed + degree)
    R = random_T(g)[:3, :3]
    D = sh_rotation(R, degree)
    coeffs = torch.randn((degree + 1) ** 2, 3, generator=g, dtype=torch.float64)
    dirs = torch.nn.functional.normalize(torch.randn(200, 3, generator=g, dtype=torch.float64),
                                         dim=-1)
    before = sh_bases(degree, dirs @ R) @ coeffs  # f(R^T d)
    after = sh_bases(degree, dirs) @ (D @ coeffs)
    assert torch.allclose(before, after, atol=1e-9)


def test_rotating_field_and_camera_together_gives_the_same_image(fresh_seed):
    g = torch.Generator().manual_seed(fresh_seed)
    f = random_field(3000, g, degree=3)
    cam = Camera.look_at((0.2, -1.0, 0.5), (0, 0, 0), width=80, height=60)
    T = random_T(g)
    a = Scene(f).render(cam, labels=False)["rgb"]
    b = Scene(f.transform(T)).render(cam.with_pose(T @ cam.T_world_cam), labels=False)["rgb"]
    # Equal up to float32 round-off of the moved means/quats/SH (which can flip a rare pixel's
    # alpha-threshold decision, hence the looser max).
    diff = (a - b).abs()
    assert diff.mean() < 1e-4 and diff.max() < 2e-2
    assert a.std() > 0.05


def test_concat_and_subset(fresh_seed):
    g = torch.Generator().manual_seed(fresh_seed)
    a, b = random_field(10, g, degree=0), random_field(7, g, degree=2)
    c = GaussianField.concat([a, b])
    assert len(c) == 17 and c.sh_degree == 2
    assert torch.equal(c.sh[:10, 0], a.sh[:, 0])
    assert torch.equal(c.sh[:10, 1:], torch.zeros(10, 8, 3))
    mask = torch.zeros(17, dtype=torch.bool)
    mask[3:12] = True
    s = c.subset(mask)
    assert len(s) == 9 and torch.equal(s.means, c.means[3:12])
    with pytest.raises(ValueError, match="subset mask must have shape"):
        c.subset(torch.ones(3, dtype=torch.bool))


# ---------------------------------------------------------------------------- PLY
@pytest.mark.parametrize("degree", [0, 3])
def test_ply_round_trip_and_standard_layout(tmp_path, fresh_seed, degree):
    from plyfile import PlyData

    g = torch.Generator().manual_seed(fresh_seed)
    f = random_field(321, g, degree)
    path = tmp_path / "field.ply"
    f.save_ply(path)
    h = GaussianField.load_ply(path)
    assert torch.allclose(h.means, f.means) and torch.allclose(h.sh, f.sh)
    assert torch.allclose(h.scales, f.scales, rtol=1e-5)
    assert torch.allclose(h.opacities, f.opacities, atol=1e-5)
    assert torch.allclose(h.quats, f.quats, atol=1e-6)

    ply = PlyData.read(str(path))
    v = ply["vertex"]
    rest = [f"f_rest_{i}" for i in range(3 * ((degree + 1) ** 2 - 1))]
    expected = (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"] + rest
                + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])
    assert [p.name for p in v.properties] == expected
    assert all(p.val_dtype in ("float32", "f4") for p in v.properties)
    assert ply.byte_order == "<" and v.count == 321
    # Stored activations: logit opacity, log scale, (w, x, y, z) rotation, channel-major SH.
    o = np.asarray(v["opacity"])
    assert np.allclose(1 / (1 + np.exp(-o)), f.opacities.numpy(), atol=1e-5)
    assert np.allclose(np.exp(np.asarray(v["scale_1"])), f.scales[:, 1].numpy(), rtol=1e-5)
    assert np.allclose(np.asarray(v["rot_0"]), f.quats[:, 0].numpy())
    if degree:
        K = 16
        assert np.allclose(np.asarray(v[f"f_rest_{K - 1}"]), f.sh[:, 1, 1].numpy())  # G, band 1


def test_ply_errors(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        GaussianField.load_ply(tmp_path / "missing.ply")
    bad = tmp_path / "bad.ply"
    bad.write_bytes(b"not a ply at all")
    with pytest.raises(ValueError, match="cannot read PLY"):
        GaussianField.load_ply(bad)


# ---------------------------------------------------------------------------- scenes
def two_box_scene() -> Scene:
    from igen_gs.scene.builtin import box_field

    floor = box_field((1.0, 1.0, 0.01), (0.5, 0.5, 0.5), spacing=0.01).transform(
        frames.translation(0, 0, -0.005))
    red = box_field((0.1, 0.1, 0.1), (1.0, 0.0, 0.0), spacing=0.005)
    blue = box_field((0.1, 0.1, 0.1), (0.0, 0.0, 1.0), spacing=0.005)
    poses = {"red": frames.translation(-0.2, 0, 0.05), "blue": frames.translation(0.2, 0, 0.05)}
    return Scene(floor, {"red": red, "blue": blue}, poses,
                 support_plane=torch.tensor([0.0, 0, 1, 0]))


def test_scene_render_labels_and_object_poses():
    scene = two_box_scene()
    cam = Camera.look_at((0.0, 0.0, 1.2), (0, 0, 0), up=(0, 1, 0), width=96, height=96,
                         fov_y_deg=50)
    out = scene.render(cam)
    assert out["label_names"] == ["background", "red", "blue"]
    labels, rgb = out["labels"][0], out["rgb"][0]
    uv_r, _ = cam.project(torch.tensor([[-0.2, 0, 0.1]]))
    uv_b, _ = cam.project(torch.tensor([[0.2, 0, 0.1]]))
    ur, vr = int(uv_r[0, 0]), int(uv_r[0, 1])
    ub, vb = int(uv_b[0, 0]), int(uv_b[0, 1])
    assert labels[vr, ur] == 1 and labels[vb, ub] == 2 and labels[48, 48] == 0
    assert rgb[vr, ur, 0] > 0.9 and rgb[vb, ub, 2] > 0.9
    # Depth: top faces at z = 0.1 seen from 1.2 m above.
    assert out["depth"][0, vr, ur] == pytest.approx(1.1, abs=0.01)
    # Move the red box onto the blue one's spot's neighbour; it follows.
    moved = scene.render(cam, object_poses={"red": frames.translation(0.0, 0.25, 0.05)})
    uv_m, _ = cam.project(torch.tensor([[0.0, 0.25, 0.1]]))
    assert moved["labels"][0, int(uv_m[0, 1]), int(uv_m[0, 0])] == 1
    assert moved["labels"][0, vr, ur] == 0  # the old spot shows the floor
    with pytest.raises(ValueError, match="unknown object 'green'; the scene has: red, blue"):
        scene.render(cam, object_poses={"green": torch.eye(4)})


def test_scene_extra_fields_get_labels_after_objects():
    scene = two_box_scene()
    cam = Camera.look_at((0.0, 0.0, 1.2), (0, 0, 0), up=(0, 1, 0), width=64, height=64)
    from igen_gs.scene.builtin import box_field

    grip = box_field((0.05, 0.05, 0.05), (0.2, 0.2, 0.2), 0.004).transform(
        frames.translation(0, 0, 0.4))
    out = scene.render(cam, extra={"gripper": grip})
    assert out["label_names"][-1] == "gripper"
    assert out["labels"][0, 32, 32] == 3


def test_scene_save_load_round_trip(tmp_path):
    scene = two_box_scene()
    scene.camera = Camera.look_at((0, -1, 1), (0, 0, 0), width=48, height=32)
    scene.meta = {"source": "test"}
    d = scene.save(tmp_path / "scene")
    doc = json.loads((d / "scene.json").read_text())
    assert doc["intrinsics"]["fx"] == pytest.approx(scene.camera.fx)
    assert doc["image_size"] == [48, 32] and doc["support_plane"] == [0, 0, 1, 0]
    assert [o["name"] for o in doc["objects"]] == ["red", "blue"]
    assert (d / "objects" / "red.ply").is_file() and (d / "background.ply").is_file()
    loaded = Scene.load(d)
    a = scene.render(scene.camera)["rgb"]
    b = loaded.render(loaded.camera)["rgb"]
    assert (a - b).abs().max() < 1e-5
    # Saving again over the same directory replaces it atomically.
    scene.save(d)
    assert not list(tmp_path.glob(".scene.*")) and not (tmp_path / "scene.old").exists()
    # ... but a directory (or file) that is not a scene is never replaced.
    precious = tmp_path / "photos"
    precious.mkdir()
    (precious / "a.jpg").write_bytes(b"x")
    with pytest.raises(ValueError, match="is not a scene directory"):
        scene.save(precious)
    assert (precious / "a.jpg").read_bytes() == b"x" and not list(tmp_path.glob(".photos.*"))
    (tmp_path / "f").write_text("keep")
    with pytest.raises(ValueError, match="is not a scene directory"):
        scene.save(tmp_path / "f")
    (tmp_path / "empty").mkdir()
    assert Scene.load(scene.save(tmp_path / "empty")).object_names == scene.object_names


def test_scene_load_errors(tmp_path):
    with pytest.raises(ValueError, match="no scene.json"):
        Scene.load(tmp_path)
    (tmp_path / "scene.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt scene.json"):
        Scene.load(tmp_path)


def test_builtin_scene_is_on_its_table():
    scene = builtin_scene()
    out = scene.render(builtin_camera(160, 120))
    counts = torch.bincount(out["labels"][0].flatten() + 1, minlength=5)
    # background (label 0 -> index 1) and all three objects are visible
    assert (counts[1:] > 20).all(), counts
    for name, f in scene.objects.items():
        lo, _ = f.transform(scene.poses[name]).bounds()
        assert abs(float(lo[2])) < 0.01, name  # resting on z = 0


# ---------------------------------------------------------------------------- CLI
def run_igen(*args, cwd=None):
    return subprocess.run([sys.executable, "-c", "from igen_gs.cli.main import entrypoint; "
                           "entrypoint()", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_render_ply_to_png(tmp_path):
    from PIL import Image

    builtin_scene().objects["red block"].save_ply(tmp_path / "block.ply")
    r = run_igen("render", str(tmp_path / "block.ply"), "--out", str(tmp_path / "v.png"),
                 "--width", "64", "--height", "48")
    assert r.returncode == 0, r.stderr
    img = np.asarray(Image.open(tmp_path / "v.png"))
    assert img.shape == (48, 64, 3)
    assert (img[..., 0] > 150).mean() > 0.1  # the red block fills part of the view


def test_cli_errors_are_one_line(tmp_path):
    r = run_igen("render", str(tmp_path / "missing.ply"))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "missing.ply" in r.stderr
    assert not (tmp_path / "render.png").exists()


def test_reprs_are_one_short_line():
    scene = builtin_scene()
    scene.camera = builtin_camera(320, 240)
    n = {name: len(f) for name, f in scene.objects.items()}
    assert repr(scene) == (
        f"Scene(background={len(scene.background):,} Gaussians, objects={{'red block': "
        f"{n['red block']:,}, 'blue plate': {n['blue plate']:,}, 'green can': "
        f"{n['green can']:,}}}, camera=320x240)")
    assert len(scene.background) > 10_000 and "," in repr(scene).split("=")[1]
    assert repr(GaussianField.empty(2)) == "GaussianField(0 Gaussians, sh_degree=2, device=cpu)"
    cam = Camera.look_at((1.0, 2.0, 3.0), (0.0, 0.0, 0.0), width=64, height=48, name="side",
                         K=Camera.intrinsics(50.0, 51.0, 32.0, 24.5))
    assert repr(cam) == ("Camera('side', 64x48, fx=50.0, fy=51.0, cx=32.0, cy=24.5, "
                         "centre=(1.000, 2.000, 3.000))")
    assert repr(Scene(GaussianField.empty())) == (
        "Scene(background=0 Gaussians, objects={}, camera=None)")

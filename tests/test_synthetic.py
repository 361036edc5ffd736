"""Synthetic tabletop worlds: ray-cast ground truth and ground-truth Gaussians."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from igen_gs import Camera
from igen_gs.scene import frames
from igen_gs.synthetic import ObjectSpec, make_tabletop_world


@pytest.fixture(scope="module")
def world():
    return make_tabletop_world(seed=0)


def top_down(world, name: str, height: float = 0.6, size: int = 160, fov: float = 40.0):
    """A camera straight above object ``name`` (image x along world +x, image y along -y)."""
    c = world.poses[name][:3, 3].numpy()
    return Camera.look_at((c[0], c[1], height), (c[0], c[1], 0.0), up=(0.0, 1.0, 0.0),
                          width=size, height=size, fov_y_deg=fov)


def test_default_world_has_the_named_objects_on_the_table(world):
    assert world.object_names == ["red block", "blue plate", "mug", "green can"]
    for name in world.object_names:
        T = world.poses[name]
        assert float(T[2, 3]) == 0.0  # bottom centre on the table top
        assert abs(float(T[2, 2]) - 1.0) < 1e-12  # upright (yaw only)
    xy = np.stack([world.poses[n][:2, 3].numpy() for n in world.object_names])
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(xy))
    assert d.min() > 0.05  # not overlapping
    assert torch.equal(world.support_plane, torch.tensor([0.0, 0.0, 1.0, 0.0],
                                                         dtype=torch.float64))


def test_table_depth_is_the_analytic_plane_distance(world):
    cam = world.default_camera(160, 120)
    obs = world.render(cam)
    rays = cam.pixel_rays().numpy()  # camera frame, z = 1
    R, o = cam.T_world_cam[:3, :3].numpy(), cam.T_world_cam[:3, 3].numpy()
    dirs = rays @ R.T
    z_plane = -o[2] / dirs[..., 2]  # camera depth where the ray meets z = 0
    hit = o + dirs * z_plane[..., None]
    on_table = (np.abs(hit[..., 0]) < 0.59) & (np.abs(hit[..., 1]) < 0.39) & (z_plane > 0)
    free = on_table & (obs["instance"] == 0)
    assert free.sum() > 5000
    assert np.abs(obs["depth"][free] - z_plane[free]).max() < 1e-4
    assert (obs["normals"][free][:, 2] > 0.999).all()


def test_box_footprint_from_above(world):
    cam = top_down(world, "red block", height=0.6)
    obs = world.render(cam)
    f = cam.fx
    side = f * 0.05 / (0.6 - 0.05)  # the 5 cm top face at 0.55 m
    area = obs["masks"]["red block"].sum()
    # The top face dominates; the sides are invisible from straight above.
    assert abs(area - side * side) / (side * side) < 0.06
    assert obs["depth"][80, 80] == pytest.approx(0.55, abs=1e-4)
    for i, name in enumerate(world.object_names):
        assert np.array_equal(obs["masks"][name], obs["instance"] == i + 1)


def test_moving_an_object_moves_exactly_its_pixels(world):
    cam = top_down(world, "red block", height=0.8, size=200, fov=50)
    before = world.render(cam)
    rest = world.poses["red block"].clone()
    T = world.poses["red block"].clone()
    T[0, 3] += 0.10
    moved = world.move("red block", T)
    after = moved.render(cam)
    m0, m1 = before["masks"]["red block"], after["masks"]["red block"]
    c0 = np.argwhere(m0).mean(0)
    c1 = np.argwhere(m1).mean(0)
    shift_px = cam.fx * 0.10 / (0.8 - 0.05)
    assert c1[1] - c0[1] == pytest.approx(shift_px, abs=1.0)  # image x follows world +x
    assert abs(c1[0] - c0[0]) < 1.0
    # Same size up to the side face that perspective reveals off-centre.
    assert m0.sum() == pytest.approx(m1.sum(), rel=0.15)
    # Where the block was and no longer is: table. Elsewhere nothing changed.
    revealed = m0 & ~m1
    assert (after["instance"][revealed] == 0).all()
    unchanged = ~(m0 | m1)
    assert np.array_equal(before["rgb"][unchanged], after["rgb"][unchanged])
    # The world itself is not modified by move().
    assert torch.equal(world.poses["red block"], rest)


def test_gaussian_scene_matches_the_ray_caster(world):
    """Ground-truth Gaussians (4 mm discs) against the ray caster at the photo camera. Measured
    (640x480): PSNR 29.5 dB, object mask IoU 0.90-0.95 (the soft Gaussian rim adds about one
    pixel around each silhouette), median relative depth error < 1 %."""
    cam = world.default_camera(640, 480)
    obs = world.render(cam)
    scene = world.gaussian_scene(spacing=0.004)
    out = scene.render(cam)
    rgb = out["rgb"][0].clamp(0, 1).numpy()
    mse = ((obs["rgb"].astype(np.float64) / 255 - rgb) ** 2).mean()
    assert 10 * np.log10(1 / mse) > 28.0
    labels = out["labels"][0].numpy()
    for i, name in enumerate(world.object_names):
        gt = obs["masks"][name]
        pred = labels == i + 1
        assert (gt & pred).sum() / (gt | pred).sum() > 0.88, name
    assert ((labels == 0) == (obs["instance"] == 0)).mean() > 0.98
    valid = obs["depth"] > 0
    rel = np.abs(out["depth"][0].numpy()[valid] - obs["depth"][valid]) / obs["depth"][valid]
    assert np.median(rel) < 0.01
    assert scene.support_plane.tolist() == [0.0, 0.0, 1.0, 0.0]
    for name in world.object_names:
        assert torch.equal(scene.poses[name], world.poses[name])
        lo, hi = world.object_bounds(name)
        means = scene.objects[name].means.numpy()  # object frame
        assert (means >= lo - 1e-6).all() and (means <= hi + 1e-6).all()


def test_worlds_are_deterministic_per_seed():
    a, b, c = make_tabletop_world(3), make_tabletop_world(3), make_tabletop_world(4)
    cam = a.default_camera(96, 72)
    assert np.array_equal(a.render(cam)["rgb"], b.render(cam)["rgb"])
    assert not torch.equal(a.poses["mug"], c.poses["mug"])
    ga, gb = a.gaussian_scene(0.01), b.gaussian_scene(0.01)
    assert torch.equal(ga.objects["mug"].means, gb.objects["mug"].means)


def test_custom_objects_and_bad_specs():
    w = make_tabletop_world(1, [{"name": "tall box", "kind": "box", "size": [0.04, 0.06, 0.2],
                                 "color": [0.9, 0.8, 0.1]}])
    cam = w.default_camera(64, 48)
    assert w.render(cam)["masks"]["tall box"].any()
    assert w.object_extents("tall box") == (0.04, 0.06, 0.2)
    with pytest.raises(ValueError, match="kind must be one of box, cylinder, mug, plate"):
        make_tabletop_world(0, [ObjectSpec("x", "sphere", (0.1, 0.1, 0.1), (1, 0, 0))])
    with pytest.raises(ValueError, match="size must be three extents"):
        make_tabletop_world(0, [{"name": "x", "kind": "box", "size": [0, 1, 1],
                                 "color": [1, 0, 0]}])
    with pytest.raises(ValueError, match="needs name, kind, size"):
        make_tabletop_world(0, [{"name": "x"}])
    world = make_tabletop_world(0)
    with pytest.raises(ValueError, match="unknown object 'cup'; the world has: red block"):
        world.move("cup", torch.eye(4))
    with pytest.raises(ValueError, match="cannot place"):
        make_tabletop_world(0, [{"name": f"b{i}", "kind": "box", "size": [0.3, 0.3, 0.1],
                                 "color": [1, 0, 0]} for i in range(8)])


def test_revealed_region_after_turning_and_sliding(world):
    """The ground truth a lifting benchmark needs: turn the mug 30 deg and slide it 10 cm."""
    cam = world.default_camera(160, 120)
    before = world.render(cam)
    T = world.poses["mug"].clone()
    turn = frames.axis_angle_to_rotmat(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64),
                                       torch.tensor(np.radians(30.0), dtype=torch.float64))
    T[:3, :3] = turn @ T[:3, :3]
    T[1, 3] -= 0.10
    after = world.move("mug", T).render(cam)
    revealed = before["masks"]["mug"] & ~after["masks"]["mug"]
    assert revealed.sum() > 20
    assert (after["instance"][revealed] == 0).all()


def test_objects_rest_on_the_table_without_touching_each_other():
    from igen_gs.synthetic.world import TABLE_SIZE, _footprint_radius

    for seed in range(6):
        w = make_tabletop_world(seed)
        centres, radii = [], []
        for name in w.object_names:
            lo, hi = w.object_bounds(name)
            assert lo[2] == pytest.approx(0.0, abs=1e-9)  # bottom on the table top
            T = w.poses[name].numpy()
            v = np.asarray(w.object_mesh(name).vertices) @ T[:3, :3].T + T[:3, 3]
            assert (np.abs(v[:, 0]) <= TABLE_SIZE[0] / 2).all()
            assert (np.abs(v[:, 1]) <= TABLE_SIZE[1] / 2).all()
            centres.append(T[:2, 3])
            radii.append(_footprint_radius(w.spec(name)))
            # the footprint circle really contains the mesh (the mug's handle included)
            assert np.hypot(*(v[:, :2] - T[:2, 3]).T).max() <= radii[-1] + 1e-9
        for i in range(len(centres)):
            for j in range(i):
                assert np.linalg.norm(centres[i] - centres[j]) > radii[i] + radii[j]


def test_render_with_poses_equals_render_of_the_moved_world(world):
    cam = world.default_camera(120, 90)
    T = world.poses["green can"].clone()
    T[:3, 3] = torch.tensor([0.1, -0.25, 0.0], dtype=torch.float64)
    a = world.render(cam, object_poses={"green can": T})
    b = world.move("green can", T).render(cam)
    for k in ("rgb", "depth", "instance", "normals"):
        assert np.array_equal(a[k], b[k]), k
    assert not np.array_equal(a["instance"], world.render(cam)["instance"])


def test_rays_that_miss_everything(world):
    """Looking up into the empty sky: depth 0, instance -1, black, zero normals."""
    cam = Camera.look_at((0.0, 0.0, 1.0), (0.0, 0.0, 3.0), up=(0.0, 1.0, 0.0), width=32,
                         height=24)
    obs = world.render(cam)
    assert (obs["instance"] == -1).all() and (obs["depth"] == 0).all()
    assert (obs["rgb"] == 0).all() and (obs["normals"] == 0).all()
    assert not any(m.any() for m in obs["masks"].values())


@pytest.mark.parametrize("spec,message", [
    ({"name": "x", "kind": "box", "size": [0.1, 0.1, 0.1], "colour": [1, 0, 0]},
     "unknown keys ['colour']"),
    ({"name": "x", "kind": "box", "size": [0.1, 0.1, 0.1], "color": "red"}, "needs name, kind"),
    ({"name": "x", "kind": "box", "size": [0.1, 0.1, 0.1], "color": [2, 0, 0]},
     "color must be RGB in [0, 1]"),
    ({"name": "x", "kind": "cylinder", "size": [0.1, 0.05, 0.1], "color": [1, 0, 0]},
     "equal x and y size"),
    ({"name": "x", "kind": "box", "size": [0.1, 0.1, 0.1], "color": [1, 0, 0],
      "texture": "dots"}, "texture must be None or 'stripes'"),
    ({"name": "background", "kind": "box", "size": [0.1, 0.1, 0.1], "color": [1, 0, 0]},
     "invalid object name"),
])
def test_invalid_specs(spec, message):
    with pytest.raises(ValueError) as e:
        make_tabletop_world(0, [spec])
    assert message in str(e.value)


def test_bad_moves(world):
    with pytest.raises(ValueError, match="names must be unique"):
        make_tabletop_world(0, [{"name": "a", "kind": "box", "size": [0.05] * 3,
                                 "color": [1, 0, 0]}] * 2)
    T = world.poses["mug"].clone()
    T[:3, :3] *= 2.0
    with pytest.raises(ValueError, match="pose of 'mug' is not a rigid motion"):
        world.move("mug", T)
    with pytest.raises(ValueError, match="pose of 'mug' must be a finite"):
        world.move("mug", torch.full((4, 4), float("nan")))
    with pytest.raises(ValueError, match="unknown object 'cup'"):
        world.render(world.default_camera(8, 6), object_poses={"cup": torch.eye(4)})

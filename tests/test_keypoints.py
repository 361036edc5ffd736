"""Keypoints of a scene's objects: stable numbering, where they lie, drawn on the photo, the
DINOv2 feature path (plumbing only, random weights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from igen_gs.lifting.keypoints import (
    SceneKeypoints,
    draw_keypoints,
    feature_keypoints,
    geometric_keypoints,
)
from igen_gs.scene import frames
from igen_gs.synthetic import make_tabletop_world
from igen_gs.synthetic.shapes import ObjectSpec


def _pose(x, y, yaw=0.0):
    R = frames.axis_angle_to_rotmat(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64),
                                    torch.tensor(yaw, dtype=torch.float64))
    return frames.make_T(R, torch.tensor([x, y, 0.0], dtype=torch.float64))


@pytest.fixture(scope="module")
def world():
    specs = [ObjectSpec("cup", "mug", (0.07, 0.07, 0.10), (0.2, 0.5, 0.8)),
             ObjectSpec("block", "box", (0.06, 0.06, 0.06), (0.8, 0.6, 0.2))]
    return make_tabletop_world(0, specs).with_poses({"cup": _pose(0.08, 0.0),
                                                     "block": _pose(-0.10, 0.05)})


@pytest.fixture(scope="module")
def scene(world):
    s = world.gaussian_scene(spacing=0.005)
    s.camera = world.default_camera(320, 240)
    return s


def test_keypoints_lie_where_the_geometry_says(scene):
    kp = geometric_keypoints(scene)
    got = {(k.object, k.kind): np.array(k.p_world) for k in kp.keypoints}
    assert [k.id for k in kp.keypoints] == list(range(len(kp.keypoints)))
    # The block (6 cm cube at (-0.10, 0.05)): top centre; no rim, no handle (it is closed).
    assert np.allclose(got["block", "top"], [-0.10, 0.05, 0.06], atol=0.004)
    assert {kind for o, kind in got if o == "block"} == {"top", "+a1", "-a1", "+a2", "-a2"}
    # A square has no long axis: a1 is the view's "away" axis (world +y), face centres.
    assert np.allclose(got["block", "+a1"][:2], [-0.10, 0.08], atol=0.006)
    assert np.allclose(got["block", "-a1"][:2], [-0.10, 0.02], atol=0.006)
    # The cup is open: four rim points at its top edge, 3.5 cm from its axis, and a handle
    # on its +x side (where shapes.py puts it).
    for sign in ("+a1", "-a1", "+a2", "-a2"):
        p = got["cup", "rim" + sign]
        assert p[2] > 0.09
        assert 0.025 < np.linalg.norm(p[:2] - [0.08, 0.0]) < 0.04
    assert got["cup", "handle"][0] > 0.08 + 0.04
    assert kp.support_plane == (0.0, 0.0, 1.0, 0.0)
    # Pixels: the projection of the world point.
    k = kp.keypoints[0]
    uv, _ = scene.camera.project(torch.tensor([k.p_world], dtype=torch.float64))
    assert np.allclose(k.uv, uv[0].numpy(), atol=0.01)


def test_numbering_is_stable_and_follows_the_object(scene, world):
    a, b = geometric_keypoints(scene), geometric_keypoints(scene)
    assert a.to_meta() == b.to_meta()
    assert SceneKeypoints.from_meta(a.to_meta()).to_meta() == a.to_meta()
    # p_obj is in the object frame: the same keypoint of the moved object.
    moved = world.move("block", _pose(0.0, -0.1)).gaussian_scene(spacing=0.005)
    moved.camera = scene.camera
    c = geometric_keypoints(moved)
    assert [(k.object, k.kind) for k in c.keypoints] == [(k.object, k.kind) for k in a.keypoints]
    top = [k for k in c.keypoints if k.object == "block" and k.kind == "top"][0]
    assert np.allclose(top.p_world[:2], [0.0, -0.1], atol=0.004)
    with pytest.raises(ValueError, match="keypoints are numbered 0 to"):
        a.by_id(len(a.keypoints))


def test_keypoints_are_drawn_numbered_on_the_photo(scene, world):
    kp = geometric_keypoints(scene)
    photo = world.render(scene.camera)["rgb"]
    drawn = draw_keypoints(photo, kp)
    assert drawn.shape == photo.shape and drawn.dtype == np.uint8
    assert not np.array_equal(drawn, photo)
    for k in kp.keypoints:  # every dot is drawn at its pixel
        u, v = (int(round(c)) for c in k.uv)
        assert not np.array_equal(drawn[v, u], photo[v, u])
    # Nothing is drawn far from the keypoints.
    uv = np.array([k.uv for k in kp.keypoints])
    changed = np.argwhere((drawn != photo).any(-1))[:, ::-1]
    d = np.linalg.norm(changed[:, None] - uv[None], axis=-1).min(1)
    assert d.max() < 40
    with pytest.raises(ValueError, match="uint8"):
        draw_keypoints(photo.astype(np.float32), kp)


def test_dinov2_feature_keypoints_plumbing(scene, world):
    """Plumbing only: a tiny randomly initialised Dinov2Model (no trained weights), so the
    clusters mean nothing; checks shapes, numbering, ownership and determinism."""
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    net = Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=64, patch_size=14, image_size=112))
    photo = world.render(scene.camera)["rgb"]
    base = geometric_keypoints(scene)
    a = feature_keypoints(scene, photo, net, clusters=3, base=base)
    b = feature_keypoints(scene, photo, net, clusters=3, base=base)
    assert a.to_meta() == b.to_meta()
    extra = a.keypoints[len(base.keypoints):]
    assert [k.id for k in a.keypoints] == list(range(len(a.keypoints)))
    assert sorted((k.object, k.kind) for k in extra) == sorted(
        (o, f"feat{j}") for o in ("cup", "block") for j in range(3))
    for k in extra:  # each is one of its object's Gaussians
        T = scene.poses[k.object].numpy()
        P = scene.objects[k.object].means.double().numpy() @ T[:3, :3].T + T[:3, 3]
        assert np.linalg.norm(P - np.array(k.p_world), axis=1).min() < 1e-5


def test_lift_records_the_keypoints_in_the_scene(world, tmp_path):
    """A lifted scene carries its objects' keypoints in meta (what the keypoint planner reads),
    equal to computing them afresh, and they survive save/load."""
    from igen_gs import lift
    from igen_gs.scene import Scene

    cam = world.default_camera(320, 240)
    obs = world.render(cam)
    s = lift(obs["rgb"], obs["depth"], cam.K, masks=obs["masks"], T_world_cam=cam.T_world_cam)
    stored = SceneKeypoints.from_meta(s.meta["keypoints"])
    fresh = geometric_keypoints(s)
    assert [(k.object, k.kind) for k in stored.keypoints] == \
        [(k.object, k.kind) for k in fresh.keypoints]
    assert {k.object for k in stored.keypoints} == {"cup", "block"}
    s.save(tmp_path / "scene")
    again = SceneKeypoints.from_meta(Scene.load(tmp_path / "scene").meta["keypoints"])
    assert again.to_meta() == stored.to_meta()


def test_a_watering_cans_spout_and_an_open_basket():
    """IGen's task worlds (igen_gs.synthetic.tasks): the watering can's spout tip and its
    handle are told apart (the spout rises to its tip; a mug's single handle stays a handle),
    the basket is open (rim keypoints) with neither handle nor spout."""
    import math

    from igen_gs.synthetic import task_world

    def keypoints(task):
        w = task_world(task)
        s = w.gaussian_scene(spacing=0.005)
        s.camera = w.default_camera(320, 240)
        kp = geometric_keypoints(s)
        return w, {(k.object, k.kind): np.array(k.p_world) for k in kp.keypoints}

    w, got = keypoints("water")
    # The true tip: the spout leaves the wall (radius 4 cm, spout radius 6 mm) at 30 % of the
    # 12 cm height and rises at 50 deg to 85 % of it; the can is turned by 180 deg at x = 0.12.
    a = math.radians(50)
    reach = 0.04 - 0.006 + (0.85 - 0.3) * 0.12 / math.tan(a)
    tip = [0.12 - reach, 0.0, 0.85 * 0.12]
    assert np.linalg.norm(got["can", "spout"] - tip) < 0.01
    assert got["can", "handle"][0] > 0.12 + 0.04  # on the other side
    assert ("can", "rim+a1") in got and ("flower pot", "spout") not in got
    _, got = keypoints("place")
    kinds = {kind for o, kind in got if o == "basket"}
    assert {"rim+a1", "rim-a1", "rim+a2", "rim-a2"} <= kinds and not kinds & {"handle", "spout"}
    with pytest.raises(ValueError, match="task must be one of water, hit, place"):
        task_world("juggle")


def test_lifting_re_exports_the_scene_keypoints():
    """The data types, geometric keypoints and drawing live in igen_gs.scene.keypoints (what
    planning may import); igen_gs.lifting.keypoints re-exports the same objects."""
    import igen_gs.lifting.keypoints as lk
    import igen_gs.scene.keypoints as sk

    for name in ("KINDS", "Keypoint", "SceneKeypoints", "draw_keypoints", "geometric_keypoints"):
        assert getattr(lk, name) is getattr(sk, name)


def test_a_mug_has_a_handle_and_no_spout(scene):
    kinds = {k.kind for k in geometric_keypoints(scene).keypoints if k.object == "cup"}
    assert "handle" in kinds and "spout" not in kinds


def test_a_lone_spout_is_still_a_spout():
    """Lifted from a photo in which the can's handle hardly sticks out of the visible body
    (the can turned by 135 deg), the one protruding part rises to its tip near the top: it is
    the spout (within 1.5 cm of the true tip), not a handle."""
    import math

    from igen_gs import lift
    from igen_gs.synthetic import task_world
    from igen_gs.synthetic.tasks import _pose

    w = task_world("water").with_poses({"can": _pose(0.12, 0.0, 0.75 * math.pi)})
    truth = w.gaussian_scene(spacing=0.005)
    truth.camera = w.default_camera(320, 240)
    tip = next(k.p_world for k in geometric_keypoints(truth).keypoints
               if k.object == "can" and k.kind == "spout")
    cam = w.default_camera(640, 480)
    obs = w.render(cam)
    s = lift(obs["rgb"], obs["depth"], cam.K, masks=obs["masks"], T_world_cam=cam.T_world_cam)
    got = {k.kind: k.p_world for k in geometric_keypoints(s).keypoints if k.object == "can"}
    assert "handle" not in got and np.linalg.norm(np.subtract(got["spout"], tip)) < 0.015

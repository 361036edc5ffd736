"""Episode rendering: rigs, the gripper model, temporal coherence, occlusion, labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from igen_gs.episode import (
    Gripper,
    GripperGeometry,
    RenderConfig,
    RigConfig,
    make_rig,
    render_episode,
)
from igen_gs.robot import RobotConfig
from igen_gs.scene import frames
from igen_gs.scene.builtin import builtin_camera, builtin_scene

DOWN = frames.make_T(frames.axis_angle_to_rotmat([1.0, 0.0, 0.0], torch.pi))  # EE z -> world -z


@pytest.fixture(scope="module")
def scene():
    s = builtin_scene(spacing=0.006)
    s.camera = builtin_camera(320, 240)
    return s


def descend_and_lift(T: int = 12):
    """Gripper comes down onto the red block (at (-0.15, -0.05), 5 cm tall), closes, lifts it."""
    z = torch.cat([torch.linspace(0.30, 0.025, T // 2), torch.linspace(0.025, 0.20, T - T // 2)])
    T_world_ee = torch.stack([frames.translation(-0.15, -0.05, float(v)) @ DOWN for v in z])
    opening = torch.where(torch.arange(T) < T // 2, 0.08, 0.05).double()
    block = []
    for t in range(T):
        lift = float(z[t]) - 0.025 if t >= T // 2 else 0.0
        block.append(frames.translation(-0.15, -0.05, 0.025 + lift))
    return T_world_ee, opening, {"red block": torch.stack(block)}


def test_gripper_geometry_follows_the_opening():
    g = Gripper(GripperGeometry(spacing=0.004))
    for opening in (0.0, 0.03, 0.08):
        f = g.field(opening)
        fingers = f.means[len(g.body):]
        # Inner pad faces at y = +-opening/2 (pads are 2 mm thick, on the inner side).
        inner = fingers[:, 1].abs().min().item()
        assert inner == pytest.approx(opening / 2, abs=0.0025)
        assert fingers[:, 2].max().item() == pytest.approx(g.geometry.finger_tip_z, abs=0.003)
    assert (g.body.means[:, 2] < -0.04).all()  # hand body behind the fingers
    with pytest.raises(ValueError, match="opening 0.0900 m is outside"):
        g.field(0.09)


def test_rig_cameras_are_placed_within_limits(scene):
    cfg = RigConfig(num_static_views=5, azimuth_range_deg=40, elevation_range_deg=(30, 50),
                    distance_scale_range=(0.9, 1.1), seed=3)
    rig = make_rig(scene, cfg)
    assert rig.names == ["photo", "view_0", "view_1", "view_2", "view_3", "view_4", "wrist"]
    from igen_gs.episode.rigs import workspace_centre

    centre = workspace_centre(scene)
    d0 = float((scene.camera.center - centre).norm())
    for cam in rig.static[1:]:
        off = cam.center - centre
        el = np.degrees(np.arcsin(float(off[2] / off.norm())))
        assert 30 - 1e-6 <= el <= 50 + 1e-6
        assert 0.9 * d0 - 1e-6 <= float(off.norm()) <= 1.1 * d0 + 1e-6
        uv, z = cam.project(centre[None])  # looks at the workspace centre
        assert torch.allclose(uv[0], torch.tensor([cam.width / 2, cam.height / 2],
                                                  dtype=torch.float64), atol=1e-6)
    again = make_rig(scene, cfg)
    assert all(torch.equal(a.T_world_cam, b.T_world_cam) for a, b in zip(rig.static, again.static))


def test_wrist_camera_sees_the_fingertips_at_the_bottom():
    from igen_gs.episode.rigs import default_T_ee_wrist
    from igen_gs.scene.camera import Camera

    cam = Camera.from_fov(70, 160, 120, default_T_ee_wrist())
    tips = torch.tensor([[0.0, 0.03, 0.0], [0.0, -0.03, 0.0]], dtype=torch.float64)  # EE frame
    uv, z = cam.project(tips)
    assert (z > 0).all()
    assert ((uv[:, 0] > 0) & (uv[:, 0] < 160)).all() and (uv[:, 1] > 60).all()
    assert uv[0, 0] > uv[1, 0]  # +y of the EE frame is image right


def test_episode_shapes_labels_and_bit_identical_static_pixels(scene):
    T_world_ee, opening, poses = descend_and_lift(12)
    rig = make_rig(scene, RigConfig(width=160, height=120, wrist_width=96, wrist_height=72))
    ep = render_episode(scene, T_world_ee, opening, poses, rig)
    assert ep.camera_names == ["photo", "view_0", "view_1", "wrist"]
    assert ep.rgb["photo"].shape == (12, 120, 160, 3) and ep.rgb["photo"].dtype == np.uint8
    assert ep.rgb["wrist"].shape == (12, 72, 96, 3)
    assert ep.depth["view_0"].dtype == np.float32 and ep.labels["view_1"].dtype == np.int16
    assert ep.label_names == ["background", "red block", "blue plate", "green can", "gripper"]
    grip = ep.label_names.index("gripper")
    assert all((ep.labels["photo"][t] == grip).sum() > 20 for t in range(12))
    # Wrist camera: T_world_cam follows the EE; static cameras never move.
    assert not np.allclose(ep.T_world_cam["wrist"][0], ep.T_world_cam["wrist"][-1])
    assert np.array_equal(ep.T_world_cam["photo"][0], ep.T_world_cam["photo"][-1])

    # Temporal coherence: in a static camera, every pixel that no moving Gaussian (gripper or
    # carried block) reaches in either frame is bit-identical between frames.
    from igen_gs.episode.render import EpisodeRenderer

    r = EpisodeRenderer(scene, poses, rig)
    moving = torch.zeros(len(r.buf), dtype=torch.bool)
    for sl in r.slices.values():
        moving[sl] = True
    for name in ("photo", "view_0"):
        cam = next(c for c in rig.static if c.name == name)
        for t in range(11):
            touched = np.zeros((cam.height, cam.width), dtype=bool)
            for tt in (t, t + 1):
                r.render_frame(tt, T_world_ee[tt], float(opening[tt]))
                uv, z = cam.project(r.buf.means[moving].double())
                # Every moving Gaussian's reach is within its 3.33-sigma box; bound it
                # generously by 12 px around the centre.
                for (u, v), zz in zip(uv.numpy(), z.numpy()):
                    if zz > 0.01:
                        u0, v0 = int(u) - 12, int(v) - 12
                        touched[max(v0, 0):max(v0 + 25, 0), max(u0, 0):max(u0 + 25, 0)] = True
            same = (ep.rgb[name][t] == ep.rgb[name][t + 1]).all(-1)
            assert same[~touched].all(), f"{name}: static pixels changed between {t}, {t + 1}"
            assert (~touched).mean() > 0.5


def test_moving_object_is_coherent_under_its_known_motion(scene):
    """Warp error (igen_gs.metrics) of the carried block, from known motion: in the photo
    view, each frame's block pixels, warped back by the block's own rigid motion and the
    rendered depth, find the same colours in the previous frame; assuming instead that it did
    not move (the motion a flow-free method would use) gives a much larger error. The block
    gets a random texture (a plain one matches itself wherever it goes); no gripper is drawn
    (it would hide most of the block from this view)."""
    from igen_gs.metrics import motion_correspondences, warp_errors
    from igen_gs.scene import Scene

    rng = np.random.default_rng()
    textured = scene.objects["red block"].clone()
    textured.sh[:, 0] = torch.from_numpy(rng.uniform(-1.5, 1.5, (len(textured), 3))).to(
        textured.sh.dtype)
    scene = Scene(scene.background, {**scene.objects, "red block": textured}, scene.poses,
                  scene.camera, scene.support_plane)
    T_world_ee, opening, poses = descend_and_lift(16)
    rig = make_rig(scene, RigConfig(num_static_views=0, wrist_camera=False, width=320,
                                    height=240))
    ep = render_episode(scene, T_world_ee, opening, poses, rig,
                        RenderConfig(draw_gripper=False))
    block = ep.label_names.index("red block")
    labels, depth = ep.labels["photo"].astype(np.int64), ep.depth["photo"]
    K, cam = ep.K["photo"], ep.T_world_cam["photo"]
    uv, valid = motion_correspondences(depth, K, cam, labels, {block: poses["red block"]})
    ok = torch.from_numpy(labels[1:] == block) & valid
    rising = slice(8, 15)  # pairs (t, t+1) while the block rises
    assert int(ok[rising].sum()) > 1500
    err, n = warp_errors(ep.rgb["photo"], uv, ok)
    uv0, valid0 = motion_correspondences(depth, K, cam)  # "nothing moved"
    err0, n0 = warp_errors(ep.rgb["photo"], uv0, valid0 & ok)
    assert float(err[:8].max()) < 1e-6  # still: the block's pixels are bit-identical
    e, e0 = float(err[rising].mean()), float(err0[rising].mean())
    # Measured: e ~0.016 (resampling a per-Gaussian random texture), e0 ~0.13.
    assert e < 0.03, e  # 0..1 colour scale
    assert e < 0.25 * e0, (e, e0)


def test_gripper_occludes_the_block_below_it(scene):
    """Seen from straight above, the gripper hovering over the block hides it (one
    rasterization call composes gripper and scene, so depth order decides)."""
    from igen_gs.episode.rigs import Rig
    from igen_gs.scene.camera import Camera

    T_world_ee, opening, poses = descend_and_lift(12)
    cam_top = Camera.look_at((-0.15, -0.05, 0.8), (-0.15, -0.05, 0.0), up=(0, 1, 0),
                             width=120, height=120, fov_y_deg=40, name="top")
    rig = Rig([cam_top], None, None)
    ep = render_episode(scene, T_world_ee, opening, poses, rig)
    labels = ep.labels["top"]
    grip = ep.label_names.index("gripper")
    centre = labels[:, 55:65, 55:65]
    # Hovering high above the block, the hand body covers the block's centre from above.
    assert (centre[0] == grip).mean() > 0.9
    # Depth at the centre is the gripper's (much closer than the block top at z = 0.05).
    assert ep.depth["top"][0, 60, 60] < 0.8 - 0.25


def test_bad_trajectories_raise(scene):
    rig = make_rig(scene, RigConfig(num_static_views=0, wrist_camera=False, width=32, height=24))
    T_world_ee, opening, poses = descend_and_lift(6)
    with pytest.raises(ValueError, match=r"gripper opening must have shape \[T\] = \[6\]"):
        render_episode(scene, T_world_ee, opening[:5], poses, rig)
    with pytest.raises(ValueError, match="unknown object 'mug'"):
        render_episode(scene, T_world_ee, opening, {"mug": poses["red block"]}, rig)
    bad = T_world_ee.clone()
    bad[2, 0, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        render_episode(scene, bad, opening, poses, rig)
    with pytest.raises(ValueError, match="opening 0.1000 m is outside"):
        render_episode(scene, T_world_ee, torch.full((6,), 0.1), poses, rig)


def test_render_config_switches(scene):
    T_world_ee, opening, poses = descend_and_lift(4)
    rig = make_rig(scene, RigConfig(num_static_views=0, wrist_camera=False, width=64, height=48))
    ep = render_episode(scene, T_world_ee, opening, poses, rig,
                        RenderConfig(depth=False, labels=False, draw_gripper=False,
                                     background_color=(1.0, 1.0, 1.0)))
    assert ep.depth == {} and ep.labels == {} and "gripper" not in ep.label_names
    assert (ep.rgb["photo"][0, 0, 0] == 255).all()  # background colour in the empty corner


# ------------------------------------------------------------------ the whole arm
Q_ARM = np.array([0.2, -0.3, 0.1, -2.2, 0.0, 2.0, 0.8])


def _base_putting_link_at(point, link="panda_link4"):
    """T_world_base (no rotation) that puts ``link``'s origin at ``point`` at Q_ARM."""
    from igen_gs.robot.model import load_robot

    T = np.eye(4)
    T[:3, 3] = np.asarray(point, float) - load_robot().link_poses(Q_ARM)[link][:3, 3]
    return T


def _arm_frames(scene, T_world_base, n=2, rig=None, **render):
    from igen_gs.robot.model import load_robot

    q = np.repeat(Q_ARM[None], n, 0)
    # T_world_ee 2 cm off the arm's own TCP: the drawn hand and the wrist camera follow the
    # joint angles, not T_world_ee.
    T_world_ee = np.stack([T_world_base @ load_robot().tcp_pose(Q_ARM)] * n)
    T_world_ee[:, 2, 3] += 0.02
    rig = rig or make_rig(scene, RigConfig(num_static_views=0, width=160, height=120,
                                           wrist_width=64, wrist_height=48))
    return render_episode(scene, T_world_ee, np.full(n, 0.04), {}, rig,
                          RenderConfig(**render), joint_positions=q,
                          T_world_base=T_world_base), rig


def _block_pixel(scene):
    cam = scene.camera.resized(160, 120)
    centre = scene.poses["red block"][:3, 3].double() + torch.tensor([0, 0, 0.025],
                                                                     dtype=torch.float64)
    uv, z = cam.project(centre[None])
    return cam, centre, int(uv[0, 0]), int(uv[0, 1]), float(z[0])


@pytest.mark.parametrize("where", ["in_front", "behind"])
def test_arm_occludes_and_is_occluded_in_depth_order(scene, where):
    """The elbow placed on the camera ray through the red block, 25 cm before it (the arm
    hides the block) or 40 cm beyond it (the block hides the arm)."""
    cam, centre, u, v, z = _block_pixel(scene)
    ray = centre - cam.center
    ray = (ray / ray.norm()).numpy()
    dist = -0.25 if where == "in_front" else 0.40
    ep, _ = _arm_frames(scene, _base_putting_link_at(centre.numpy() + dist * ray))
    assert ep.robot_mode == "arm"
    assert ep.label_names[-2:] == ["robot", "gripper"]
    lab = ep.labels["photo"][0]
    robot, block = ep.label_names.index("robot"), ep.label_names.index("red block")
    assert (lab == robot).sum() > 200  # the arm is in the picture either way
    patch = lab[v - 1:v + 2, u - 1:u + 2]
    if where == "in_front":
        assert (patch == robot).all()
        assert ep.depth["photo"][0, v, u] < z - 0.15
    else:
        assert (patch == block).all()
        assert ep.depth["photo"][0, v, u] == pytest.approx(z, abs=0.03)


def test_arm_labels_wrist_camera_and_fallback(scene, caplog):
    from igen_gs.robot.model import load_robot

    model = load_robot()
    T_world_base = _base_putting_link_at((0.0, 0.35, 0.45))
    ep, rig = _arm_frames(scene, T_world_base, n=2)
    grip = ep.label_names.index("gripper")
    assert (ep.labels["photo"][0] == grip).sum() > 10  # hand and fingers labelled apart
    # The wrist camera hangs on the drawn hand link.
    T_hand = T_world_base @ model.link_poses(Q_ARM, 0.04)["panda_hand"]
    expect = T_hand @ model.T_hand_tcp @ rig.T_ee_wrist.numpy()
    assert np.allclose(ep.T_world_cam["wrist"][0], expect, atol=1e-9)
    # The wrist camera sees the fingers (gripper label) at the bottom of its image.
    wl = ep.labels["wrist"][0]
    assert (wl[wl.shape[0] // 2:] == grip).sum() > 20
    # No joint angles: the hand only, with a warning.
    T_world_ee = np.stack([T_world_base @ model.tcp_pose(Q_ARM)] * 2)
    with caplog.at_level("WARNING"):
        ep2 = render_episode(scene, T_world_ee, np.full(2, 0.04), {}, rig)
    assert ep2.robot_mode == "hand" and "robot" not in ep2.label_names
    assert "no joint angles" in caplog.text
    with pytest.raises(ValueError, match=r"joint_positions must have shape \[T, 7\]"):
        render_episode(scene, T_world_ee, np.full(2, 0.04), {}, rig,
                       joint_positions=np.zeros((2, 6)), T_world_base=T_world_base)
    ep3, _ = _arm_frames(scene, T_world_base, rig=rig,
                         robot=RobotConfig(mode="none"))
    assert ep3.robot_mode == "none" and "gripper" not in ep3.label_names


def test_arm_takes_a_fitted_appearance_file(scene, tmp_path):
    """``RenderConfig.robot.appearance``: the arm's colours and light come from the file (here
    pure green, ambient light only); a file of another robot or spacing is refused."""
    from igen_gs.robot import RobotConfig
    from igen_gs.robot.appearance import Lighting, RobotAppearance
    from igen_gs.robot.gaussians import robot_gaussians
    from igen_gs.robot.model import load_robot

    g = robot_gaussians(load_robot())
    green = np.tile(np.array([[0.0, 1.0, 0.0]], np.float32), (len(g), 1))
    app = RobotAppearance(green, np.zeros(len(g), bool),
                          Lighting(0.8, np.array([[0.0, 0.0, 1.0]]), np.array([0.0])),
                          g.model.fingerprint(), g.spacing)
    path = app.save(tmp_path / "robot_appearance.npz")
    Tb = _base_putting_link_at(scene.poses["red block"][:3, 3].numpy() + [0, 0, 0.3])
    ep, _ = _arm_frames(scene, Tb, robot=RobotConfig(appearance=str(path)))
    lab = ep.labels["photo"][0]
    rgb = ep.rgb["photo"][0].astype(float) / 255
    robot = lab == ep.label_names.index("robot")
    assert robot.sum() > 200
    med = np.median(rgb[robot], axis=0)
    assert abs(med[1] - 0.8) < 0.02 and med[0] < 0.02 and med[2] < 0.02, med
    RobotAppearance(green, np.zeros(len(g), bool), app.lighting, app.fingerprint,
                    0.005).save(path)
    with pytest.raises(ValueError, match="another robot or spacing"):
        _arm_frames(scene, Tb, robot=RobotConfig(appearance=str(path)))


def test_arm_highlights_follow_the_camera(scene, tmp_path):
    """An appearance with highlights (:class:`Lighting` ``specular``): grey albedo 0.4 under
    ambient 0.4, plus a broad highlight (strength 0.5, exponent 4) of a light lying behind the
    photo's camera. The robot's pixels facing that camera brighten (median of the robot's
    pixels +0.08 or more against the same file without highlights; measured +0.125), and the
    wrist camera, drawn in the same frame with its own eye, shows highlights too (62 pixels
    brighter by more than 0.02)."""
    from igen_gs.robot import RobotConfig
    from igen_gs.robot.appearance import Lighting, RobotAppearance
    from igen_gs.robot.gaussians import robot_gaussians
    from igen_gs.robot.model import load_robot

    g = robot_gaussians(load_robot())
    grey = np.full((len(g), 3), 0.4, np.float32)
    Tb = _base_putting_link_at(scene.poses["red block"][:3, 3].numpy() + [0, 0, 0.3])
    to_cam = scene.camera.T_world_cam[:3, 3].numpy() - Tb[:3, 3]
    to_cam /= np.linalg.norm(to_cam)
    out = {}
    for name, spec in (("plain", None), ("shiny", np.array([0.5]))):
        light = Lighting(0.4, to_cam[None], np.array([0.0]), spec, 4.0)
        path = RobotAppearance(grey, np.zeros(len(g), bool), light, g.model.fingerprint(),
                               g.spacing).save(tmp_path / f"{name}.npz")
        out[name], _ = _arm_frames(scene, Tb, robot=RobotConfig(appearance=str(path)))
    lab = out["plain"].labels["photo"][0]
    robot = lab == out["plain"].label_names.index("robot")
    assert robot.sum() > 200
    rgb = {k: ep.rgb["photo"][0].astype(float) / 255 for k, ep in out.items()}
    assert np.allclose(np.median(rgb["plain"][robot], 0), 0.16, atol=0.02)
    gain = np.median(rgb["shiny"][robot].mean(-1) - rgb["plain"][robot].mean(-1))
    assert gain >= 0.08, gain
    wrist = {k: ep.rgb["wrist"][0].astype(float) / 255 for k, ep in out.items()}
    assert (np.abs(wrist["shiny"] - wrist["plain"]).max(-1) > 0.02).sum() > 20


def test_eps2d_reaches_the_rasterizer_and_narrows_the_arms_rim(scene):
    """``RenderConfig.eps2d``: gsplat's low-pass filter widens every splat by ``eps2d``
    pixels squared; where the arm's surface is seen edge-on, the widened tails of many thin
    splats stack into an opaque rim. The arm's footprint (pixels the drawn arm changes,
    against the same frame without it) is wider at gsplat's 0.3 than at 0.01 by at least its
    rim, while the pixels deep inside it (changed at both) stay; bad values are refused."""
    Tb = _base_putting_link_at(scene.poses["red block"][:3, 3].numpy() + [0, 0, 0.3])
    rig = make_rig(scene, RigConfig(num_static_views=0, wrist_camera=False, width=160,
                                    height=120))

    def footprint(eps2d):
        kw = dict(depth=False, labels=False, eps2d=eps2d)
        arm, _ = _arm_frames(scene, Tb, rig=rig, **kw)
        bare, _ = _arm_frames(scene, Tb, rig=rig, robot=RobotConfig(mode="none"), **kw)
        diff = np.abs(arm.rgb["photo"][0].astype(int) - bare.rgb["photo"][0].astype(int))
        return diff.max(-1) > 8

    wide, sharp = footprint(0.3), footprint(0.01)
    assert sharp.sum() > 300
    # The rim at 0.3 is a ring about a pixel wide around a footprint of this size.
    assert wide.sum() > 1.08 * sharp.sum(), (wide.sum(), sharp.sum())
    assert (sharp & ~wide).sum() < 0.02 * sharp.sum()
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="RenderConfig.eps2d must be"):
            _arm_frames(scene, Tb, rig=rig, eps2d=bad)


def test_render_config_inset_draws_a_narrower_arm(scene):
    """``RobotConfig.inset`` reaches the drawn arm: 4 mm in, it covers fewer pixels of the
    photo view than on the surface, and still most of them."""
    T_world_base = _base_putting_link_at((0.0, 0.35, 0.45))
    count = {}
    for inset in (0.0, 0.004):
        ep, _ = _arm_frames(scene, T_world_base, n=1, robot=RobotConfig(inset=inset))
        lab = ep.labels["photo"][0]
        count[inset] = int(np.isin(lab, [ep.label_names.index("robot"),
                                         ep.label_names.index("gripper")]).sum())
    assert count[0.0] > 500
    assert 0.6 * count[0.0] < count[0.004] < 0.97 * count[0.0], count


def test_arm_back_faces_are_left_out_and_only_moved_links_are_redrawn(scene):
    """``RobotConfig.backface_cos`` (default -0.1) leaves out the arm's Gaussians that face
    away from every camera of a frame: far fewer are drawn, and the frames hardly change
    against drawing them all (PSNR >= 40 dB per frame and camera, the same label on 99.8 %
    of the pixels). A link is reused from the last frame only while its pose and the cameras
    are unchanged: every frame rendered alone, by a fresh renderer, has the same bits as in
    the sequence (the arm moves in frames 0-2, rests in 3-5, the fingers open at 4)."""
    from igen_gs.episode.render import EpisodeRenderer, _check_trajectory
    from igen_gs.robot.model import load_robot

    n = 6
    q = np.repeat(Q_ARM[None], n, 0)
    q[:3, 0] += np.array([-0.2, -0.1, 0.0])
    q[:3, 3] += np.array([0.15, 0.05, 0.0])
    opening = np.where(np.arange(n) >= 4, 0.07, 0.03)
    T_world_base = _base_putting_link_at((0.0, 0.35, 0.45))
    T_world_ee = np.stack([T_world_base @ load_robot().tcp_pose(qq) for qq in q])
    rig = make_rig(scene, RigConfig(num_static_views=1, width=160, height=120,
                                    wrist_width=64, wrist_height=48))
    T_ee, op, poses = _check_trajectory(T_world_ee, opening, {}, scene)
    eps = {}
    for cos in (None, -0.1):
        eps[cos] = render_episode(scene, T_ee, op, poses, rig,
                                  RenderConfig(robot=RobotConfig(backface_cos=cos)),
                                  joint_positions=q, T_world_base=T_world_base)
    for cam in rig.names:
        a, b = (eps[c].rgb[cam].astype(float) for c in (None, -0.1))
        mse = ((a - b) ** 2).reshape(n, -1).mean(1)
        assert (10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-12)) >= 40).all(), cam
        assert (eps[None].labels[cam] == eps[-0.1].labels[cam]).mean() >= 0.998, cam
    cfg = RenderConfig()
    seq = EpisodeRenderer(scene, poses, rig, cfg, None, q, T_world_base)
    for t in range(n):
        frame = seq.render_frame(t, T_ee[t], float(op[t]))
        drawn = len(seq._arm(rig.static)["means"])
        assert drawn < 0.8 * seq.robot_gaussian_count
        alone = EpisodeRenderer(scene, poses, rig, cfg, None, q, T_world_base).render_frame(
            t, T_ee[t], float(op[t]))
        for cam in rig.names:
            for key in ("rgb", "depth", "labels"):
                assert np.array_equal(frame[cam][key], alone[cam][key]), (t, cam, key)

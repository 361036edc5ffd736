"""Erasing things from the input photo (a robot, a person, clutter): ``lift(..., erase=...)``.

Two photos of the synthetic tabletop, each with the ground truth of what is behind the thing
to erase (the same world ray-cast without it):

* a real Franka Panda (the synthetic world's robot: the link meshes of :mod:`igen_gs.robot`,
  posed by forward kinematics, ray-cast in their own colours) standing at the back right corner
  of the table and reaching over it;
* a tall column (10 x 10 x 30 cm) at the same corner painted magenta, a colour that nothing
  else in the world has, so "robot pixels" can be counted by colour alone in any render (used
  by the cheaper tests: objects win, GrabCut boxes, errors, the CLI).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from igen_gs import Camera, Scene, lift
from igen_gs.lifting.models.segment import SegmentConfig
from igen_gs.scene import frames
from igen_gs.scene.field import sh_dc_to_rgb
from igen_gs.synthetic import make_tabletop_world
from igen_gs.synthetic.shapes import ObjectSpec
from igen_gs.synthetic.world import SyntheticWorld

CLI = [sys.executable, "-c", "from igen_gs.cli.main import entrypoint; entrypoint()"]
ROBOT = ObjectSpec("robot", "box", (0.10, 0.10, 0.30), (0.85, 0.10, 0.85))
MAX_ROBOT_PIXELS = 5
"""A render counts as robot-free with at most this many robot-coloured pixels (measured: 0 of
76,800 at 320x240 with the erase mask; 1,983 without it)."""
MIN_REVEALED_PSNR = 20.0
"""PSNR (dB) of the photo view's re-render against the empty world on the pixels the robot
hid, where something is behind it (measured, column: 22.8 with the erase mask -- inpainted
wood and floor --, 11.1 without; Panda: 22.5 and 12.3)."""


MAX_PANDA_FRACTION = 0.005
"""The Panda counts as erased when at most this fraction of its distinguishable pixels still
look like it in the photo view (measured: 1 of 2,092 with the erase mask, 2,001 without)."""
MAX_PANDA_FRACTION_SIDE = 0.02
"""... and in a view 15 cm to the side (measured: 14 of 2,061; 1,916 without)."""
def still_visible(render: np.ndarray, photo: np.ndarray, truth: np.ndarray,
                  region: np.ndarray) -> tuple[int, int]:
    """(pixels of ``region`` where the thing in ``photo`` differs clearly from what is behind
    it in ``truth`` -- by > 0.15 in some channel --, those of them where ``render`` is closer
    to the photo than to the truth: the thing still shows). Images in [0, 1]."""
    distinct = region & (np.abs(photo - truth).max(-1) > 0.15)
    closer = np.linalg.norm(render - photo, axis=-1) < np.linalg.norm(render - truth, axis=-1)
    return int(distinct.sum()), int((distinct & closer).sum())


def test_an_erased_panda_is_gone_from_every_view(photo):
    """A ray-cast Franka Panda reaching over the table, erased with its mask: the re-rendered
    photo view and a side view show the table and floor behind it, not the arm; without the
    erase mask the same checks fail."""
    from igen_gs.synthetic import RobotPose

    empty, cam, _, _ = photo
    yaw = np.arctan2(-0.25, -0.35)  # base at the back right corner, facing the table's middle
    T_world_base = np.eye(4)
    T_world_base[:3, :3] = [[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0],
                            [0, 0, 1]]
    T_world_base[:3, 3] = [0.42, 0.32, 0.0]
    arm = RobotPose(q=[0.0, 0.3, 0.0, -2.0, 0.0, 2.3, 0.785], opening=0.04,
                    T_world_base=T_world_base)
    side = side_view(cam)
    shots = {}
    for name, view in (("photo", cam), ("side", side)):
        hits = empty.render(view, robot=arm)
        truth = empty.render(view)
        shots[name] = (hits, truth, hits["masks"]["robot"] & (truth["depth"] > 0))
    hits = shots["photo"][0]
    robot = hits["masks"]["robot"]
    assert robot.sum() > 5000
    masks = {n: hits["masks"][n] for n in empty.object_names}
    for erase, limit in (({"panda": robot}, True), (None, False)):
        scene = lift(hits["rgb"], hits["depth"], cam.K, masks=masks, erase=erase,
                     T_world_cam=cam.T_world_cam)
        for name, view in (("photo", cam), ("side", side)):
            shot, truth, region = shots[name]
            rgb = scene.render(view, labels=False)["rgb"][0].clamp(0, 1).numpy()
            n, shown = still_visible(rgb, shot["rgb"] / 255.0, truth["rgb"] / 255.0, region)
            assert n > 1500, name
            fraction = MAX_PANDA_FRACTION if name == "photo" else MAX_PANDA_FRACTION_SIDE
            if limit:
                assert shown <= fraction * n, (name, shown, n)
            else:
                assert shown > 0.8 * n, (name, shown, n)
            if name == "photo":
                score = psnr(rgb, truth["rgb"] / 255.0, region)
                assert (score > MIN_REVEALED_PSNR) == limit, score
    assert scene.object_names == empty.object_names


def robot_coloured(rgb: np.ndarray) -> np.ndarray:
    """bool [...]: magenta-ish pixels of an RGB image in [0, 1] [..., 3] (red and blue well
    above green); the table's wood, the floor and the four default objects have none."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return (r > 0.35) & (b > 0.35) & (g < 0.5 * np.minimum(r, b))


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    err = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean(-1)[mask]
    return float(10 * np.log10(1.0 / max(err.mean(), 1e-12)))


@pytest.fixture(scope="module")
def photo():
    """(world without the robot, camera, photo with the robot, ground-truth render without)."""
    empty = make_tabletop_world(0)
    T = frames.make_T(torch.eye(3, dtype=torch.float64),
                      torch.tensor([0.36, 0.22, 0.0], dtype=torch.float64))
    with_robot = SyntheticWorld(empty.specs + [ROBOT], {**empty.poses, "robot": T}, 0)
    cam = empty.default_camera(320, 240)
    obs = with_robot.render(cam)
    gt = empty.render(cam)
    assert robot_coloured(obs["rgb"] / 255.0).sum() == obs["masks"]["robot"].sum() > 1500
    assert robot_coloured(gt["rgb"] / 255.0).sum() == 0
    return empty, cam, obs, gt


def object_masks(obs, empty):
    return {n: obs["masks"][n] for n in empty.object_names}


@pytest.fixture(scope="module")
def erased(photo):
    empty, cam, obs, gt = photo
    return lift(obs["rgb"], obs["depth"], cam.K, masks=object_masks(obs, empty),
                erase={"robot": obs["masks"]["robot"]}, T_world_cam=cam.T_world_cam)


def side_view(cam: Camera) -> Camera:
    """The photo camera moved 15 cm to its right, looking at the table's middle."""
    eye = cam.center + 0.15 * cam.T_world_cam[:3, 0]
    return Camera.look_at(eye, (0.0, 0.05, 0.0), width=cam.width, height=cam.height, K=cam.K)


def test_an_erased_robot_is_gone_and_the_table_behind_it_is_back(photo, erased):
    empty, cam, obs, gt = photo
    revealed = obs["masks"]["robot"] & (gt["depth"] > 0)
    kept = lift(obs["rgb"], obs["depth"], cam.K, masks=object_masks(obs, empty),
                T_world_cam=cam.T_world_cam)
    for scene, is_erased in ((erased, True), (kept, False)):
        out = scene.render(scene.camera, labels=False)
        rgb = out["rgb"][0].clamp(0, 1).numpy()
        robot_px = int(robot_coloured(rgb).sum())
        side = scene.render(side_view(cam), labels=False)["rgb"][0].clamp(0, 1).numpy()
        side_px = int(robot_coloured(side).sum())
        # The Gaussians themselves: none has the robot's colour.
        colours = sh_dc_to_rgb(scene.background.sh[:, 0]).clamp(0, 1).numpy()
        robot_gaussians = int(robot_coloured(colours).sum())
        score = psnr(rgb, gt["rgb"] / 255.0, revealed)
        if is_erased:
            assert robot_px <= MAX_ROBOT_PIXELS and side_px <= MAX_ROBOT_PIXELS
            assert robot_gaussians == 0
            assert score > MIN_REVEALED_PSNR, score
            assert (out["alpha"][0].numpy()[revealed] > 0.9).all()  # filled, not a hole
        else:  # the same checks fail when the robot is not erased
            assert robot_px > 1000 and side_px > 500 and robot_gaussians > 1000
            assert score < MIN_REVEALED_PSNR - 5, score
    info = erased.meta["lift"]
    assert info["erase"] == {"robot": {"source": "mask", "pixels": int(obs["masks"]["robot"].sum()),
                                       "erased_pixels": int(obs["masks"]["robot"].sum()),
                                       "left_to_objects": 0}}
    assert "robot" in info["background_completion"]
    assert "robot" not in erased.objects and "robot" not in info["num_gaussians"]
    assert erased.object_names == empty.object_names


def test_objects_win_over_erase_masks_and_the_record_is_saved(tmp_path, photo, erased):
    """An erase mask that also covers an object (a gripper holding it): the object's pixels
    stay the object's -- it is lifted as without the erase mask --, only the rest is erased."""
    empty, cam, obs, gt = photo
    block = obs["masks"]["red block"]
    erase = obs["masks"]["robot"] | block
    scene = lift(obs["rgb"], obs["depth"], cam.K, masks=object_masks(obs, empty),
                 erase={"robot": erase}, T_world_cam=cam.T_world_cam)
    rec = scene.meta["lift"]["erase"]["robot"]
    assert rec["pixels"] == int(erase.sum()) and rec["left_to_objects"] == int(block.sum())
    assert rec["erased_pixels"] == int(obs["masks"]["robot"].sum())
    assert scene.meta["lift"]["num_gaussians"] == erased.meta["lift"]["num_gaussians"]
    assert torch.equal(scene.objects["red block"].means, erased.objects["red block"].means)
    scene.save(tmp_path / "scene")
    assert Scene.load(tmp_path / "scene").meta["lift"]["erase"] == scene.meta["lift"]["erase"]


def test_erase_mask_from_a_grabcut_box(photo):
    empty, cam, obs, gt = photo
    v, u = np.nonzero(obs["masks"]["robot"])
    box = [u.min() - 4, v.min() - 4, u.max() + 5, v.max() + 5]
    scene = lift(obs["rgb"], obs["depth"], cam.K, masks=object_masks(obs, empty),
                 erase_prompts={"robot": {"box": box}}, T_world_cam=cam.T_world_cam)
    assert scene.meta["lift"]["erase"]["robot"]["source"] == "grabcut erase mask"
    rgb = scene.render(scene.camera, labels=False)["rgb"][0].clamp(0, 1).numpy()
    assert robot_coloured(rgb).sum() <= MAX_ROBOT_PIXELS
    revealed = obs["masks"]["robot"] & (gt["depth"] > 0)
    assert psnr(rgb, gt["rgb"] / 255.0, revealed) > MIN_REVEALED_PSNR


def test_erase_without_objects(photo):
    """Only an erase mask: still inpainted and completed (no object needed)."""
    empty, cam, obs, gt = photo
    scene = lift(obs["rgb"], obs["depth"], cam.K, erase={"robot": obs["masks"]["robot"]},
                 T_world_cam=cam.T_world_cam, refine_iterations=1)
    assert scene.object_names == []
    out = scene.render(scene.camera, labels=False)
    rgb = out["rgb"][0].clamp(0, 1).numpy()
    assert robot_coloured(rgb).sum() <= MAX_ROBOT_PIXELS
    assert (out["alpha"][0].numpy()[obs["masks"]["robot"] & (gt["depth"] > 0)] > 0.9).all()


@pytest.mark.parametrize("make,message", [
    (lambda m: dict(erase={"robot": np.zeros((240, 320), bool)}), "erase mask 'robot' is empty"),
    (lambda m: dict(erase={"robot": np.ones((240, 320), bool)}),
     "erase mask 'robot' covers 100% of the image; a mask must leave background around it"),
    (lambda m: dict(erase={"robot": np.ones((24, 32), bool)}),
     "erase mask 'robot' is 32x24 but the image is 320x240"),
    (lambda m: dict(erase=[m["robot"]]), "masks must be a dict"),
    (lambda m: dict(erase={"mug": m["robot"]}),
     "names used both for an object and for erasing: mug"),
    (lambda m: dict(erase={"robot": m["robot"]}, erase_prompts={"robot": {"box": [1, 1, 50, 50]}}),
     "erase names given both a mask and a prompt: robot"),
    (lambda m: dict(erase={"robot": m["mug"]}),
     "erase mask 'robot' lies entirely inside object masks"),
    (lambda m: dict(erase_prompts={"robot": {"box": [300, 200, 400, 260]}}),
     "is outside the 320x240 image"),
    (lambda m: dict(erase_prompts=[[10, 10]]), "erase_prompts must be a dict"),
    (lambda m: dict(erase_prompts={"robot": {"box": [1, 1, 50, 50]}},
                    segmenter=SegmentConfig(method="auto")), "not 'auto'"),
])
def test_bad_erase_inputs(photo, make, message):
    empty, cam, obs, gt = photo
    with pytest.raises(ValueError) as e:
        lift(obs["rgb"], obs["depth"], cam.K, masks={"mug": obs["masks"]["mug"]},
             **make(obs["masks"]))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_cli_erase(tmp_path, photo):
    from PIL import Image

    from igen_gs.imageio import read_rgb, write_depth_png, write_rgb

    empty, cam, obs, gt = photo
    write_rgb(tmp_path / "photo.png", obs["rgb"])
    write_depth_png(tmp_path / "depth.png", obs["depth"])
    Image.fromarray(obs["masks"]["robot"].astype(np.uint8) * 255).save(tmp_path / "robot.png")
    Image.fromarray(obs["masks"]["mug"].astype(np.uint8) * 255).save(tmp_path / "mug.png")
    K = cam.K
    base = [*CLI, "lift", str(tmp_path / "photo.png"), "--depth", str(tmp_path / "depth.png"),
            "--intrinsics", *(str(float(v)) for v in (K[0, 0], K[1, 1], K[0, 2], K[1, 2])),
            "--mask", f"mug={tmp_path / 'mug.png'}"]
    out = tmp_path / "scene"
    r = subprocess.run(base + ["--erase", f"robot={tmp_path / 'robot.png'}", "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    scene = Scene.load(out)
    assert scene.object_names == ["mug"]
    assert scene.meta["lift"]["erase"]["robot"]["erased_pixels"] == obs["masks"]["robot"].sum()
    rgb = scene.render(scene.camera, labels=False)["rgb"][0].clamp(0, 1).numpy()
    assert robot_coloured(rgb).sum() <= MAX_ROBOT_PIXELS
    assert robot_coloured(read_rgb(out / "preview.png") / 255.0).sum() <= MAX_ROBOT_PIXELS
    assert "erased robot" in r.stdout
    for extra, expected in (
            (["--erase", f"robot={tmp_path / 'missing.png'}"], "mask for 'robot' not found"),
            (["--erase", f"mug={tmp_path / 'robot.png'}"], "names used both for an object"),
            (["--erase-prompt", "robot=circle:3"], "--erase-prompt value must be")):
        target = tmp_path / "bad_scene"
        bad = subprocess.run(base + extra + ["--out", str(target)], capture_output=True,
                             text=True)
        assert bad.returncode == 2, (extra, bad.stderr)
        assert expected in bad.stderr and bad.stderr.strip().count("\n") == 0, bad.stderr
        assert not target.exists()

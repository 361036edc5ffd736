"""``igen eval`` end to end: image folders (with masks and depth), MP4s, LeRobot datasets (with
flicker from their label maps), the report's numbers against the metric functions, the plots,
and the one-line errors (exit status 2)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from igen_gs.cli.main import run
from PIL import Image

from igen_gs.imageio import read_depth, write_depth_png, write_rgb
from igen_gs.metrics import EvalConfig, depth_errors, evaluate, flicker, psnr, ssim

H, W, T = 40, 56, 6


def _smooth_frames(rng, n=T, h=H, w=W):
    """n frames of smooth random colour fields (uint8 [n, h, w, 3])."""
    coarse = rng.random((n, h // 8 + 2, w // 8 + 2, 3))
    big = np.kron(coarse, np.ones((1, 8, 8, 1)))[:, :h, :w]
    return (np.clip(big * 0.8 + 0.1, 0, 1) * 255).astype(np.uint8)


def _perturb(rng, frames, levels):
    out = frames.astype(np.int16)
    for t, s in enumerate(levels):
        out[t] += rng.integers(-s, s + 1, size=out[t].shape, dtype=np.int16)
    return np.clip(out, 0, 255).astype(np.uint8)


def _write_folder(folder, frames):
    for t, f in enumerate(frames):
        write_rgb(folder / f"frame_{t:04d}.png", f)


def _png_ok(path, min_w=400, min_h=200):
    with Image.open(path) as im:
        a = np.asarray(im.convert("RGB"))
    assert a.shape[1] >= min_w and a.shape[0] >= min_h, a.shape
    assert a.std() > 5  # not blank
    return a.shape


def test_eval_image_folders_with_masks_and_depth(tmp_path, fresh_seed, capsys, monkeypatch):
    # No LPIPS backbone weights (an empty torch hub cache): LPIPS is skipped, saying why.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    rng = np.random.default_rng(fresh_seed)
    ref = _smooth_frames(rng)
    levels = [2, 4, 6, 40, 8, 0]  # frame 3 is the worst, frame 5 identical
    ren = _perturb(rng, ref, levels)
    _write_folder(tmp_path / "ref", ref)
    _write_folder(tmp_path / "ren", ren)
    mask = np.ones((H, W), np.uint8) * 255
    mask[:, :10] = 0
    Image.fromarray(mask).save(tmp_path / "mask.png")
    (tmp_path / "masks").mkdir()
    Image.fromarray(mask).save(tmp_path / "masks" / "all.png")
    gt = 1.0 + rng.random((T, H, W))
    gt[:, :4, :4] = 0.0  # no reference depth there
    pred = gt * (1 + 0.1 * rng.standard_normal((T, H, W)))
    (tmp_path / "dren").mkdir()
    for t in range(T):
        np.save(tmp_path / "dren" / f"{t:03d}.npy", pred[t].astype(np.float32))
        write_depth_png(tmp_path / "dref" / f"{t:03d}.png", gt[t])
    out = tmp_path / "out"
    code = run(["eval", "--rendered", str(tmp_path / "ren"), "--reference", str(tmp_path / "ref"),
                "--out", str(out), "--masks", str(tmp_path / "masks"), "--rendered-depth",
                str(tmp_path / "dren"), "--reference-depth", str(tmp_path / "dref"),
                "--worst", "3"])
    printed = capsys.readouterr().out
    assert code == 0
    rep = json.loads((out / "report.json").read_text())
    s = rep["streams"]["images"]
    assert s["frames"] == T
    m = mask > 0
    expect_psnr = [psnr(ren[t], ref[t], m) for t in range(T)]
    for got, want in zip(s["per_frame"]["psnr"][:5], expect_psnr[:5]):
        assert got == pytest.approx(want, abs=1e-9)
    assert s["per_frame"]["psnr"][5] is None and s["summary"]["psnr"]["infinite"] == 1
    assert s["summary"]["psnr"]["mean"] == pytest.approx(np.mean(expect_psnr[:5]), abs=1e-9)
    assert s["per_frame"]["ssim"][3] == pytest.approx(ssim(ren[3], ref[3], m), abs=1e-9)
    assert [w["frame"] for w in rep["worst_frames"]] == [3, 4, 2]
    # depth: as the library computes it on what the files hold (PNG: whole millimetres)
    gt_read = np.stack([read_depth(tmp_path / "dref" / f"{t:03d}.png") for t in range(T)])
    want = depth_errors(pred.astype(np.float32), gt_read, np.broadcast_to(m, (T, H, W)))
    for k in ("abs_rel", "rmse", "delta_1.25", "pixels"):
        assert s["depth"][k] == pytest.approx(want[k], rel=1e-9)
    assert 0.05 < s["depth"]["abs_rel"] < 0.12
    assert len(s["per_frame"]["depth_abs_rel"]) == T
    from igen_gs.metrics.perceptual import lpips_backbone_path

    with pytest.raises(FileNotFoundError) as missing:
        lpips_backbone_path("alex")
    assert str(tmp_path / "torch_home" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth") \
        in str(missing.value)
    assert rep["lpips"] == f"skipped: {missing.value}"
    assert "lpips" not in s["per_frame"]
    assert f"{np.mean(expect_psnr[:5]):.2f}" in printed and "AbsRel" in printed
    _png_ok(out / "curves.png")
    shape = _png_ok(out / "worst.png", min_w=300, min_h=300)
    assert shape[0] > shape[1] * 0.6  # three rows of three images


def test_eval_lpips_auto_uses_weights_in_the_hub_cache(tmp_path, fresh_seed, monkeypatch):
    """PLUMBING ONLY (a randomly initialised AlexNet backbone): with the weights file in the
    torch hub cache, lpips="auto" measures LPIPS and names the file; the values mean nothing
    perceptually, but identical frames give 0 and perturbed ones more."""
    import torch
    import torchvision

    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    path = home / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    path.parent.mkdir(parents=True)
    torch.manual_seed(fresh_seed)
    torch.save({k: v for k, v in torchvision.models.alexnet().state_dict().items()
                if k.startswith("features.")}, path)
    rng = np.random.default_rng(fresh_seed)
    ref = _smooth_frames(rng, n=3)
    _write_folder(tmp_path / "ref", ref)
    _write_folder(tmp_path / "ren", _perturb(rng, ref, [0, 20, 40]))
    rep = evaluate(EvalConfig(tmp_path / "ren", tmp_path / "ref", out=tmp_path / "out",
                              worst=0))
    assert rep.lpips == f"alex ({path})"
    values = rep.streams["images"].per_frame["lpips"]
    assert values[0] == pytest.approx(0.0, abs=1e-7) and values[2] > values[0]


def test_eval_mp4s(tmp_path, fresh_seed):
    from igen_gs.io.video import decode_mp4, encode_mp4

    rng = np.random.default_rng(fresh_seed)
    ref = _smooth_frames(rng, n=8, h=48, w=64)
    ren = _perturb(rng, ref, [3] * 8)
    encode_mp4(tmp_path / "ref.mp4", ref, fps=10)
    encode_mp4(tmp_path / "ren.mp4", ren, fps=10)
    rep = evaluate(EvalConfig(tmp_path / "ren.mp4", tmp_path / "ref.mp4", out=tmp_path / "out",
                              lpips="off"))
    a, b = decode_mp4(tmp_path / "ren.mp4"), decode_mp4(tmp_path / "ref.mp4")
    s = rep.streams["video"]
    assert s.frames == 8 and rep.lpips == "off" and "lpips" not in s.per_frame
    assert s.per_frame["psnr"] == pytest.approx([psnr(a[t], b[t]) for t in range(8)], abs=1e-9)
    assert 25 < s.summary["psnr"]["mean"] < 50
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["streams"]["video"]["per_frame"]["psnr"] == pytest.approx(
        s.per_frame["psnr"], abs=1e-12)
    # a video against itself: every frame identical; an MP4 against the folder of its frames
    same = evaluate(EvalConfig(tmp_path / "ref.mp4", tmp_path / "ref.mp4",
                               out=tmp_path / "same", lpips="off", worst=0))
    assert same.streams["video"].summary["psnr"]["infinite"] == 8
    assert same.streams["video"].summary["ssim"]["mean"] == pytest.approx(1.0, abs=1e-12)
    assert "worst" not in same.files
    _write_folder(tmp_path / "decoded", b)
    mixed = evaluate(EvalConfig(tmp_path / "ren.mp4", tmp_path / "decoded", lpips="off",
                                out=tmp_path / "mixed"))
    assert mixed.streams["video"].per_frame["psnr"] == pytest.approx(s.per_frame["psnr"])


def _write_dataset(root, episodes, seed):
    """A small LeRobot v3.0 dataset: per episode a fixed 'front' camera and an end-effector
    'wrist' camera, with depth and labels (0 background, 1 a moving box)."""
    from igen_gs.io import CameraInfo, EpisodeData, LeRobotWriter

    K = np.array([[40.0, 0, 32], [0, 40.0, 24], [0, 0, 1]])
    with LeRobotWriter(root, fps=10, previews=False, workers=1) as w:
        for i, ep in enumerate(episodes):
            n = len(ep["front"])
            w.add_episode(EpisodeData(
                key=f"ep{i}", task="push the box", frames={"front": ep["front"],
                                                           "wrist": ep["wrist"]},
                state=np.zeros((n, 3)), action=np.zeros((n, 2)),
                cameras={"front": CameraInfo(64, 48, K, T_world_cam=np.eye(4)),
                         "wrist": CameraInfo(64, 48, K, T_ee_cam=np.eye(4))},
                depth={"front": ep["depth"], "wrist": ep["depth"]},
                labels={"front": ep["labels"], "wrist": ep["labels"]},
                label_names=["background", "box"], extras={"seed": seed}))


def test_eval_lerobot_datasets_with_flicker(tmp_path, fresh_seed):
    from igen_gs.io import load_lerobot_dataset

    rng = np.random.default_rng(fresh_seed)
    ref_eps, ren_eps = [], []
    for n in (5, 4):
        base = _smooth_frames(rng, n=1, h=48, w=64)[0]
        labels = np.zeros((n, 48, 64), np.int16)
        front = np.repeat(base[None], n, 0)
        for t in range(n):  # a box moving right
            labels[t, 16:32, 8 + 6 * t:24 + 6 * t] = 1
            front[t, 16:32, 8 + 6 * t:24 + 6 * t] = (200, 40, 40)
        depth = np.where(labels == 1, 0.8, 1.5).astype(np.float32)
        ref_eps.append({"front": front, "wrist": front[:, ::-1].copy(), "depth": depth,
                        "labels": labels})
        flick = front.astype(np.int16)
        flick[1::2] += 12  # rendered frames flicker by 12 levels on every other frame
        ren_front = np.clip(flick, 0, 255).astype(np.uint8)
        ren_eps.append({"front": ren_front, "wrist": ren_front[:, ::-1].copy(),
                        "depth": depth * 1.1, "labels": labels})
    _write_dataset(tmp_path / "ref", ref_eps, fresh_seed)
    _write_dataset(tmp_path / "ren", ren_eps, fresh_seed)
    rep = evaluate(EvalConfig(tmp_path / "ren", tmp_path / "ref", out=tmp_path / "out",
                              lpips="off", flicker=True))
    assert set(rep.streams) == {"front", "wrist"}
    front = rep.streams["front"]
    assert front.frames == 9 and front.clips == ["episode 0", "episode 1"]
    assert front.clip_starts == [0, 5]
    # the numbers, from the decoded videos and stored label maps of both datasets
    ds_ren, ds_ref = load_lerobot_dataset(tmp_path / "ren"), load_lerobot_dataset(tmp_path / "ref")
    a = np.concatenate([e.frames("front") for e in ds_ren.episodes])
    b = np.concatenate([e.frames("front") for e in ds_ref.episodes])
    assert front.per_frame["psnr"] == pytest.approx(
        [psnr(a[t], b[t]) for t in range(9)], abs=1e-9)
    sums = [0.0, 0]
    for e in ds_ren.episodes:
        static = e.labels("front") == 0
        pairs = (static[1:] & static[:-1]).sum()
        sums[0] += flicker(e.frames("front"), static) * pairs
        sums[1] += pairs
    assert front.flicker == pytest.approx(sums[0] / sums[1], abs=1e-12)
    assert 0.03 < front.flicker < 0.06  # ~12 / 255, after video coding
    assert front.flicker_reference < 0.01
    assert len(front.flicker_per_frame) == 9
    assert np.isnan(front.flicker_per_frame[0]) and np.isnan(front.flicker_per_frame[5])
    assert np.isfinite(front.flicker_per_frame[1:5]).all()
    # depth: stored in millimetres; every rendered depth is 10 % off
    assert front.depth["abs_rel"] == pytest.approx(0.1, abs=2e-3)
    assert front.depth["delta_1.25"] == 1.0
    wrist = rep.streams["wrist"]
    assert wrist.flicker is None
    assert wrist.notes == ["no flicker: the camera moves (no fixed pose) (episode 0, episode 1)"]
    only = evaluate(EvalConfig(tmp_path / "ren", tmp_path / "ref", out=tmp_path / "out2",
                               lpips="off", cameras=("wrist",)))
    assert set(only.streams) == {"wrist"}
    assert only.streams["wrist"].per_frame["psnr"] == pytest.approx(wrist.per_frame["psnr"])
    _png_ok(tmp_path / "out" / "curves.png")
    _png_ok(tmp_path / "out" / "worst.png", min_w=300, min_h=300)


def _error_line(capsys, argv):
    code = run(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert "\n" not in err and err.startswith("igen: error:"), err
    return err


def test_eval_errors_are_one_line(tmp_path, fresh_seed, capsys, monkeypatch):
    rng = np.random.default_rng(fresh_seed)
    frames = _smooth_frames(rng)
    _write_folder(tmp_path / "a", frames)
    _write_folder(tmp_path / "b", frames[:5])
    _write_folder(tmp_path / "c", frames[:, :32])
    out = ["--out", str(tmp_path / "out")]
    err = _error_line(capsys, ["eval", "--rendered", str(tmp_path / "nope"), "--reference",
                               str(tmp_path / "a"), *out])
    assert str(tmp_path / "nope") in err
    err = _error_line(capsys, ["eval", "--rendered", str(tmp_path / "a"), "--reference",
                               str(tmp_path / "b"), *out])
    assert "has 6 frames" in err and "has 5" in err
    err = _error_line(capsys, ["eval", "--rendered", str(tmp_path / "a"), "--reference",
                               str(tmp_path / "c"), *out])
    assert "56x40" in err and "56x32" in err
    (tmp_path / "c" / "frame_0002.png").write_bytes(b"not a png")
    err = _error_line(capsys, ["eval", "--rendered", str(tmp_path / "c"), "--reference",
                               str(tmp_path / "c"), *out])
    assert "frame_0002.png" in err
    write_rgb(tmp_path / "d" / "x.png", frames[0][:, :20])
    _write_folder(tmp_path / "d", frames[1:3])
    err = _error_line(capsys, ["eval", "--rendered", str(tmp_path / "d"), "--reference",
                               str(tmp_path / "d"), *out])
    assert "frame_0000.png" in err and "x.png" in err
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    err = _error_line(capsys, ["eval", "--rendered", str(tmp_path / "a"), "--reference",
                               str(tmp_path / "a"), "--lpips", "on", *out])
    assert "--lpips-weights" in err and "alexnet-owt-7be5be79.pth" in err
    err = _error_line(capsys, ["eval", "--rendered", str(tmp_path / "a"), "--reference",
                               str(tmp_path / "a"), "--flicker", *out])
    assert "--static-masks" in err
    err = _error_line(capsys, ["eval", "--rendered", str(tmp_path / "a"), "--reference",
                               str(tmp_path / "a"), "--masks", str(tmp_path / "b"), *out])
    assert "5 masks for 6 frames" in err
    assert not (tmp_path / "out" / "report.json").exists()
    # the installed command: exit status 2 and one line
    p = subprocess.run([sys.executable, "-c", "from igen_gs.cli.main import entrypoint; "
                        "entrypoint()", "eval", "--rendered", str(tmp_path / "a"),
                        "--reference", str(tmp_path / "b"), *out],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "has 5" in p.stderr


def test_eval_reads_depth_png_and_npy_alike(tmp_path):
    """The two depth formats of --rendered-depth give the same errors (PNG holds mm)."""
    d = np.full((H, W), 1.234, np.float32)
    write_depth_png(tmp_path / "p" / "0.png", d)
    (tmp_path / "n").mkdir()
    np.save(tmp_path / "n" / "0.npy", d)
    assert read_depth(tmp_path / "p" / "0.png") == pytest.approx(read_depth(tmp_path / "n" /
                                                                            "0.npy"))
    img = np.full((H, W, 3), 128, np.uint8)
    write_rgb(tmp_path / "i" / "0.png", img)
    rep = evaluate(EvalConfig(tmp_path / "i", tmp_path / "i", out=tmp_path / "o", lpips="off",
                              rendered_depth=tmp_path / "n", reference_depth=tmp_path / "p"))
    s = rep.streams["images"]
    assert s.depth["rmse"] < 1e-6 and s.depth["pixels"] == H * W
    assert math.isinf(s.per_frame["psnr"][0])


def _write_episode(root, ep):
    from igen_gs.io import LeRobotWriter

    with LeRobotWriter(root, fps=15, previews=False) as w:
        w.add_episode(ep)


def test_eval_warp_error_of_an_igen_dataset_under_its_known_motion(tmp_path):
    """igen eval --warp on a rendered episode: every frame matches the previous one warped by
    the stored camera and object motion, in the fixed photo view and in the moving wrist
    camera; claiming the wrist camera did not move gives a much larger error on the same
    frames. Datasets without the motion say what is missing; folders are refused."""
    from igen_gs.planning import plan_task
    from igen_gs.scene import Scene
    from igen_gs.scene.builtin import builtin_camera, builtin_scene

    base = builtin_scene(spacing=0.006)
    scene = Scene(base.background, base.objects, base.poses, builtin_camera(96, 72),
                  base.support_plane)
    from dataclasses import replace

    from igen_gs.episode.config import EpisodeConfig, RigConfig
    from igen_gs.episode.produce import pack_episode, render_trajectory

    traj = plan_task(scene, "put the red block on the blue plate")
    n = 100  # the approach, grasp and lift: the wrist camera moves, the block is carried
    traj = replace(traj, timestamps=traj.timestamps[:n], T_world_ee=traj.T_world_ee[:n],
                   gripper=traj.gripper[:n], gripper_opening_m=traj.gripper_opening_m[:n],
                   attached=traj.attached[:n], step_index=traj.step_index[:n],
                   phase=traj.phase[:n], joint_positions=traj.joint_positions[:n],
                   object_poses={k: v[:n] for k, v in traj.object_poses.items()})
    cfg = EpisodeConfig(rig=RigConfig(num_static_views=0, width=96, height=72, wrist_width=64,
                                      wrist_height=48))
    frames_, rig = render_trajectory(scene, traj, cfg)
    ep = pack_episode("e/0", scene, traj, frames_, cfg, rig)
    with pytest.raises(ValueError, match="e/0: 3 actions for 100 frames"):
        pack_episode("e/0", scene, traj, frames_, cfg, rig, action=ep.action[:3])
    assert np.array_equal(pack_episode("e/0", scene, traj, frames_, cfg, rig,
                                       action=ep.action[::-1]).action, ep.action[::-1])
    assert set(ep.object_poses) == set(scene.object_names) and list(ep.camera_poses) == ["wrist"]
    _write_episode(tmp_path / "ds", ep)
    P = ep.camera_poses["wrist"]
    _write_episode(tmp_path / "still",
                   replace(ep, camera_poses={"wrist": np.repeat(P[:1], len(P), 0)}))
    _write_episode(tmp_path / "bare", replace(ep, object_poses=None))

    def warp(root):
        return evaluate(EvalConfig(rendered=root, reference=root, out=tmp_path / "out",
                                   lpips="off", warp=True, worst=0)).streams

    good, wrong = warp(tmp_path / "ds"), warp(tmp_path / "still")
    for cam in ("photo", "wrist"):
        s = good[cam]
        assert s.warp_error is not None and s.warp_error == s.warp_error_reference
        assert s.warp_error < 0.03, (cam, s.warp_error)  # 0..1; H.264 at crf 18 included
        assert len(s.warp_per_frame) == len(traj) and math.isnan(s.warp_per_frame[0])
        assert not s.notes
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["streams"]["wrist"]["warp_error"] is not None
    # Frames where the wrist camera moves: the wrong (static) camera motion does far worse.
    step = np.linalg.norm(np.diff(P[:, :3, 3], axis=0), axis=1) > 0.005
    assert step.sum() > 20
    g = np.asarray(good["wrist"].warp_per_frame[1:])[step]
    w = np.asarray(wrong["wrist"].warp_per_frame[1:])[step]
    # (0.55 since the planner takes the grasp needing the least wrist turn: the approach
    # rotates the wrist camera less, so "it did not move" is a less wrong claim.)
    assert np.nanmean(g) < 0.65 * np.nanmean(w), (np.nanmean(g), np.nanmean(w))
    bare = warp(tmp_path / "bare")["photo"]
    assert bare.warp_error is None
    assert bare.notes == ["no warp error: the dataset has no object poses (episode 0)"]
    with pytest.raises(ValueError, match="--warp needs the known motion"):
        evaluate(EvalConfig(rendered=tmp_path, reference=tmp_path, warp=True, lpips="off"))

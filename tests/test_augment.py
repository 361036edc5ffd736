"""Novel-view augmentation of datasets and RGB-D folders."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from test_io import _lerobot_check, needs_lerobot

from igen_gs.augment import AugmentConfig, augment, new_viewpoint
from igen_gs.io import load_lerobot_dataset


def test_new_viewpoints_orbit_the_look_at_point(fresh_seed):
    rng = np.random.default_rng(fresh_seed)
    depth = np.full((48, 64), 1.5, np.float32)
    for _ in range(20):
        T = new_viewpoint(depth, rng, 15.0, 0.0)
        R, c = T[:3, :3], T[:3, 3]
        assert np.allclose(R.T @ R, np.eye(3), atol=1e-12)
        angle = math.degrees(math.acos(np.clip((np.trace(R) - 1) / 2, -1, 1)))
        assert 7.5 - 1e-6 <= angle <= 15 + 1e-6
        # Still looking at the point 1.5 m ahead: it projects to the principal point.
        p = R.T @ (np.array([0.0, 0.0, 1.5]) - c)
        assert np.allclose(p[:2], 0, atol=1e-9) and p[2] == pytest.approx(1.5)
        T2 = new_viewpoint(depth, rng, 10.0, 0.05)
        assert np.linalg.norm(T2[:3, 3]) < 2 * 1.5 * math.sin(math.radians(5)) + 0.05 + 1e-9


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    """A one-episode dataset with depth, from the demo pipeline at a small size."""
    from igen_gs.demo import DemoConfig, run_demo
    from igen_gs.episode.config import EpisodeConfig, RigConfig

    d = tmp_path_factory.mktemp("demo")
    run_demo(DemoConfig(out=d, photo_width=320, photo_height=240, episode=EpisodeConfig(
        rig=RigConfig(width=96, height=72, num_static_views=0, wrist_camera=False))))
    return d / "dataset"


def test_augment_a_dataset(small_dataset, tmp_path):
    cfg = AugmentConfig(num_views=2, max_angle_deg=10, max_translation_m=0.02, seed=3,
                        previews=False)
    s = augment(small_dataset, tmp_path / "aug", cfg, progress=False)
    src = load_lerobot_dataset(small_dataset).episodes[0]
    out = load_lerobot_dataset(tmp_path / "aug")
    ep = out.episodes[0]
    assert set(ep.videos) == {"photo", "photo_view0", "photo_view1"}
    assert np.array_equal(ep.state, src.state) and np.array_equal(ep.action, src.action)
    assert ep.task == src.task and ep.key == src.key
    views = ep.extras["augment"]["views"]
    assert views["photo_view0"]["source"] == "photo"
    holes = ep.extras["augment"]["hole_fraction"]["photo_view1"]
    assert len(holes) == ep.length and 0 <= max(holes) < 0.5
    a, b = ep.frames("photo"), ep.frames("photo_view0")
    assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).mean() > 2
    # Extrinsics of the new stream: the source pose composed with T_src_new.
    T_src = ep.camera_poses("photo")[0]
    T_new = np.asarray(views["photo_view0"]["T_src_new"])
    assert np.allclose(ep.camera_poses("photo_view0")[0], T_src @ T_new, atol=1e-6)
    # Temporally coherent: the viewpoint is fixed, so the first frames agree where the
    # scene is static (the gripper moves only a little between consecutive frames).
    assert np.abs(b[0].astype(int) - b[1].astype(int)).mean() < 10
    # Resume: nothing is redone.
    again = augment(small_dataset, tmp_path / "aug", cfg, progress=False)
    assert again["written"] == [] and again["skipped"] == s["written"]


def test_augment_an_rgbd_folder(redkitchen, tmp_path):
    s = augment(redkitchen.root, tmp_path / "aug",
                AugmentConfig(num_views=1, max_frames=3, frame_step=4, previews=False),
                progress=False)
    ds = load_lerobot_dataset(tmp_path / "aug")
    ep = ds.episodes[0]
    assert set(ep.videos) == {"rgb", "rgb_view0"} and ep.length == 3
    assert ep.state.shape == (3, 7)
    T = np.stack([redkitchen.pose(i) for i in (0, 12, 24)])
    assert np.allclose(ep.state[:, :3], T[:, :3, 3], atol=1e-5)
    assert 0.0 < s["mean_hole_fraction"]["rgb_view0"] < 0.6


def test_augment_errors(tmp_path, small_dataset):
    with pytest.raises(FileNotFoundError):
        augment(tmp_path / "nothing", tmp_path / "o")
    with pytest.raises(ValueError, match="num_views must be >= 1"):
        augment(small_dataset, tmp_path / "o", AugmentConfig(num_views=0))
    with pytest.raises(ValueError, match="has no camera 'top'"):
        augment(small_dataset, tmp_path / "o", AugmentConfig(cameras=("top",)), progress=False)
    r = subprocess.run([sys.executable, "-c", "from igen_gs.cli.main import entrypoint; "
                        "entrypoint()", "augment", str(tmp_path / "missing")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "input not found" in r.stderr


@needs_lerobot
def test_real_lerobot_loads_an_augmented_dataset(small_dataset, tmp_path):
    """The augmented dataset (new camera streams beside the source one) loads in lerobot's
    own LeRobotDataset with states, actions, task and frames intact."""
    augment(small_dataset, tmp_path / "aug", AugmentConfig(num_views=1, seed=5,
                                                           previews=False), progress=False)
    ep = load_lerobot_dataset(tmp_path / "aug").episodes[0]
    arrays = {"state_0": ep.state, "action_0": ep.action, "task_0": np.array(ep.task)}
    for cam in ep.videos:
        arrays[f"frames_0_{cam}"] = ep.frames(cam)
    np.savez(tmp_path / "expect.npz", **arrays)
    report = _lerobot_check(tmp_path / "aug", tmp_path / "expect.npz", "--min-psnr", "40")
    assert report["ok"], report
    assert report["num_episodes"] == 1 and report["episode_lengths"] == [ep.length]
    assert report["camera_keys"] == ["observation.images.photo",
                                     "observation.images.photo_view0"]

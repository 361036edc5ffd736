"""End to end: the demo, render-episode, and batch generation on local processes and Ray."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from igen_gs.batch.generate import generate_dataset
from igen_gs.batch.generate_config import GenerateConfig
from igen_gs.episode.config import EpisodeConfig, RigConfig
from igen_gs.io import load_lerobot_dataset

IGEN = [sys.executable, "-c", "from igen_gs.cli.main import entrypoint; entrypoint()"]


def small_episode_config(**kw) -> EpisodeConfig:
    return EpisodeConfig(rig=RigConfig(width=96, height=72, wrist_width=64, wrist_height=48,
                                       num_static_views=1), **kw)


@pytest.fixture(scope="module")
def photo_job(tmp_path_factory):
    """A synthetic photo with depth and masks on disk, and a manifest using it."""
    from PIL import Image

    from igen_gs.imageio import write_depth_png, write_rgb
    from igen_gs.synthetic import make_tabletop_world

    d = tmp_path_factory.mktemp("job")
    world = make_tabletop_world(0)
    cam = world.default_camera(320, 240)
    obs = world.render(cam)
    write_rgb(d / "photo.png", obs["rgb"])
    write_depth_png(d / "depth.png", obs["depth"])
    masks = {}
    for name, m in obs["masks"].items():
        p = f"masks/{name.replace(' ', '_')}.png"
        (d / "masks").mkdir(exist_ok=True)
        Image.fromarray(m.astype(np.uint8) * 255).save(d / p)
        masks[name] = p
    K = cam.K.numpy()
    good = {"id": "table", "image": "photo.png", "depth": "depth.png",
            "intrinsics": [K[0, 0], K[1, 1], K[0, 2], K[1, 2]], "masks": masks,
            "instruction": "put the red block on the blue plate", "seed": 7, "variations": 2}
    bad = {**good, "id": "broken", "depth": "no_such_depth.png", "variations": 1}
    (d / "jobs.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    return d


def test_generate_local_records_failures_and_resumes(photo_job, tmp_path):
    cfg = GenerateConfig(executor="local", workers=2, episode=small_episode_config(),
                         previews=False)
    s = generate_dataset(photo_job / "jobs.jsonl", tmp_path / "ds", cfg, progress=False)
    assert sorted(s["written"]) == ["table/0", "table/1"]
    assert [f["key"] for f in s["failed"]] == ["broken/0"]
    assert "no_such_depth.png" in s["failed"][0]["reason"]
    lines = (tmp_path / "ds" / "failures.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["key"] == "broken/0"
    ds = load_lerobot_dataset(tmp_path / "ds")
    assert sorted(e.key for e in ds.episodes) == ["table/0", "table/1"]
    ep0, ep1 = sorted(ds.episodes, key=lambda e: e.key)
    # Seeded variations differ from each other and are recorded.
    assert ep0.extras["variation"]["objects"] != ep1.extras["variation"]["objects"]
    assert ep0.extras["seed"] == 7000 and ep1.extras["seed"] == 7001
    assert ep0.state.shape[1] == 8 and ep0.action.shape[1] == 8
    assert ds.camera_names == ["photo", "view_0", "wrist"]
    # Rerun: nothing is duplicated.
    again = generate_dataset(photo_job / "jobs.jsonl", tmp_path / "ds", cfg, progress=False)
    assert again["written"] == [] and sorted(again["skipped"]) == ["table/0", "table/1"]
    assert load_lerobot_dataset(tmp_path / "ds").info["total_episodes"] == 2


@pytest.mark.slow
def test_generate_on_a_local_ray_cluster(photo_job, tmp_path):
    manifest = tmp_path / "one.jsonl"
    first = (photo_job / "jobs.jsonl").read_text().splitlines()[0]
    job = json.loads(first)
    job.update({"variations": 2, "image": str(photo_job / "photo.png"),
                "depth": str(photo_job / "depth.png"),
                "masks": {k: str(photo_job / v) for k, v in job["masks"].items()}})
    manifest.write_text(json.dumps(job) + "\n")
    cfg = GenerateConfig(executor="ray", workers=2, episode=small_episode_config(),
                         previews=False)
    s = generate_dataset(manifest, tmp_path / "ds", cfg, progress=False)
    assert sorted(s["written"]) == ["table/0", "table/1"] and not s["failed"]
    assert load_lerobot_dataset(tmp_path / "ds").info["total_episodes"] == 2


def test_demo_end_to_end(tmp_path):
    """The README's main job (smaller images): every promised output is there and loadable."""
    from PIL import Image

    from igen_gs.demo import DemoConfig, run_demo
    from igen_gs.planning import Trajectory
    from igen_gs.scene import Scene

    cfg = DemoConfig(out=tmp_path / "demo", photo_width=320, photo_height=240,
                     episode=small_episode_config())
    s = run_demo(cfg)
    scene = Scene.load(tmp_path / "demo" / "scene")
    assert set(scene.object_names) >= {"red block", "blue plate"}
    traj = Trajectory.load(tmp_path / "demo" / "trajectory.json")
    assert [st.describe() for st in traj.plan.steps] == ["pick red block",
                                                         "place red block on blue plate"]
    ds = load_lerobot_dataset(tmp_path / "demo" / "dataset")
    ep = ds.episodes[0]
    assert ep.length == len(traj) == s["frames"]
    assert ds.camera_names == ["photo", "view_0", "wrist"]
    frames = ep.frames("photo")
    assert frames.shape == (len(traj), 72, 96, 3)
    # The gripper and the scene are drawn: frames vary in time and are not blank.
    assert frames.std() > 10 and np.abs(frames[0].astype(int) - frames[len(traj) // 2]).mean() > 1
    assert Image.open(tmp_path / "demo" / "previews" / "episode_000000.png").size[0] > 100
    # The red block ends on the plate in the recorded object poses.
    final = traj.object_poses["red block"][-1][:3, 3]
    plate = traj.object_poses["blue plate"][-1][:3, 3]
    assert np.linalg.norm(final[:2] - plate[:2]) < 0.03


def test_render_episode_cli(tmp_path):
    from igen_gs.demo import DemoConfig, run_demo

    run_demo(DemoConfig(out=tmp_path / "demo", photo_width=320, photo_height=240,
                        episode=small_episode_config()))
    run = IGEN + ["render-episode", "--scene", str(tmp_path / "demo" / "scene"), "--plan",
                  str(tmp_path / "demo" / "trajectory.json"), "--out", str(tmp_path / "ep"),
                  "--config.rig.width", "64", "--config.rig.height", "48",
                  "--config.rig.num-static-views", "0", "--config.rig.no-wrist-camera"]
    r = subprocess.run(run, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ds = load_lerobot_dataset(tmp_path / "ep")
    assert ds.camera_names == ["photo"] and ds.episodes[0].frames("photo").shape[1:3] == (48, 64)
    r = subprocess.run(run, capture_output=True, text=True)  # the same episode again
    assert r.returncode == 2 and "already holds episode" in r.stderr

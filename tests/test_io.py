"""LeRobot v3.0 writing: layout, round trip, statistics, atomic episodes and resume,
previews, HDF5 export, and loading with the real lerobot (in its own virtual environment)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from igen_gs.io import CameraInfo, EpisodeData, LeRobotWriter, load_lerobot_dataset
from igen_gs.io.video import decode_mp4

REPO = Path(__file__).resolve().parents[1]


def smooth_frames(T: int, H: int, W: int, seed: int) -> np.ndarray:
    """Moving colour gradients (video-codec friendly, unlike noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W]
    out = np.zeros((T, H, W, 3), np.uint8)
    phase = rng.random(3) * 6
    for t in range(T):
        for c in range(3):
            out[t, ..., c] = (127 + 100 * np.sin(x / 9.0 + y / 13.0 + phase[c] + 0.2 * t)).astype(
                np.uint8)
    return out


def episode(key: str, T: int = 24, seed: int = 0, task: str = "stack the cups") -> EpisodeData:
    rng = np.random.default_rng(seed)
    return EpisodeData(
        key=key, task=task,
        frames={"photo": smooth_frames(T, 48, 64, seed), "wrist": smooth_frames(T, 30, 40,
                                                                                seed + 9)},
        state=rng.normal(size=(T, 8)).astype(np.float32),
        action=rng.normal(size=(T, 7)).astype(np.float32),
        cameras={"photo": CameraInfo(64, 48, np.diag([50.0, 50.0, 1.0]), T_world_cam=np.eye(4)),
                 "wrist": CameraInfo(40, 30, np.diag([30.0, 30.0, 1.0]), T_ee_cam=np.eye(4))},
        depth={"photo": rng.random((T, 48, 64)).astype(np.float32) * 2},
        labels={"photo": rng.integers(-1, 3, (T, 48, 64)).astype(np.int16)},
        label_names=["background", "cup", "gripper"],
        captions=[f"step {t}" for t in range(T)], extras={"seed": seed})


def psnr(a, b) -> float:
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean() / 255.0**2
    return float(10 * np.log10(1 / max(mse, 1e-12)))


def test_layout_and_round_trip(tmp_path):
    w = LeRobotWriter(tmp_path / "ds", fps=15, state_names=[f"s{i}" for i in range(8)])
    eps = [episode("a/0", 24, 0), episode("a/1", 17, 1, task="pour")]
    for e in eps:
        w.add_episode(e)
    root = tmp_path / "ds"
    info = json.loads((root / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 15
    assert info["total_episodes"] == 2 and info["total_frames"] == 41 and info["total_tasks"] == 2
    assert info["splits"] == {"train": "0:2"}
    feat = info["features"]
    assert feat["observation.images.photo"]["shape"] == [48, 64, 3]
    assert feat["observation.images.photo"]["info"]["video.codec"] == "h264"
    assert feat["observation.state"] == {"dtype": "float32", "shape": [8],
                                         "names": [f"s{i}" for i in range(8)]}
    assert feat["action"]["shape"] == [7] and feat["timestamp"]["dtype"] == "float32"
    assert info["igen_gs"]["cameras"]["wrist"]["T_ee_cam"] == np.eye(4).tolist()
    data = pq.read_table(root / "data/chunk-000/file-001.parquet")
    assert data.column_names == ["observation.state", "action", "timestamp", "frame_index",
                                 "episode_index", "index", "task_index"]
    assert data["index"].to_pylist() == list(range(24, 41))
    assert data["task_index"].to_pylist() == [1] * 17
    row = pq.read_table(root / "meta/episodes/chunk-000/file-001.parquet").to_pylist()[0]
    assert row["dataset_from_index"] == 24 and row["dataset_to_index"] == 41
    assert row["videos/observation.images.wrist/to_timestamp"] == pytest.approx(17 / 15)
    assert row["tasks"] == ["pour"]

    ds = load_lerobot_dataset(root)
    assert ds.tasks == ["stack the cups", "pour"] and ds.camera_names == ["photo", "wrist"]
    for e, loaded in zip(eps, ds.episodes, strict=True):
        assert np.array_equal(loaded.state, e.state) and np.array_equal(loaded.action, e.action)
        assert np.allclose(loaded.timestamps, np.arange(e.state.shape[0]) / 15)
        for cam in ("photo", "wrist"):
            # H.264 with 4:2:0 chroma on saturated test gradients at 64x48
            assert psnr(loaded.frames(cam), e.frames[cam]) > 30.0
        assert loaded.cameras["photo"]["K"][0][0] == 50.0
        d = loaded.depth("photo", root)
        assert np.abs(d - e.depth["photo"]).max() <= 0.0005 + 1e-6  # millimetre quantisation
        assert loaded.extras["label_names"] == ["background", "cup", "gripper"]


def test_statistics(tmp_path):
    w = LeRobotWriter(tmp_path / "ds", fps=10)
    eps = [episode("s/0", 20, 3), episode("s/1", 30, 4)]
    for e in eps:
        w.add_episode(e)
    st = json.loads((tmp_path / "ds" / "meta" / "stats.json").read_text())
    allstate = np.concatenate([e.state for e in eps])
    assert np.allclose(st["observation.state"]["mean"], allstate.mean(0), atol=1e-5)
    assert np.allclose(st["observation.state"]["std"], allstate.std(0), atol=1e-5)
    assert np.allclose(st["observation.state"]["min"], allstate.min(0))
    assert st["observation.state"]["count"] == [50]
    for q in ("q01", "q10", "q50", "q90", "q99"):
        assert len(st["action"][q]) == 7
    img = st["observation.images.photo"]
    assert np.asarray(img["mean"]).shape == (3, 1, 1)
    assert 0 <= np.asarray(img["min"]).min() and np.asarray(img["max"]).max() <= 1


def test_crash_mid_episode_keeps_dataset_loadable_and_resume_has_no_duplicates(tmp_path,
                                                                              monkeypatch):
    root = tmp_path / "ds"
    w = LeRobotWriter(root, fps=15, previews=False)
    w.add_episode(episode("j/0", seed=0))

    # Crash after the videos and data of the second episode are written, before its commit.
    import pyarrow.parquet

    real = pyarrow.parquet.write_table

    def crash_on_episode_meta(table, where, *a, **k):
        if "meta/episodes" in str(where):
            raise KeyboardInterrupt("simulated crash")
        return real(table, where, *a, **k)

    monkeypatch.setattr(pyarrow.parquet, "write_table", crash_on_episode_meta)
    with pytest.raises(KeyboardInterrupt):
        w.add_episode(episode("j/1", seed=1))
    monkeypatch.setattr(pyarrow.parquet, "write_table", real)
    assert (root / "data/chunk-000/file-001.parquet").exists()  # orphaned files exist

    ds = load_lerobot_dataset(root)  # still loadable, with the committed episode only
    assert [e.key for e in ds.episodes] == ["j/0"]

    w2 = LeRobotWriter(root, fps=15, previews=False)  # resume: orphans removed
    assert not (root / "data/chunk-000/file-001.parquet").exists()
    assert w2.has_episode("j/0") and not w2.has_episode("j/1")
    for key, seed in (("j/0", 0), ("j/1", 1), ("j/2", 2)):
        if not w2.has_episode(key):
            w2.add_episode(episode(key, seed=seed))
    ds = load_lerobot_dataset(root)
    assert [e.key for e in ds.episodes] == ["j/0", "j/1", "j/2"]
    assert json.loads((root / "meta/info.json").read_text())["total_episodes"] == 3
    with pytest.raises(ValueError, match="already in"):
        w2.add_episode(episode("j/1", seed=1))


def test_previews_are_written(tmp_path):
    from PIL import Image

    w = LeRobotWriter(tmp_path / "ds", fps=15)
    w.add_episode(episode("p/0", T=20))
    mp4 = tmp_path / "ds" / "previews" / "episode_000000.mp4"
    png = tmp_path / "ds" / "previews" / "episode_000000.png"
    frames = decode_mp4(mp4)
    assert frames.shape[0] == 20 and frames.shape[1] == 240  # tiled at 240 px high
    sheet = Image.open(png)
    assert sheet.size[1] == 8 * 120 and sheet.size[0] >= 120 * (64 / 48 + 40 / 30) - 2


@pytest.mark.parametrize("mutate,message", [
    (lambda e: setattr(e, "action", e.action[:-1]), "action has 23 frames but state has 24"),
    (lambda e: setattr(e, "state", e.state[:0]), "the episode is empty"),
    (lambda e: e.frames.__setitem__("photo", e.frames["photo"].astype(np.float32)),
     "frames of camera 'photo' must be uint8"),
    (lambda e: setattr(e, "task", ""), "task must be a non-empty string"),
    (lambda e: e.state.__setitem__((0, 0), np.nan), "NaN"),
])
def test_bad_episodes(tmp_path, mutate, message):
    e = episode("b/0")
    mutate(e)
    with pytest.raises(ValueError, match=message):
        LeRobotWriter(tmp_path / "ds", fps=15).add_episode(e)


def test_mismatched_features_are_rejected(tmp_path):
    w = LeRobotWriter(tmp_path / "ds", fps=15, previews=False)
    w.add_episode(episode("m/0"))
    e = episode("m/1")
    e.action = e.action[:, :5]
    with pytest.raises(ValueError, match="does not match the dataset's features: action"):
        w.add_episode(e)
    with pytest.raises(ValueError, match="has fps 15, not 30"):
        LeRobotWriter(tmp_path / "ds", fps=30)


def test_hdf5_export(tmp_path):
    import h5py

    from igen_gs.io.hdf5 import export_robomimic

    w = LeRobotWriter(tmp_path / "ds", fps=15, previews=False)
    eps = [episode("h/0", 12, 0), episode("h/1", 9, 1)]
    for e in eps:
        w.add_episode(e)
    out = export_robomimic(tmp_path / "ds", tmp_path / "demo.hdf5")
    with h5py.File(out, "r") as f:
        assert f["data"].attrs["total"] == 21
        assert json.loads(f["data"].attrs["env_args"])["type"] == "igen-gs"
        d1 = f["data/demo_1"]
        assert d1.attrs["num_samples"] == 9
        assert np.array_equal(d1["actions"][()], eps[1].action)
        assert np.array_equal(d1["obs/state"][()], eps[1].state)
        assert d1["obs/photo_image"].shape == (9, 48, 64, 3)
        assert list(f["mask/train"][()]) == [b"demo_0", b"demo_1"]


def _lerobot_python() -> str | None:
    p = os.environ.get("IGEN_LEROBOT_PYTHON")
    return p if p and Path(p).is_file() else None


@pytest.mark.skipif(_lerobot_python() is None,
                    reason="set IGEN_LEROBOT_PYTHON to a python with lerobot 0.4.x installed "
                           "(a separate venv; .ci/run creates one)")
def test_real_lerobot_loads_the_dataset(tmp_path):
    w = LeRobotWriter(tmp_path / "ds", fps=15, previews=False)
    eps = [episode("l/0", 16, 0), episode("l/1", 11, 1, task="pour")]
    expect = {}
    for i, e in enumerate(eps):
        w.add_episode(e)
        expect[f"state_{i}"], expect[f"action_{i}"] = e.state, e.action
        for cam, fr in e.frames.items():
            expect[f"frames_{i}_{cam}"] = fr
    np.savez(tmp_path / "expect.npz", **expect)
    r = subprocess.run([_lerobot_python(), str(REPO / "eval" / "check_lerobot_load.py"),
                        "--root", str(tmp_path / "ds"), "--expect", str(tmp_path / "expect.npz"),
                        "--min-psnr", "30"], capture_output=True, text=True, timeout=600)
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert r.returncode == 0 and report["ok"], report
    assert report["lerobot_dataset_len"] == 27 and report["num_episodes"] == 2
    assert report["max_state_action_abs_error"] == 0.0 and report["worst_frame_psnr_db"] > 30
    assert report["tasks"] == ["stack the cups", "pour"]

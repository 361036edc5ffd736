"""LeRobot v3.0 writing and reading: layout and schema, round trip, statistics, atomic episodes
(crashes at every commit step, Ctrl-C, resume without duplicates, concurrent writers),
previews, robomimic HDF5 export, bad inputs, and -- when a python with lerobot 0.4.x is given
in IGEN_LEROBOT_PYTHON (``.ci/run`` prepares one) -- loading with the real lerobot in both
directions."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from igen_gs.io import CameraInfo, EpisodeData, LeRobotWriter, WriterConfig, load_lerobot_dataset
from igen_gs.io import lerobot as lr
from igen_gs.io import writer as wr
from igen_gs.io.stats import (
    Q_KEYS,
    aggregate,
    feature_stats,
    image_sample_indices,
    image_stats,
    image_stride,
)
from igen_gs.io.video import decode_mp4, encode_mp4

REPO = Path(__file__).resolve().parents[1]


def smooth_frames(T: int, H: int, W: int, seed: int) -> np.ndarray:
    """Moving colour gradients (video-codec friendly, unlike noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W]
    phase = rng.random(3) * 6
    t = np.arange(T)[:, None, None, None]
    c = np.arange(3)
    v = 127 + 100 * np.sin(x[None, ..., None] / 16.0 + y[None, ..., None] / 22.0 + phase[c]
                           + 0.2 * t)
    return v.astype(np.uint8)


def episode(key: str, T: int = 24, seed: int = 0, task: str = "stack the cups",
            wrist_size: tuple[int, int] = (30, 40)) -> EpisodeData:
    rng = np.random.default_rng(seed)
    h, w = wrist_size
    poses = np.repeat(np.eye(4)[None], T, 0)
    poses[:, 0, 3] = np.linspace(0, 0.3, T)  # the wrist camera moves along x
    return EpisodeData(
        key=key, task=task,
        frames={"photo": smooth_frames(T, 48, 64, seed), "wrist": smooth_frames(T, h, w, seed + 9)},
        state=rng.normal(size=(T, 8)).astype(np.float32),
        action=rng.normal(size=(T, 7)).astype(np.float32),
        cameras={"photo": CameraInfo(64, 48, np.diag([50.0, 50.0, 1.0]), T_world_cam=np.eye(4)),
                 "wrist": CameraInfo(w, h, np.diag([30.0, 30.0, 1.0]), T_ee_cam=np.eye(4))},
        depth={"photo": (rng.random((T, 48, 64)) * 2).astype(np.float32)},
        labels={"photo": rng.integers(-1, 3, (T, 48, 64)).astype(np.int16)},
        label_names=["cup", "saucer", "gripper"], camera_poses={"wrist": poses},
        captions=[f"step {t} | gripper {'open' if t < T // 2 else 'closed'}" for t in range(T)],
        extras={"seed": seed, "plan": {"steps": ["pick", "place"]}})


def psnr(a, b) -> float:
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean() / 255.0**2
    return float(10 * np.log10(1 / max(mse, 1e-12)))


def write(root, eps, **kw) -> LeRobotWriter:
    kw.setdefault("previews", False)
    with LeRobotWriter(root, fps=15, **kw) as w:
        for e in eps:
            w.add_episode(e)
    return w


# ---------------------------------------------------------------------- layout, round trip
def test_layout_schema_and_round_trip(tmp_path):
    root = tmp_path / "ds"
    eps = [episode("a/0", 24, 0, wrist_size=(31, 41)),
           episode("a/1", 17, 1, task="pour", wrist_size=(31, 41))]
    eps[1].cameras["photo"].K = np.diag([51.0, 51.0, 1.0])  # cameras may vary per episode
    write(root, eps, state_names=[f"q{i}" for i in range(8)], extra_info={"source": "test"})
    with pytest.raises(ValueError, match="wrist is \\[30, 40, 3\\], the dataset has \\[32, 42"):
        write(root, [episode("a/2", 5, 2)])

    info = json.loads((root / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 15
    assert info["robot_type"] == "franka" and info["chunks_size"] == 1000
    assert info["total_episodes"] == 2 and info["total_frames"] == 41 and info["total_tasks"] == 2
    assert info["splits"] == {"train": "0:2"}
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == ("videos/{video_key}/chunk-{chunk_index:03d}/"
                                  "file-{file_index:03d}.mp4")
    feat = info["features"]
    assert feat["observation.images.photo"]["shape"] == [48, 64, 3]
    assert feat["observation.images.photo"]["names"] == ["height", "width", "channels"]
    vinfo = feat["observation.images.photo"]["info"]
    assert vinfo["video.codec"] == "h264" and vinfo["video.pix_fmt"] == "yuv420p"
    assert vinfo["video.fps"] == 15 and (vinfo["video.height"], vinfo["video.width"]) == (48, 64)
    assert feat["observation.state"] == {"dtype": "float32", "shape": [8],
                                         "names": [f"q{i}" for i in range(8)]}
    assert feat["action"]["shape"] == [7] and feat["action"]["names"][0] == "a0"
    for k, dt in (("timestamp", "float32"), ("frame_index", "int64"), ("index", "int64"),
                  ("episode_index", "int64"), ("task_index", "int64")):
        assert feat[k] == {"dtype": dt, "shape": [1], "names": None}
    ours = info["igen_gs"]
    assert ours["source"] == "test" and ours["codec"] == "h264" and ours["cameras_vary"] is True
    assert ours["cameras"]["wrist"]["T_ee_cam"] == np.eye(4).tolist()
    assert ours["cameras"]["photo"]["K"][0][0] == 50.0
    assert feat["observation.images.wrist"]["shape"] == [32, 42, 3]  # odd sizes stored padded

    data = pq.read_table(root / "data/chunk-000/file-001.parquet")
    assert data.column_names == ["observation.state", "action", "timestamp", "frame_index",
                                 "episode_index", "index", "task_index"]
    assert data.schema.field("observation.state").type == pa.list_(pa.float32(), 8)
    assert data.schema.field("timestamp").type == pa.float32()
    assert data.schema.field("index").type == pa.int64()
    assert data["index"].to_pylist() == list(range(24, 41))
    assert data["episode_index"].to_pylist() == [1] * 17
    assert data["task_index"].to_pylist() == [1] * 17
    row = pq.read_table(root / "meta/episodes/chunk-000/file-001.parquet").to_pylist()[0]
    assert row["episode_index"] == 1 and row["length"] == 17 and row["tasks"] == ["pour"]
    assert row["dataset_from_index"] == 24 and row["dataset_to_index"] == 41
    assert (row["data/chunk_index"], row["data/file_index"]) == (0, 1)
    assert (row["meta/episodes/chunk_index"], row["meta/episodes/file_index"]) == (0, 1)
    assert row["videos/observation.images.wrist/file_index"] == 1
    assert row["videos/observation.images.wrist/from_timestamp"] == 0.0
    assert row["videos/observation.images.wrist/to_timestamp"] == pytest.approx(17 / 15)
    assert np.asarray(row["stats/observation.images.photo/mean"]).shape == (3, 1, 1)
    assert row["igen_gs/key"] == "a/1"
    tasks = pq.read_table(root / "meta/tasks.parquet").to_pandas()
    assert list(tasks.index) == ["stack the cups", "pour"]
    assert tasks["task_index"].tolist() == [0, 1]
    assert not (root / ".staging").exists()

    ds = load_lerobot_dataset(root)
    assert ds.tasks == ["stack the cups", "pour"] and ds.camera_names == ["photo", "wrist"]
    assert ds.fps == 15 and [e.key for e in ds.episodes] == ["a/0", "a/1"]
    for e, got in zip(eps, ds.episodes, strict=True):
        T = e.state.shape[0]
        assert got.task == e.task and got.length == T
        assert got.state.dtype == np.float32 and np.array_equal(got.state, e.state)
        assert np.array_equal(got.action, e.action)
        assert np.array_equal(got.data["frame_index"], np.arange(T))
        assert np.allclose(got.timestamps, np.arange(T) / 15)
        assert psnr(got.frames("photo"), e.frames["photo"]) > 35.0
        h, w = e.frames["wrist"].shape[1:3]
        wrist = got.frames("wrist")
        assert wrist.shape[1:3] == (h + h % 2, w + w % 2)  # odd sizes stored edge-padded
        assert psnr(wrist[:, :h, :w], e.frames["wrist"]) > 35.0
        assert np.array_equal(got.cameras["photo"].K, e.cameras["photo"].K)
        assert np.array_equal(got.cameras["wrist"].T_ee_cam, np.eye(4))
        assert np.abs(got.depth("photo") - e.depth["photo"]).max() <= 0.0005 + 1e-6
        assert np.array_equal(got.labels("photo"), e.labels["photo"])
        assert np.array_equal(got.camera_poses("wrist"), e.camera_poses["wrist"])
        assert np.array_equal(got.camera_poses("photo"), np.repeat(np.eye(4)[None], T, 0))
        assert got.extras["label_names"] == ["cup", "saucer", "gripper"]
        assert got.extras["captions"] == e.captions and got.extras["plan"]["steps"][1] == "place"
    with pytest.raises(ValueError, match="has no depth for camera 'wrist'"):
        ds.episodes[0].depth("wrist")


def test_writes_are_deterministic(tmp_path):
    def digest(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file() and "lock" not in p.name}

    for name in ("a", "b"):
        write(tmp_path / name, [episode("d/0", 12, 5), episode("d/1", 9, 6)], previews=True)
    da, db = digest(tmp_path / "a"), digest(tmp_path / "b")
    assert len(da) == 2 * (2 + 1 + 1 + 3 + 2) + 3  # videos, data, meta, extras, previews
    assert da == db


def test_h264_bytes_do_not_depend_on_concurrent_encoders(tmp_path):
    """The same frames give the same bytes while other encoders run on other threads (with
    x264's lookahead on, 9 of 240 such videos differed on a busy machine)."""
    from concurrent.futures import ThreadPoolExecutor

    from igen_gs.io.video import encode_mp4

    clips = [smooth_frames(9, 48, 64, 6), smooth_frames(9, 30, 40, 15)]
    digests: dict[int, set[str]] = {0: set(), 1: set()}
    with ThreadPoolExecutor(4) as ex:
        for r in range(6):
            paths = [tmp_path / f"{r}_{j}.mp4" for j in range(4)]
            list(ex.map(lambda p, c: encode_mp4(p, c, 15), paths, clips * 2))
            for j, p in enumerate(paths):
                digests[j % 2].add(hashlib.sha256(p.read_bytes()).hexdigest())
    assert all(len(d) == 1 for d in digests.values()), digests


@pytest.mark.parametrize("codec", ["av1"])
def test_other_codecs_round_trip(tmp_path, codec):
    e = episode("c/0", 12, 3)
    write(tmp_path / "ds", [e], codec=codec, crf=20)
    ds = load_lerobot_dataset(tmp_path / "ds")
    assert ds.info["features"]["observation.images.photo"]["info"]["video.codec"] == codec
    assert psnr(ds.episodes[0].frames("photo"), e.frames["photo"]) > 30.0
    with pytest.raises(ValueError, match=f"is encoded with {codec}, not h264"):
        LeRobotWriter(tmp_path / "ds", fps=15)


def test_real_rgbd_frames_round_trip(tmp_path, redkitchen):
    """Kinect RGB-D frames (640x480): video quality and millimetre depth on real data."""
    frames = [redkitchen[i] for i in range(12)]
    rgb = np.stack([f.rgb for f in frames])
    depth = np.stack([f.depth for f in frames]).astype(np.float32)
    e = EpisodeData(key="kitchen", task="look around the kitchen", frames={"kinect": rgb},
                    state=np.stack([f.T_world_cam[:3, 3] for f in frames]).astype(np.float32),
                    action=np.zeros((12, 7), np.float32), depth={"kinect": depth},
                    cameras={"kinect": CameraInfo(640, 480, frames[0].K)},
                    camera_poses={"kinect": np.stack([f.T_world_cam for f in frames])})
    write(tmp_path / "ds", [e])
    got = load_lerobot_dataset(tmp_path / "ds").episodes[0]
    assert psnr(got.frames("kinect"), rgb) > 35.0
    valid = depth > 0
    assert np.abs(got.depth("kinect") - depth)[valid].max() <= 0.0005 + 1e-6
    assert (got.depth("kinect")[~valid] == 0).all()
    assert np.allclose(got.camera_poses("kinect"), e.camera_poses["kinect"])
    assert np.array_equal(got.state, e.state)


def test_decode_range_of_a_multi_episode_video(tmp_path):
    """How LeRobot's concatenated files are read: frames presented in [from, to)."""
    frames = smooth_frames(30, 32, 48, 1)
    encode_mp4(tmp_path / "v.mp4", frames, fps=15)
    part = decode_mp4(tmp_path / "v.mp4", 12 / 15, 25 / 15)
    assert part.shape[0] == 13
    for k in (0, 6, 12):
        assert psnr(part[k], frames[12 + k]) > 35.0
        assert psnr(part[k], frames[12 + k]) > psnr(part[k], frames[11 + k]) + 3
    assert decode_mp4(tmp_path / "v.mp4").shape[0] == 30


def test_consolidated_multi_episode_files(tmp_path):
    """Episodes packed into shared data/video files (LeRobot's layout) read back identically."""
    from igen_gs.io import consolidate_dataset

    eps = [episode(f"m/{i}", 8 + i, i, task=("pour" if i % 2 else "stack the cups"))
           for i in range(5)]
    write(tmp_path / "ds", eps, previews=True)
    one_video = (tmp_path / "ds/videos/observation.images.photo/chunk-000/file-000.mp4")
    limit_mb = 2.5 * one_video.stat().st_size / 2**20  # about two episodes per video file
    out = consolidate_dataset(tmp_path / "ds", tmp_path / "packed",
                              video_files_size_in_mb=limit_mb)
    vdir = out / "videos/observation.images.photo/chunk-000"
    videos = sorted(p.name for p in vdir.iterdir())
    assert 2 <= len(videos) <= 4 and videos[0] == "file-000.mp4"
    assert [p.name for p in (out / "data/chunk-000").iterdir()] == ["file-000.parquet"]
    assert len(list((out / "meta/episodes").rglob("*.parquet"))) == 1
    rows = pq.read_table(out / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [r["data/file_index"] for r in rows] == [0] * 5
    key = "videos/observation.images.photo"
    assert rows[1][f"{key}/file_index"] == rows[0][f"{key}/file_index"] == 0
    assert rows[1][f"{key}/from_timestamp"] == pytest.approx(8 / 15)
    assert rows[1][f"{key}/to_timestamp"] == pytest.approx(17 / 15)
    for name in videos:  # within the size limit, unless a file holds a single episode
        n_eps = sum(r[f"{key}/file_index"] == int(name[5:8]) for r in rows)
        assert n_eps >= 1 and (n_eps == 1 or (vdir / name).stat().st_size <= limit_mb * 2**20)

    src, packed = load_lerobot_dataset(tmp_path / "ds"), load_lerobot_dataset(out)
    assert packed.info["igen_gs"]["layout"] == "concatenated"
    assert packed.info["total_frames"] == src.info["total_frames"] == 50
    for a, b in zip(src.episodes, packed.episodes, strict=True):
        assert (b.key, b.task, b.length) == (a.key, a.task, a.length)
        for k in ("observation.state", "action", "index", "frame_index", "task_index"):
            assert np.array_equal(a.data[k], b.data[k]), k
        for cam in ("photo", "wrist"):  # remuxed, not re-encoded: identical decoded frames
            assert np.array_equal(a.frames(cam), b.frames(cam))
        assert np.array_equal(a.depth("photo"), b.depth("photo"))
    assert (out / "previews/episode_000004.png").is_file()
    with pytest.raises(ValueError, match="is consolidated"):
        LeRobotWriter(out, fps=15)
    with pytest.raises(ValueError, match="already exists"):
        consolidate_dataset(tmp_path / "ds", out)
    with pytest.raises(ValueError, match="already shares video files"):
        consolidate_dataset(out, tmp_path / "again")
    if _lerobot_python():
        report = _lerobot_check(out, _save_expect(tmp_path / "expect.npz", eps))
        assert report["ok"] and report["episode_lengths"] == [8, 9, 10, 11, 12], report


# ---------------------------------------------------------------------- statistics
def test_statistics_on_known_data(tmp_path):
    e0, e1 = episode("s/0", 20, 3), episode("s/1", 30, 4)
    e0.state = np.tile(np.arange(20, dtype=np.float32)[:, None], (1, 8))
    signs = np.array([1, -1] * 4, np.float32)
    e1.state = np.tile(100 + np.arange(30, dtype=np.float32)[:, None], (1, 8)) * signs
    colours = np.array([255, 0, 51], np.uint8)
    for e in (e0, e1):
        e.frames["photo"] = np.broadcast_to(colours, e.frames["photo"].shape).copy()
    write(tmp_path / "ds", [e0, e1])
    st = json.loads((tmp_path / "ds" / "meta" / "stats.json").read_text())
    s = np.concatenate([e0.state, e1.state]).astype(np.float64)
    assert np.allclose(st["observation.state"]["mean"], s.mean(0))
    assert np.allclose(st["observation.state"]["std"], s.std(0))
    assert np.array_equal(st["observation.state"]["min"], s.min(0))
    assert np.array_equal(st["observation.state"]["max"], s.max(0))
    assert st["observation.state"]["count"] == [50]
    # Quantiles: count-weighted mean of the episodes' exact quantiles (LeRobot's aggregation).
    q = (20 * np.quantile(e0.state[:, 0], 0.5) + 30 * np.quantile(e1.state[:, 0], 0.5)) / 50
    assert st["observation.state"]["q50"][0] == pytest.approx(q)
    assert set(st["action"]) == {"min", "max", "mean", "std", "count", *Q_KEYS}
    assert st["timestamp"]["max"] == [pytest.approx(29 / 15)] and st["index"]["max"] == [49]
    img = st["observation.images.photo"]
    assert np.allclose(np.asarray(img["mean"]).ravel(), colours / 255.0, atol=1e-6)
    assert np.allclose(np.asarray(img["std"]).ravel(), 0.0, atol=1e-6)
    assert np.asarray(img["q99"]).shape == (3, 1, 1) and img["count"] == [50]

    # Aggregation is exact for mean/std/min/max; sampling follows LeRobot's heuristic.
    rng = np.random.default_rng(0)
    parts = [rng.normal(i, 1 + i, size=(n, 3)) for i, n in enumerate((7, 50, 13))]
    agg = aggregate([{"x": feature_stats(p)} for p in parts])["x"]
    whole = feature_stats(np.concatenate(parts))
    for k in ("mean", "std", "min", "max", "count"):
        assert np.allclose(agg[k], whole[k])
    assert len(image_sample_indices(40)) == 40 and len(image_sample_indices(1000)) == 177
    # Image statistics from 256-bin histograms equal numpy's on the sampled pixels.
    for shape in ((7, 30, 40, 3), (120, 48, 64, 3), (3, 300, 320, 3)):
        fr = rng.integers(0, 256, shape).astype(np.uint8)
        fr[..., 1] //= 3
        px = fr[image_sample_indices(shape[0]), ::image_stride(*shape[1:3]),
                ::image_stride(*shape[1:3])].reshape(-1, 3) / 255.0
        got, want = image_stats(fr), feature_stats(px)
        for k in ("min", "max", "mean", "std", *Q_KEYS):
            assert np.allclose(got[k].ravel(), want[k], atol=1e-12), k
    big = image_stats(np.zeros((3, 480, 640, 3), np.uint8))
    assert big["count"].tolist() == [3] and big["max"].shape == (3, 1, 1)


# ---------------------------------------------------------------------- atomicity, resume
def test_exception_after_videos_before_commit_leaves_previous_episodes(tmp_path, monkeypatch):
    root = tmp_path / "ds"
    w = LeRobotWriter(root, fps=15, previews=False)
    w.add_episode(episode("j/0", seed=0))

    def boom(*a, **k):
        raise RuntimeError("injected failure before the commit")

    monkeypatch.setattr(LeRobotWriter, "_commit", boom)
    with pytest.raises(RuntimeError, match="injected"):
        w.add_episode(episode("j/1", seed=1))
    monkeypatch.undo()
    # Nothing of the failed episode is left in the dataset; it still loads.
    assert not (root / ".staging").exists()
    assert sorted(p.name for p in (root / "data/chunk-000").iterdir()) == ["file-000.parquet"]
    assert [e.key for e in load_lerobot_dataset(root).episodes] == ["j/0"]
    assert json.loads((root / "meta/info.json").read_text())["total_episodes"] == 1
    # The same writer carries on; a repeated key is refused.
    assert w.add_episode(episode("j/1", seed=1)) == 1
    with pytest.raises(ValueError, match="already in"):
        w.add_episode(episode("j/1", seed=1))
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.add_episode(episode("j/2", seed=2))


def test_nothing_exists_at_the_root_until_the_first_episode_is_committed(tmp_path,
                                                                         monkeypatch):
    root = tmp_path / "ds"
    w = LeRobotWriter(root, fps=15, previews=False)
    assert not root.exists()  # opening a writer creates nothing

    def boom(*a, **k):
        raise RuntimeError("injected failure before the commit")

    monkeypatch.setattr(LeRobotWriter, "_commit", boom)
    with pytest.raises(RuntimeError, match="injected"):
        w.add_episode(episode("n/0", 8, 0))
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == []  # neither the root nor a temporary sibling
    old = os.umask(0o022)
    try:
        assert w.add_episode(episode("n/0", 8, 0)) == 0
    finally:
        os.umask(old)
    assert [e.key for e in load_lerobot_dataset(root).episodes] == ["n/0"]
    assert sorted(os.listdir(tmp_path)) == ["ds"]
    assert oct(root.stat().st_mode & 0o777) == oct(0o755)  # the umask, not mkdtemp's 0700
    with pytest.raises(lr.EpisodeExistsError, match="already in"):
        w.add_episode(episode("n/0", 8, 0))
    # An empty directory given by the user is filled the same way.
    (tmp_path / "empty").mkdir()
    LeRobotWriter(tmp_path / "empty", fps=15, previews=False).add_episode(episode("e/0", 8, 0))
    assert [e.key for e in load_lerobot_dataset(tmp_path / "empty").episodes] == ["e/0"]


def test_a_stale_first_episode_sibling_of_a_killed_writer_is_removed(tmp_path):
    stale = tmp_path / f".ds.{lr.FIRST_EPISODE_TAG}-999999999-abcdef"
    (stale / "meta").mkdir(parents=True)
    LeRobotWriter(tmp_path / "ds", fps=15, previews=False)
    assert not stale.exists()


def test_a_non_empty_directory_that_is_not_a_dataset_is_refused(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    (root / "holiday.jpg").write_bytes(b"not ours")
    with pytest.raises(ValueError, match="holds no LeRobot dataset.*holiday.jpg"):
        LeRobotWriter(root, fps=15)
    assert sorted(os.listdir(root)) == ["holiday.jpg"]
    # What an interrupted writer of an older version left (lock file, empty folders) is ours.
    left = tmp_path / "left"
    (left / "meta").mkdir(parents=True)
    (left / LeRobotWriter.LOCK_NAME).write_text("")
    LeRobotWriter(left, fps=15, previews=False).add_episode(episode("l/0", 8, 0))
    assert [e.key for e in load_lerobot_dataset(left).episodes] == ["l/0"]


CRASH_SCRIPT = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {tests!r})
    from test_io import episode
    from igen_gs.io import LeRobotWriter
    from igen_gs.io import writer as wr

    point = {point!r}
    real_move, real_write = wr._move, wr._atomic_write

    def move(src, dst):
        if point == "videos" and "videos" in str(dst) and "file-001" in str(dst):
            os._exit(17)  # a hard crash: no cleanup, no finally blocks
        if point == "episode-meta" and "meta/episodes" in str(dst) and "file-001" in str(dst):
            os._exit(17)
        return real_move(src, dst)

    def atomic_write(path, data):
        if point == "info" and path.name == "info.json" and b'"total_episodes": 2' in data:
            os._exit(17)
        return real_write(path, data)

    wr._move, wr._atomic_write = move, atomic_write
    w = LeRobotWriter({root!r}, fps=15, previews=True)
    for i in range(3):
        w.add_episode(episode(f"k/{{i}}", T=10 + i, seed=i))
""")


@pytest.mark.parametrize("point", ["videos", "episode-meta", "info"])
def test_hard_crash_at_each_commit_step_then_resume(tmp_path, point):
    root = tmp_path / "ds"
    script = CRASH_SCRIPT.format(tests=str(REPO / "tests"), point=point, root=str(root))
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 17, r.stderr[-2000:]
    committed = ["k/0", "k/1"] if point == "info" else ["k/0"]
    # The dataset loads, with the episodes committed before the crash.
    ds = load_lerobot_dataset(root)
    assert [e.key for e in ds.episodes] == committed
    assert np.array_equal(ds.episodes[0].action, episode("k/0", 10, 0).action)
    if point == "episode-meta":  # videos and data of episode 1 were already in place
        assert (root / "data/chunk-000/file-001.parquet").exists()
    if _lerobot_python() and point == "episode-meta":  # with episode 1's data file in data/
        report = _lerobot_check(root, None)
        assert report["ok"] and report["lerobot_dataset_len"] == 10, report

    # Resume: leftovers removed, info.json repaired, the rest written once.
    w = LeRobotWriter(root, fps=15, previews=True)
    assert w.num_episodes == len(committed) and not (root / ".staging").exists()
    assert json.loads((root / "meta/info.json").read_text())["total_episodes"] == len(committed)
    assert len(list(root.glob("data/chunk-000/*.parquet"))) == len(committed)
    for i in range(3):
        if not w.has_episode(f"k/{i}"):
            w.add_episode(episode(f"k/{i}", T=10 + i, seed=i))
    ds = load_lerobot_dataset(root)
    assert [e.key for e in ds.episodes] == ["k/0", "k/1", "k/2"]
    assert [e.length for e in ds.episodes] == [10, 11, 12]
    for i, e in enumerate(ds.episodes):
        assert np.array_equal(e.state, episode(f"k/{i}", 10 + i, i).state)
        assert np.array_equal(e.data["index"], np.arange(10 * i + i * (i - 1) // 2,
                                                         10 * i + i * (i - 1) // 2 + 10 + i))
    assert len(list((root / "previews").glob("episode_*.png"))) == 3
    assert json.loads((root / "meta/info.json").read_text())["total_frames"] == 33


@pytest.fixture(params=["default", "ignored"])
def sigint_disposition(request):
    """SIGINT as an interactive shell leaves it (Python's KeyboardInterrupt handler), or
    ignored, as a shell leaves it for a command started in the background (``cmd &``): the
    test installs the one it relies on instead of inheriting whatever the runner had."""
    import signal

    old = signal.signal(signal.SIGINT, signal.default_int_handler
                        if request.param == "default" else signal.SIG_IGN)
    yield request.param
    signal.signal(signal.SIGINT, old)


@pytest.mark.parametrize("existing", [False, True], ids=["first-episode", "appended"])
def test_ctrl_c_during_commit_is_deferred_until_the_episode_is_committed(
        tmp_path, monkeypatch, sigint_disposition, existing):
    import signal

    root = tmp_path / "ds"
    w = LeRobotWriter(root, fps=15, previews=False)
    keys = []
    if existing:
        w.add_episode(episode("c/0", 8, 0))
        keys.append("c/0")
    real = wr._move
    sent = []

    def move(src, dst):
        if not sent:
            sent.append(dst)
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the renames
        return real(src, dst)

    monkeypatch.setattr(wr, "_move", move)
    key = f"c/{len(keys)}"
    if sigint_disposition == "default":  # acted on right after the commit
        with pytest.raises(KeyboardInterrupt):
            w.add_episode(episode(key, 8, 1))
    else:  # ignored, as the process asked: the episode is committed all the same
        try:
            w.add_episode(episode(key, 8, 1))
        except KeyboardInterrupt:
            pytest.fail("Ctrl-C was acted on although SIGINT is ignored")
    assert signal.getsignal(signal.SIGINT) == (signal.default_int_handler
                                               if sigint_disposition == "default"
                                               else signal.SIG_IGN)
    assert sent and [e.key for e in load_lerobot_dataset(root).episodes] == keys + [key]
    info = json.loads((root / "meta/info.json").read_text())
    assert info["total_frames"] == 8 * len(keys + [key])
    assert not list(tmp_path.glob(".ds.*"))  # no temporary sibling left behind


WRITER_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_io import episode
    from igen_gs.io import LeRobotWriter

    w = LeRobotWriter({root!r}, fps=15, previews=False)
    for i in range(3):
        w.add_episode(episode("{name}/" + str(i), T=6 + i, seed={seed} + i))
""")


def test_concurrent_writers_append_without_clashes(tmp_path):
    root = tmp_path / "ds"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT.format(
        tests=str(REPO / "tests"), root=str(root), name=n, seed=s)], stderr=subprocess.PIPE)
        for n, s in (("p", 0), ("q", 100))]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read().decode()[-2000:]
    ds = load_lerobot_dataset(root)
    assert sorted(e.key for e in ds.episodes) == [f"{n}/{i}" for n in "pq" for i in range(3)]
    assert [e.index for e in ds.episodes] == list(range(6))
    starts = np.cumsum([0] + [e.length for e in ds.episodes])
    for e, s in zip(ds.episodes, starts, strict=False):
        name, i = e.key.split("/")
        want = episode(e.key, 6 + int(i), (0 if name == "p" else 100) + int(i))
        assert np.array_equal(e.action, want.action)
        assert np.array_equal(e.data["index"], np.arange(s, s + e.length))
    assert json.loads((root / "meta/info.json").read_text())["total_frames"] == starts[-1]


def test_reopening_checks_settings(tmp_path):
    write(tmp_path / "ds", [episode("m/0")])
    with pytest.raises(ValueError, match="has fps 15, not 30"):
        LeRobotWriter(tmp_path / "ds", fps=30)
    e = episode("m/1")
    e.action = e.action[:, :5]
    with pytest.raises(ValueError, match="does not match the dataset's features: action"):
        write(tmp_path / "ds", [e])
    e = episode("m/2")
    del e.frames["wrist"], e.cameras["wrist"], e.camera_poses["wrist"]
    with pytest.raises(ValueError, match="lacks the dataset's features: observation.images.wr"):
        write(tmp_path / "ds", [e])
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        LeRobotWriter(tmp_path / "file")
    with pytest.raises(FileNotFoundError, match="no meta/info.json"):
        load_lerobot_dataset(tmp_path / "nothing")


# ---------------------------------------------------------------------- previews, HDF5
def test_previews_are_written(tmp_path):
    from PIL import Image

    e = episode("p/0", T=20)
    write(tmp_path / "ds", [e], previews=True)
    mp4 = tmp_path / "ds" / "previews" / "episode_000000.mp4"
    frames = decode_mp4(mp4)
    # Two cameras side by side, 240 px high, plus an 18 px caption bar.
    assert frames.shape == (20, 258, 2 * 320, 3)
    bar = frames[:, 240:].astype(int)
    assert (bar > 128).any(axis=(1, 2, 3)).all()  # a caption on every frame
    assert not np.array_equal(bar[0], bar[-1])  # ... that changes with the step
    tiles = frames[:, :240].astype(np.float64)
    assert tiles[:, 40:, 100:300].mean() > 60  # the photo, not a black frame
    sheet = Image.open(tmp_path / "ds" / "previews" / "episode_000000.png")
    assert sheet.size == (2 * 160, 8 * (120 + 18))
    write(tmp_path / "nopreview", [episode("p/0", T=5)], previews=False)
    assert not (tmp_path / "nopreview" / "previews").exists()


def test_hdf5_export_in_robomimic_layout(tmp_path):
    import h5py

    from igen_gs.io import export_robomimic

    eps = [episode("h/0", 12, 0), episode("h/1", 9, 1), episode("h/2", 7, 2)]
    write(tmp_path / "ds", eps)
    out = export_robomimic(tmp_path / "ds", tmp_path / "demo.hdf5", valid_fraction=0.3, seed=1)
    with h5py.File(out, "r") as f:
        assert f["data"].attrs["total"] == 28
        env = json.loads(f["data"].attrs["env_args"])
        assert env["env_name"] == "igen-gs" and env["env_kwargs"]["fps"] == 15
        assert env["env_kwargs"]["tasks"] == ["stack the cups"]
        d1 = f["data/demo_1"]
        assert d1.attrs["num_samples"] == 9 and d1.attrs["task"] == "stack the cups"
        assert np.array_equal(d1["actions"][()], eps[1].action)
        assert np.array_equal(d1["obs/state"][()], eps[1].state)
        assert d1["dones"][()].tolist() == [0] * 8 + [1]
        assert d1["rewards"][()].tolist() == [0.0] * 8 + [1.0]
        assert d1["obs/photo_image"].dtype == np.uint8
        assert psnr(d1["obs/photo_image"][()], eps[1].frames["photo"]) > 35
        assert d1["obs/wrist_image"].shape == (9, 30, 40, 3)
        assert np.abs(d1["obs/photo_depth"][()] - eps[1].depth["photo"]).max() < 6e-4
        assert np.array_equal(d1["obs/photo_labels"][()], eps[1].labels["photo"])
        train = [n.decode() for n in f["mask/train"][()]]
        valid = [n.decode() for n in f["mask/valid"][()]]
        assert len(valid) == 1 and sorted(train + valid) == ["demo_0", "demo_1", "demo_2"]


# ---------------------------------------------------------------------- bad inputs
def _set(attr, value_fn):
    return lambda e: setattr(e, attr, value_fn(e))


@pytest.mark.parametrize("mutate,message", [
    (_set("action", lambda e: e.action[:-1]), "action has 23 frames but state has 24"),
    (lambda e: e.frames.__setitem__("wrist", e.frames["wrist"][:-2]),
     "camera 'wrist' has 22 frames but state has 24"),
    (lambda e: e.depth.__setitem__("photo", e.depth["photo"][:, :-1]),
     "depth of camera 'photo' must match its frames"),
    (_set("state", lambda e: e.state[:0]), "the episode is empty"),
    (_set("action", lambda e: e.action[:0]), "action has 0 frames"),
    (lambda e: e.frames.__setitem__("photo", e.frames["photo"].astype(np.float32)),
     "frames of camera 'photo' must be uint8"),
    (_set("state", lambda e: e.state.astype(np.int32)), "state must be a float array"),
    (_set("action", lambda e: e.action[:, 0]), "action must be \\[T, dim\\]"),
    (lambda e: e.labels.__setitem__("photo", e.labels["photo"].astype(np.float32)),
     "labels of camera 'photo' has dtype float32"),
    (_set("task", lambda e: ""), "task must be a non-empty string"),
    (_set("key", lambda e: ""), "key must be a non-empty string"),
    (lambda e: e.state.__setitem__((0, 0), np.nan), "state contains NaN"),
    (_set("frames", lambda e: {}), "needs at least one camera"),
    (lambda e: e.frames.__setitem__("cam.1", e.frames["photo"]), "camera name 'cam.1'"),
    (lambda e: e.cameras.__setitem__("photo", CameraInfo(10, 48, np.eye(3))),
     "camera 'photo' is 10x48 but its frames are 64x48"),
    (lambda e: e.cameras.__setitem__("photo", CameraInfo(64, 48, np.eye(2))),
     "K must be a finite \\[3, 3\\]"),
    (lambda e: e.camera_poses.__setitem__("wrist", np.eye(4)), "camera_poses of 'wrist'"),
    (_set("object_poses", lambda e: {"cup": np.eye(4)}), "object_poses of 'cup' must be"),
    (_set("object_poses", lambda e: {"cup": np.full((24, 4, 4), np.nan)}),
     "object_poses of 'cup' must be finite"),
    (_set("captions", lambda e: ["x"]), "captions has 1 entries for 24 frames"),
    (lambda e: e.extras.__setitem__("f", object()), "extras must be JSON-serialisable"),
    (lambda e: e.extras.__setitem__("files", {}), "reserved keys"),
])
def test_bad_episodes_are_rejected(tmp_path, mutate, message):
    e = episode("b/0")
    mutate(e)
    with pytest.raises(ValueError, match=message):
        LeRobotWriter(tmp_path / "ds", fps=15, previews=False).add_episode(e)
    assert not (tmp_path / "ds" / "meta").exists()  # nothing was written


@pytest.mark.parametrize("kwargs,message", [
    ({"fps": 12.5}, "fps must be a positive integer"),
    ({"fps": 0}, "fps must be a positive integer"),
    ({"codec": "mjpeg"}, "unknown video codec 'mjpeg'"),
    ({"preset": "warp"}, "unknown x264 preset 'warp'"),
    ({"extra_info": {"x": object()}}, "extra_info must be JSON-serialisable"),
    ({"state_names": ["a", "b"]}, "2 names given for observation.state"),
])
def test_bad_writer_settings(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        LeRobotWriter(tmp_path / "ds", WriterConfig(**kwargs)).add_episode(episode("x"))


# ---------------------------------------------------------------------- the real lerobot
def _lerobot_python() -> str | None:
    p = os.environ.get("IGEN_LEROBOT_PYTHON")
    return p if p and Path(p).is_file() else None


needs_lerobot = pytest.mark.skipif(
    _lerobot_python() is None,
    reason="IGEN_LEROBOT_PYTHON is not set to a python with lerobot 0.4.x installed (a "
           "separate venv, which .ci/run prepares; lerobot pins another torch)")


def _lerobot_check(root: Path, expect: Path | None, *extra: str) -> dict:
    cmd = [_lerobot_python(), str(REPO / "eval" / "check_lerobot_load.py"), *extra]
    if root is not None:
        cmd += ["--root", str(root)]
    if expect is not None:
        cmd += ["--expect", str(expect)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    lines = r.stdout.strip().splitlines()
    assert lines, f"no report from the lerobot check: {r.stderr[-3000:]}"
    report = json.loads(lines[-1])
    assert (r.returncode == 0) == report["ok"], r.stderr[-3000:]
    return report


def _save_expect(path: Path, eps: list[EpisodeData]) -> Path:
    arrays = {}
    for i, e in enumerate(eps):
        arrays[f"state_{i}"], arrays[f"action_{i}"] = e.state, e.action
        arrays[f"task_{i}"] = np.array(e.task)
        for cam, fr in e.frames.items():
            arrays[f"frames_{i}_{cam}"] = fr
    np.savez(path, **arrays)
    return path


@needs_lerobot
@pytest.mark.parametrize("codec", ["h264", "av1"])
def test_real_lerobot_loads_our_dataset(tmp_path, codec):
    eps = [episode(f"l/{i}", T, i, task=task, wrist_size=(31, 41))  # odd: stored padded
           for i, (T, task) in enumerate([(16, "stack the cups"), (11, "pour"),
                                          (9, "stack the cups")])]
    write(tmp_path / "ds", eps, codec=codec)
    report = _lerobot_check(tmp_path / "ds", _save_expect(tmp_path / "expect.npz", eps),
                            "--min-psnr", "33")
    assert report["ok"], report
    assert report["lerobot_dataset_len"] == 36 and report["num_episodes"] == 3
    assert report["episode_lengths"] == [16, 11, 9]
    assert report["max_state_action_abs_error"] == 0.0 and report["worst_frame_psnr_db"] > 33
    assert report["tasks"] == ["stack the cups", "pour"]
    assert report["camera_keys"] == ["observation.images.photo", "observation.images.wrist"]


@needs_lerobot
def test_our_reader_reads_a_dataset_lerobot_wrote(tmp_path):
    """lerobot's own writer concatenates episodes into shared data/video files."""
    eps = [episode("r/0", 14, 0), episode("r/1", 10, 1, task="pour"), episode("r/2", 12, 2)]
    expect = _save_expect(tmp_path / "expect.npz", eps)
    report = _lerobot_check(None, expect, "--make-reference", str(tmp_path / "ref"))
    assert report["ok"]
    assert "videos/observation.images.photo/chunk-000/file-000.mp4" in report["files"]
    assert "videos/observation.images.photo/chunk-000/file-001.mp4" not in report["files"]
    ds = load_lerobot_dataset(tmp_path / "ref")
    assert ds.tasks == ["stack the cups", "pour"] and [e.length for e in ds.episodes] == [14, 10,
                                                                                           12]
    for e, got in zip(eps, ds.episodes, strict=True):
        assert got.task == e.task and got.key == str(got.index)
        assert np.array_equal(got.state, e.state) and np.array_equal(got.action, e.action)
        assert got.videos["photo"][0].name == "file-000.mp4"  # one file, several episodes
        for cam in ("photo", "wrist"):
            assert psnr(got.frames(cam), e.frames[cam]) > 30
    assert ds.episodes[1].videos["photo"][1] == pytest.approx(14 / 15, abs=1e-3)

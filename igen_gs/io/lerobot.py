"""LeRobot v3.0 datasets, written with pyarrow and PyAV (no lerobot dependency), loadable by
``lerobot.datasets.lerobot_dataset.LeRobotDataset`` as they are.

Layout (v3.0)::

    meta/info.json            codebase_version "v3.0", fps, features, path templates, totals
    meta/tasks.parquet        task strings (index) -> task_index
    meta/stats.json           per-feature statistics (igen_gs.io.stats)
    meta/episodes/chunk-CCC/file-FFF.parquet   one row per episode
    data/chunk-CCC/file-FFF.parquet            frames: observation.state, action, timestamp,
                                               frame_index, episode_index, index, task_index
    videos/observation.images.<camera>/chunk-CCC/file-FFF.mp4   H.264, yuv420p
    extras/episode-NNNNNN/    optional depth (uint16 millimetres) and instance labels (.npz)

Every episode gets its own data, video and episode-metadata files (file index = episode index
modulo 1000, chunk = episode index // 1000), as LeRobot allows: writing an episode never
touches the files of earlier ones. An episode is committed by the atomic rename of its
metadata file, then ``info.json``/``stats.json`` are replaced atomically (with Ctrl-C held
off for those few milliseconds); a crash leaves at worst unreferenced files of the
unfinished episode, which reopening the dataset removes. Each episode carries a key
(``igen_gs/key``) so a rerun skips what is already written.

Camera intrinsics and extrinsics: per episode in ``igen_gs/cameras`` (JSON: K, and
T_world_cam for static cameras or T_ee_cam for the wrist camera) and, for the first episode,
in ``info.json["igen_gs"]["cameras"]``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import stats as fstats
from .video import decode_mp4, encode_mp4, video_info

log = logging.getLogger(__name__)

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
IMAGE_PREFIX = "observation.images."
DEFAULT_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}


@dataclass
class CameraInfo:
    """A camera of an episode: intrinsics K [3, 3] (pixels) and either a fixed pose
    ``T_world_cam`` [4, 4] or, for a camera on the gripper, ``T_ee_cam`` [4, 4] (metres)."""

    width: int
    height: int
    K: np.ndarray
    T_world_cam: np.ndarray | None = None
    T_ee_cam: np.ndarray | None = None

    def to_dict(self) -> dict:
        d = {"width": int(self.width), "height": int(self.height),
             "K": np.asarray(self.K, dtype=float).tolist()}
        if self.T_world_cam is not None:
            d["T_world_cam"] = np.asarray(self.T_world_cam, dtype=float).tolist()
        if self.T_ee_cam is not None:
            d["T_ee_cam"] = np.asarray(self.T_ee_cam, dtype=float).tolist()
        return d


@dataclass
class EpisodeData:
    """One episode to write. T frames; cameras are keyed by name (the video key is
    ``observation.images.<name>``)."""

    key: str
    task: str
    frames: dict[str, np.ndarray]  # uint8 [T, H, W, 3]
    state: np.ndarray  # float32 [T, S]
    action: np.ndarray  # float32 [T, A]
    cameras: dict[str, CameraInfo] = field(default_factory=dict)
    depth: dict[str, np.ndarray] | None = None  # float32 [T, H, W] metres
    labels: dict[str, np.ndarray] | None = None  # int16 [T, H, W]
    label_names: list[str] | None = None
    captions: list[str] | None = None  # per frame, for previews
    extras: dict[str, Any] = field(default_factory=dict)  # JSON-serialisable

    def validate(self) -> int:
        if not self.key or not isinstance(self.key, str):
            raise ValueError("episode key must be a non-empty string")
        if not self.task or not isinstance(self.task, str):
            raise ValueError("episode task must be a non-empty string")
        if not self.frames:
            raise ValueError("an episode needs at least one camera")
        state = np.asarray(self.state)
        action = np.asarray(self.action)
        if state.ndim != 2 or action.ndim != 2:
            raise ValueError(f"state and action must be [T, dim], got {state.shape} and "
                             f"{action.shape}")
        T = state.shape[0]
        if T == 0:
            raise ValueError("the episode is empty (no frames)")
        if action.shape[0] != T:
            raise ValueError(f"action has {action.shape[0]} frames but state has {T}")
        if not (np.isfinite(state).all() and np.isfinite(action).all()):
            raise ValueError("state or action contains NaN or infinite values")
        for name, f in self.frames.items():
            f = np.asarray(f)
            if f.dtype != np.uint8 or f.ndim != 4 or f.shape[-1] != 3:
                raise ValueError(f"frames of camera {name!r} must be uint8 [T, H, W, 3], got "
                                 f"{f.dtype} {f.shape}")
            if f.shape[0] != T:
                raise ValueError(f"camera {name!r} has {f.shape[0]} frames but state has {T}")
        for kind, maps in (("depth", self.depth), ("labels", self.labels)):
            for name, m in (maps or {}).items():
                if name not in self.frames or np.asarray(m).shape != self.frames[name].shape[:3]:
                    raise ValueError(f"{kind} of camera {name!r} must match its frames "
                                     f"[T, H, W]")
        if self.captions is not None and len(self.captions) != T:
            raise ValueError(f"captions has {len(self.captions)} entries for {T} frames")
        return T


@contextlib.contextmanager
def _no_interrupt() -> Iterator[None]:
    """Defer Ctrl-C (SIGINT) during a commit so that it is never half done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _chunk_file(episode_index: int) -> dict[str, int]:
    return {"chunk_index": episode_index // CHUNKS_SIZE, "file_index": episode_index % CHUNKS_SIZE}


def _fixed_list(values: np.ndarray, dtype):
    import pyarrow as pa

    v = np.ascontiguousarray(values, dtype=dtype)
    return pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), v.shape[1])


class LeRobotWriter:
    """Writes (or resumes) a LeRobot v3.0 dataset at ``root``.

    Args:
        root: dataset directory.
        fps: frame rate (LeRobot needs an integer).
        robot_type: free text ("franka").
        state_names / action_names: names of the state and action dimensions.
        previews: write ``<previews_dir>/episode_NNNNNN.mp4`` and ``.png`` per episode.
        previews_dir: default ``<root>/previews``.
        crf: H.264 quality of the observation videos (lower = better).
        extra_info: JSON-serialisable metadata for ``info.json["igen_gs"]``.
    """

    def __init__(self, root, fps: int = 15, robot_type: str = "franka",
                 state_names: list[str] | None = None, action_names: list[str] | None = None,
                 previews: bool = True, previews_dir=None, crf: int = 18,
                 extra_info: dict | None = None):
        if int(fps) != fps or fps <= 0:
            raise ValueError(f"fps must be a positive integer for LeRobot, got {fps}")
        self.root = Path(root)
        self.fps = int(fps)
        self.robot_type = robot_type
        self.state_names = state_names
        self.action_names = action_names
        self.previews = previews
        self.previews_dir = Path(previews_dir) if previews_dir else self.root / "previews"
        self.crf = crf
        self.extra_info = extra_info or {}
        self.info: dict | None = None
        self.episodes: list[dict] = []
        self.tasks: list[str] = []
        self.episode_stats: list[dict] = []
        if (self.root / "meta" / "info.json").is_file():
            self._open_existing()

    # ------------------------------------------------------------------ reopening
    def _open_existing(self) -> None:
        import pyarrow.parquet as pq

        try:
            info = json.loads((self.root / "meta" / "info.json").read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"corrupt {self.root / 'meta' / 'info.json'}: {e}") from None
        if info.get("codebase_version") != CODEBASE_VERSION:
            raise ValueError(f"{self.root} is a LeRobot {info.get('codebase_version')} dataset; "
                             f"this writer appends to {CODEBASE_VERSION} only")
        if int(info["fps"]) != self.fps:
            raise ValueError(f"{self.root} has fps {info['fps']}, not {self.fps}")
        self.info = info
        rows = []
        for p in sorted((self.root / "meta" / "episodes").glob("chunk-*/file-*.parquet")):
            rows += pq.read_table(p).to_pylist()
        rows.sort(key=lambda r: r["episode_index"])
        if [r["episode_index"] for r in rows] != list(range(len(rows))):
            raise ValueError(f"{self.root}: episode metadata is not contiguous; cannot resume")
        self.episodes = rows
        tasks_path = self.root / "meta" / "tasks.parquet"
        if tasks_path.is_file():
            import pandas as pd

            t = pd.read_parquet(tasks_path).sort_values("task_index")
            self.tasks = list(t.index)
        self.episode_stats = [self._stats_from_row(r) for r in rows]
        self._remove_orphans()
        if info.get("total_episodes") != len(rows):
            log.warning("repairing %s: info.json listed %s episodes, %d are committed",
                        self.root, info.get("total_episodes"), len(rows))
            self._write_info_and_stats()

    @staticmethod
    def _stats_from_row(row: dict) -> dict:
        out: dict[str, dict] = {}
        for k, v in row.items():
            if k.startswith("stats/"):
                _, feat, stat = k.split("/", 2)
                out.setdefault(feat, {})[stat] = np.asarray(v)
        return out

    def _remove_orphans(self) -> None:
        """Delete files of an episode that was being written when the process died."""
        n = len(self.episodes)
        for pattern in ("data/chunk-*/file-*.parquet", "videos/*/chunk-*/file-*.mp4",
                        "meta/episodes/chunk-*/file-*.parquet"):
            for p in self.root.glob(pattern):
                chunk = int(p.parent.name.split("-")[1])
                idx = chunk * CHUNKS_SIZE + int(p.stem.split("-")[1])
                if idx >= n:
                    log.warning("removing %s of an unfinished episode", p)
                    p.unlink()
        for p in (self.root / "extras").glob("episode-*"):
            if int(p.name.split("-")[1]) >= n:
                shutil.rmtree(p, ignore_errors=True)
        for p in self.root.rglob(".*.tmp*"):
            p.unlink(missing_ok=True)

    # ------------------------------------------------------------------ queries
    @property
    def num_episodes(self) -> int:
        return len(self.episodes)

    @property
    def total_frames(self) -> int:
        return int(self.episodes[-1]["dataset_to_index"]) if self.episodes else 0

    def has_episode(self, key: str) -> bool:
        return any(r.get("igen_gs/key") == key for r in self.episodes)

    # ------------------------------------------------------------------ writing
    def _features_for(self, ep: EpisodeData) -> dict:
        feats: dict[str, Any] = {}
        for name, f in ep.frames.items():
            H, W = f.shape[1:3]
            feats[IMAGE_PREFIX + name] = {"dtype": "video", "shape": [int(H), int(W), 3],
                                          "names": ["height", "width", "channels"]}
        S, A = np.asarray(ep.state).shape[1], np.asarray(ep.action).shape[1]
        feats["observation.state"] = {"dtype": "float32", "shape": [int(S)],
                                      "names": self.state_names or [f"s{i}" for i in range(S)]}
        feats["action"] = {"dtype": "float32", "shape": [int(A)],
                           "names": self.action_names or [f"a{i}" for i in range(A)]}
        feats.update(DEFAULT_FEATURES)
        return feats

    def _check_features(self, ep: EpisodeData) -> None:
        want = self._features_for(ep)
        have = self.info["features"]
        for k, v in want.items():
            if k not in have or list(have[k]["shape"]) != v["shape"]:
                raise ValueError(f"episode {ep.key!r} does not match the dataset's features: "
                                 f"{k} is {v['shape']}, the dataset has "
                                 f"{have.get(k, {}).get('shape', 'no such feature')}")
        extra = set(have) - set(want)
        if extra:
            raise ValueError(f"episode {ep.key!r} lacks the dataset's features: "
                             f"{', '.join(sorted(extra))}")

    def add_episode(self, ep: EpisodeData) -> int:
        """Write one episode; returns its index. Raises ValueError for bad input and when
        the key is already in the dataset."""
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        T = ep.validate()
        if self.has_episode(ep.key):
            raise ValueError(f"episode {ep.key!r} is already in {self.root}")
        if self.info is None:
            self.info = {
                "codebase_version": CODEBASE_VERSION, "robot_type": self.robot_type,
                "total_episodes": 0, "total_frames": 0, "total_tasks": 0,
                "chunks_size": CHUNKS_SIZE, "data_files_size_in_mb": 100,
                "video_files_size_in_mb": 200, "fps": self.fps, "splits": {},
                "data_path": DATA_PATH, "video_path": VIDEO_PATH,
                "features": self._features_for(ep),
                "igen_gs": {"version": 1, **self.extra_info,
                            "cameras": {n: c.to_dict() for n, c in ep.cameras.items()}},
            }
        else:
            self._check_features(ep)
        idx = len(self.episodes)
        cf = _chunk_file(idx)
        start = self.total_frames
        if ep.task not in self.tasks:
            self.tasks.append(ep.task)
            df = pd.DataFrame({"task_index": np.arange(len(self.tasks), dtype=np.int64)},
                              index=pd.Index(self.tasks, name="task"))
            tmp = self.root / "meta" / ".tasks.parquet.tmp"
            tmp.parent.mkdir(parents=True, exist_ok=True)
            df.to_parquet(tmp)
            os.replace(tmp, self.root / "meta" / "tasks.parquet")
        task_index = self.tasks.index(ep.task)

        # Frames table.
        state = np.asarray(ep.state, dtype=np.float32)
        action = np.asarray(ep.action, dtype=np.float32)
        table = pa.table({
            "observation.state": _fixed_list(state, np.float32),
            "action": _fixed_list(action, np.float32),
            "timestamp": pa.array((np.arange(T) / self.fps).astype(np.float32)),
            "frame_index": pa.array(np.arange(T, dtype=np.int64)),
            "episode_index": pa.array(np.full(T, idx, dtype=np.int64)),
            "index": pa.array(np.arange(start, start + T, dtype=np.int64)),
            "task_index": pa.array(np.full(T, task_index, dtype=np.int64)),
        })
        data_path = self.root / DATA_PATH.format(**cf)
        data_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = data_path.with_name(f".{data_path.name}.tmp")
        pq.write_table(table, tmp, compression="snappy")
        os.replace(tmp, data_path)

        # Videos.
        row: dict[str, Any] = {"episode_index": idx, "tasks": [ep.task], "length": T,
                               "data/chunk_index": cf["chunk_index"],
                               "data/file_index": cf["file_index"],
                               "dataset_from_index": start, "dataset_to_index": start + T}
        ep_stats = {"observation.state": fstats.feature_stats(state),
                    "action": fstats.feature_stats(action),
                    "timestamp": fstats.feature_stats(np.arange(T) / self.fps),
                    "frame_index": fstats.feature_stats(np.arange(T)),
                    "episode_index": fstats.feature_stats(np.full(T, idx)),
                    "index": fstats.feature_stats(np.arange(start, start + T)),
                    "task_index": fstats.feature_stats(np.full(T, task_index))}
        for name, frames in ep.frames.items():
            key = IMAGE_PREFIX + name
            vpath = self.root / VIDEO_PATH.format(video_key=key, **cf)
            encode_mp4(vpath, np.asarray(frames), self.fps, crf=self.crf)
            if "info" not in self.info["features"][key]:
                self.info["features"][key]["info"] = video_info(vpath)
            row.update({f"videos/{key}/chunk_index": cf["chunk_index"],
                        f"videos/{key}/file_index": cf["file_index"],
                        f"videos/{key}/from_timestamp": 0.0,
                        f"videos/{key}/to_timestamp": T / self.fps})
            ep_stats[key] = fstats.image_stats(np.asarray(frames))

        # Optional depth and labels.
        extras_dir = self.root / "extras" / f"episode-{idx:06d}"
        extra_files = {}
        for name, d in (ep.depth or {}).items():
            mm = np.clip(np.round(np.nan_to_num(np.asarray(d)) * 1000.0), 0, 65535)
            p = extras_dir / f"depth_{name}.npz"
            p.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(p, depth_mm=mm.astype(np.uint16))
            extra_files[f"depth/{name}"] = str(p.relative_to(self.root))
        for name, m in (ep.labels or {}).items():
            p = extras_dir / f"labels_{name}.npz"
            p.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(p, labels=np.asarray(m).astype(np.int16))
            extra_files[f"labels/{name}"] = str(p.relative_to(self.root))

        row.update({"meta/episodes/chunk_index": cf["chunk_index"],
                    "meta/episodes/file_index": cf["file_index"]})
        for feat, st in ep_stats.items():
            for k, v in st.items():
                row[f"stats/{feat}/{k}"] = np.asarray(v).tolist()
        row["igen_gs/key"] = ep.key
        row["igen_gs/cameras"] = json.dumps({n: c.to_dict() for n, c in ep.cameras.items()})
        row["igen_gs/extras"] = json.dumps({"files": extra_files,
                                            "label_names": ep.label_names, **ep.extras})

        if self.previews:
            from .previews import write_contact_sheet, write_preview

            base = self.previews_dir / f"episode_{idx:06d}"
            write_preview(base.with_suffix(".mp4"), ep.frames, self.fps, ep.captions)
            write_contact_sheet(base.with_suffix(".png"), ep.frames, captions=ep.captions)

        # Commit: the episode's metadata file, then info and stats.
        ep_table = pa.Table.from_pylist([row])
        epath = self.root / EPISODES_PATH.format(**cf)
        epath.parent.mkdir(parents=True, exist_ok=True)
        tmp = epath.with_name(f".{epath.name}.tmp")
        pq.write_table(ep_table, tmp)
        with _no_interrupt():
            os.replace(tmp, epath)
            self.episodes.append(row)
            self.episode_stats.append(ep_stats)
            self._write_info_and_stats()
        return idx

    def _write_info_and_stats(self) -> None:
        n = len(self.episodes)
        self.info["total_episodes"] = n
        self.info["total_frames"] = self.total_frames
        self.info["total_tasks"] = len(self.tasks)
        self.info["splits"] = {"train": f"0:{n}"} if n else {}
        _atomic_write(self.root / "meta" / "info.json",
                      json.dumps(self.info, indent=4).encode())
        if self.episode_stats:
            agg = fstats.aggregate(self.episode_stats)
            _atomic_write(self.root / "meta" / "stats.json",
                          json.dumps(fstats.to_json(agg), indent=2).encode())


# ---------------------------------------------------------------------- reading
@dataclass
class LoadedEpisode:
    index: int
    key: str
    task: str
    length: int
    state: np.ndarray
    action: np.ndarray
    timestamps: np.ndarray
    video_paths: dict[str, Path]
    cameras: dict[str, dict]
    extras: dict

    def frames(self, camera: str) -> np.ndarray:
        """Decoded uint8 frames [T, H, W, 3] of one camera."""
        return decode_mp4(self.video_paths[camera])

    def depth(self, camera: str, root: Path) -> np.ndarray:
        rel = self.extras["files"].get(f"depth/{camera}")
        if rel is None:
            raise ValueError(f"episode {self.index} has no depth for camera {camera!r}")
        return np.load(root / rel)["depth_mm"].astype(np.float32) / 1000.0


@dataclass
class LoadedDataset:
    root: Path
    info: dict
    tasks: list[str]
    episodes: list[LoadedEpisode]
    stats: dict

    @property
    def camera_names(self) -> list[str]:
        return [k[len(IMAGE_PREFIX):] for k, v in self.info["features"].items()
                if v["dtype"] == "video"]


def load_lerobot_dataset(root) -> LoadedDataset:
    """Read a LeRobot v3.0 dataset (ours or lerobot's one-file-per-episode or concatenated
    files) with pyarrow; videos are decoded on demand."""
    import pandas as pd
    import pyarrow.parquet as pq

    root = Path(root)
    info_path = root / "meta" / "info.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"not a LeRobot dataset (no meta/info.json): {root}")
    info = json.loads(info_path.read_text())
    if info.get("codebase_version") != CODEBASE_VERSION:
        raise ValueError(f"{root} is LeRobot {info.get('codebase_version')}, "
                         f"not {CODEBASE_VERSION}")
    tasks = list(pd.read_parquet(root / "meta" / "tasks.parquet").sort_values("task_index").index)
    rows = []
    for p in sorted((root / "meta" / "episodes").glob("chunk-*/file-*.parquet")):
        rows += pq.read_table(p).to_pylist()
    rows.sort(key=lambda r: r["episode_index"])
    data_cache: dict[Path, Any] = {}
    video_keys = [k for k, v in info["features"].items() if v["dtype"] == "video"]
    episodes = []
    for r in rows:
        dpath = root / info["data_path"].format(chunk_index=r["data/chunk_index"],
                                                file_index=r["data/file_index"])
        if dpath not in data_cache:
            data_cache[dpath] = pq.read_table(dpath)
        tab = data_cache[dpath]
        ep_mask = np.asarray(tab["episode_index"]) == r["episode_index"]
        state = np.stack(np.asarray(tab["observation.state"].to_pylist(), dtype=object)[ep_mask]
                         ).astype(np.float32)
        action = np.stack(np.asarray(tab["action"].to_pylist(), dtype=object)[ep_mask]
                          ).astype(np.float32)
        vids = {k[len(IMAGE_PREFIX):]: root / info["video_path"].format(
            video_key=k, chunk_index=r[f"videos/{k}/chunk_index"],
            file_index=r[f"videos/{k}/file_index"]) for k in video_keys}
        episodes.append(LoadedEpisode(
            index=r["episode_index"], key=r.get("igen_gs/key", str(r["episode_index"])),
            task=r["tasks"][0], length=r["length"], state=state, action=action,
            timestamps=np.asarray(tab["timestamp"])[ep_mask], video_paths=vids,
            cameras=json.loads(r.get("igen_gs/cameras") or "{}"),
            extras=json.loads(r.get("igen_gs/extras") or "{}")))
    st_path = root / "meta" / "stats.json"
    st = fstats.from_json(json.loads(st_path.read_text())) if st_path.is_file() else {}
    return LoadedDataset(root, info, tasks, episodes, st)

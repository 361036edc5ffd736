"""Reading LeRobot v3.0 datasets (ours, and LeRobot's multi-episode files) with pyarrow;
videos decoded on demand."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import stats as fstats
from .schema import (
    CODEBASE_VERSION,
    IMAGE_PREFIX,
    CameraInfo,
)
from .video import decode_mp4


# ---------------------------------------------------------------------- reading
@dataclass
class LoadedEpisode:
    """One episode of a dataset read by :func:`load_lerobot_dataset`.

    ``data`` holds every non-video feature ([T] or [T, d] arrays: ``observation.state``,
    ``action``, ``timestamp``, ``frame_index``, ...); videos are decoded on demand."""

    root: Path
    index: int
    key: str
    task: str
    length: int
    data: dict[str, np.ndarray]
    videos: dict[str, tuple[Path, float, float]]
    """camera -> (mp4 file, from_timestamp, to_timestamp) in seconds."""
    cameras: dict[str, CameraInfo]
    extras: dict

    @property
    def state(self) -> np.ndarray:
        return self.data["observation.state"]

    @property
    def action(self) -> np.ndarray:
        return self.data["action"]

    @property
    def timestamps(self) -> np.ndarray:
        return self.data["timestamp"]

    def frames(self, camera: str) -> np.ndarray:
        """Decoded uint8 frames [T, H, W, 3] of one camera (H, W as stored: even sizes)."""
        if camera not in self.videos:
            raise ValueError(f"episode {self.index} has no camera {camera!r}; it has "
                             f"{sorted(self.videos)}")
        path, t0, t1 = self.videos[camera]
        out = decode_mp4(path, t0, t1)
        if out.shape[0] != self.length:
            raise ValueError(f"{path}: decoded {out.shape[0]} frames in [{t0}, {t1}) s, the "
                             f"episode has {self.length}")
        return out

    def _extra(self, kind: str, camera: str) -> Path:
        rel = self.extras.get("files", {}).get(f"{kind}/{camera}")
        if rel is None:
            raise ValueError(f"episode {self.index} has no {kind} for camera {camera!r}")
        return self.root / rel

    def depth(self, camera: str) -> np.ndarray:
        """Metric depth float32 [T, H, W] in metres (0 = none), at millimetre resolution."""
        with np.load(self._extra("depth", camera)) as z:
            return z["depth_mm"].astype(np.float32) / 1000.0

    def labels(self, camera: str) -> np.ndarray:
        """Instance labels int16 [T, H, W] (-1 background; ids index extras['label_names'])."""
        with np.load(self._extra("labels", camera)) as z:
            return z["labels"]

    def camera_poses(self, camera: str) -> np.ndarray:
        """T_world_cam per frame [T, 4, 4]: stored poses, or a static camera's pose repeated."""
        if f"camera_poses/{camera}" in self.extras.get("files", {}):
            with np.load(self._extra("camera_poses", camera)) as z:
                return z[camera]
        cam = self.cameras.get(camera)
        if cam is None or cam.T_world_cam is None:
            raise ValueError(f"episode {self.index}: camera {camera!r} has no stored per-frame "
                             f"poses and no fixed T_world_cam")
        return np.repeat(np.asarray(cam.T_world_cam)[None], self.length, axis=0)

    def object_poses(self) -> dict[str, np.ndarray]:
        """Object name -> T_world_obj per frame [T, 4, 4] (empty when none were stored)."""
        files = self.extras.get("files", {})
        if "object_poses" not in files:
            return {}
        with np.load(self.root / files["object_poses"]) as z:
            return {n: z[n] for n in z.files}


@dataclass
class LoadedDataset:
    """A LeRobot v3.0 dataset in memory (all but the videos)."""

    root: Path
    info: dict
    tasks: list[str]
    episodes: list[LoadedEpisode]
    stats: dict

    @property
    def fps(self) -> int:
        return int(self.info["fps"])

    @property
    def camera_names(self) -> list[str]:
        return [k[len(IMAGE_PREFIX):] if k.startswith(IMAGE_PREFIX) else k
                for k, v in self.info["features"].items() if v["dtype"] == "video"]

    def episode(self, key: str) -> LoadedEpisode:
        for e in self.episodes:
            if e.key == key:
                return e
        raise ValueError(f"no episode with key {key!r} in {self.root}")


def _column_array(col) -> np.ndarray:
    """A pyarrow column (scalars, or fixed/variable lists of equal length) as [N] or [N, d]."""
    import pyarrow as pa

    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_fixed_size_list(arr.type) or pa.types.is_list(arr.type) \
            or pa.types.is_large_list(arr.type):
        n = len(arr)
        flat = np.asarray(arr.flatten())
        return flat.reshape(n, -1) if n else flat.reshape(0, 0)
    return np.asarray(arr)


def load_lerobot_dataset(root) -> LoadedDataset:
    """Read a LeRobot v3.0 dataset with pyarrow (videos decoded on demand with PyAV): ours, or
    one LeRobot wrote with several episodes per data/video file."""
    import pandas as pd
    import pyarrow.parquet as pq

    root = Path(root)
    info_path = root / "meta" / "info.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"not a LeRobot dataset (no meta/info.json): {root}")
    try:
        info = json.loads(info_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"corrupt {info_path}: {e}") from None
    if info.get("codebase_version") != CODEBASE_VERSION:
        raise ValueError(f"{root} is LeRobot {info.get('codebase_version')}, "
                         f"not {CODEBASE_VERSION}")
    tasks_path = root / "meta" / "tasks.parquet"
    tasks = (list(pd.read_parquet(tasks_path).sort_values("task_index").index)
             if tasks_path.is_file() else [])
    rows = []
    for p in sorted((root / "meta" / "episodes").glob("chunk-*/file-*.parquet")):
        names = pq.read_schema(p).names
        rows += pq.read_table(p, columns=[c for c in names if not c.startswith("stats/")]
                              ).to_pylist()
    rows.sort(key=lambda r: r["episode_index"])
    video_keys = [k for k, v in info["features"].items() if v["dtype"] == "video"]
    data_keys = [k for k, v in info["features"].items() if v["dtype"] not in
                 ("video", "image", "string")]
    tables: dict[Path, dict[str, np.ndarray]] = {}
    episodes = []
    for r in rows:
        dpath = root / info["data_path"].format(chunk_index=r["data/chunk_index"],
                                                file_index=r["data/file_index"])
        if dpath not in tables:
            if not dpath.is_file():
                raise FileNotFoundError(f"data file of episode {r['episode_index']} missing: "
                                        f"{dpath}")
            t = pq.read_table(dpath)
            tables[dpath] = {k: _column_array(t[k]) for k in data_keys if k in t.column_names}
        tab = tables[dpath]
        sel = tab["episode_index"] == r["episode_index"]
        data = {k: v[sel] for k, v in tab.items()}
        order = np.argsort(data["frame_index"], kind="stable")
        data = {k: v[order] for k, v in data.items()}
        for k in ("observation.state", "action"):
            if k in data and data[k].ndim == 2:
                data[k] = data[k].astype(np.float32, copy=False)
        if len(data["frame_index"]) != r["length"]:
            raise ValueError(f"{dpath}: episode {r['episode_index']} has "
                             f"{len(data['frame_index'])} rows, its metadata says {r['length']}")
        vids = {}
        for k in video_keys:
            path = root / info["video_path"].format(
                video_key=k, chunk_index=r[f"videos/{k}/chunk_index"],
                file_index=r[f"videos/{k}/file_index"])
            name = k[len(IMAGE_PREFIX):] if k.startswith(IMAGE_PREFIX) else k
            vids[name] = (path, float(r[f"videos/{k}/from_timestamp"]),
                          float(r[f"videos/{k}/to_timestamp"]))
        cams = json.loads(r.get("igen_gs/cameras") or "{}")
        episodes.append(LoadedEpisode(
            root=root, index=int(r["episode_index"]),
            key=r.get("igen_gs/key") or str(r["episode_index"]),
            task=r["tasks"][0] if r.get("tasks") else "", length=int(r["length"]),
            data=data, videos=vids, cameras={n: CameraInfo.from_dict(c) for n, c in cams.items()},
            extras=json.loads(r.get("igen_gs/extras") or "{}")))
    st_path = root / "meta" / "stats.json"
    st = fstats.from_json(json.loads(st_path.read_text())) if st_path.is_file() else {}
    return LoadedDataset(root, info, tasks, episodes, st)

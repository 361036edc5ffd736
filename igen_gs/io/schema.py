"""LeRobot v3.0 dataset schema of igen-gs: layout constants and path templates, the
inputs of the writer (:class:`EpisodeData`, :class:`CameraInfo`) with their validation,
the writer's options and error types. See :mod:`igen_gs.io.lerobot` for the layout."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
EXTRAS_PATH = "extras/episode-{episode_index:06d}"
IMAGE_PREFIX = "observation.images."
DEPTH_FORMAT = "npz 'depth_mm' uint16 millimetres [T, H, W], 0 = no depth"
DEFAULT_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
_RESERVED_EXTRAS = ("files", "label_names", "captions")


class DatasetBusyError(RuntimeError):
    """Another writer holds the dataset's lock."""


class EpisodeExistsError(ValueError):
    """An episode with this key is already committed (by this writer or another one)."""


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _dumps(obj) -> str:
    return json.dumps(obj, default=_json_default)


# ---------------------------------------------------------------------- inputs
@dataclass
class CameraInfo:
    """A camera of an episode: image size (pixels), intrinsics ``K`` [3, 3] (pixels, OpenCV)
    and its pose: ``T_world_cam`` [4, 4] for a static camera, or ``T_ee_cam`` [4, 4] for a
    camera rigidly mounted on the end effector (metres); both None for a camera that moves
    otherwise (give its per-frame poses in :attr:`EpisodeData.camera_poses`)."""

    width: int
    height: int
    K: np.ndarray
    T_world_cam: np.ndarray | None = None
    T_ee_cam: np.ndarray | None = None

    def validate(self, name: str) -> None:
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise ValueError(f"camera {name!r}: width and height must be positive, got "
                             f"{self.width}x{self.height}")
        K = np.asarray(self.K, dtype=float)
        if K.shape != (3, 3) or not np.isfinite(K).all():
            raise ValueError(f"camera {name!r}: K must be a finite [3, 3] matrix, got {K.shape}")
        for attr in ("T_world_cam", "T_ee_cam"):
            T = getattr(self, attr)
            if T is not None:
                T = np.asarray(T, dtype=float)
                if T.shape != (4, 4) or not np.isfinite(T).all():
                    raise ValueError(f"camera {name!r}: {attr} must be a finite [4, 4] matrix, "
                                     f"got {T.shape}")

    def to_dict(self) -> dict:
        d = {"width": int(self.width), "height": int(self.height),
             "K": np.asarray(self.K, dtype=float).tolist()}
        if self.T_world_cam is not None:
            d["T_world_cam"] = np.asarray(self.T_world_cam, dtype=float).tolist()
        if self.T_ee_cam is not None:
            d["T_ee_cam"] = np.asarray(self.T_ee_cam, dtype=float).tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CameraInfo:
        def arr(k):
            return None if d.get(k) is None else np.asarray(d[k], dtype=float)

        return cls(int(d["width"]), int(d["height"]), arr("K"), arr("T_world_cam"),
                   arr("T_ee_cam"))


@dataclass
class EpisodeData:
    """One episode to write: T frames from each camera (keyed by name; the LeRobot video key is
    ``observation.images.<name>``), with the robot state and action of every frame.

    Attributes:
        key: unique id of the episode (a job key; a rerun skips keys already written).
        task: the language instruction (LeRobot's task string).
        frames: camera -> uint8 [T, H, W, 3] RGB.
        state: float [T, S] (``observation.state``, stored as float32).
        action: float [T, A] (``action``, stored as float32).
        cameras: camera -> :class:`CameraInfo` (intrinsics/extrinsics, into the metadata).
        depth: optional camera -> float [T, H, W] metric depth, metres (0/NaN = none); stored
            as uint16 millimetres (so 0.5 mm resolution, at most 65.535 m).
        labels: optional camera -> integer [T, H, W] instance ids (-1 = background), int16.
        label_names: names of the label ids 0, 1, ... (e.g. objects, then the gripper).
        camera_poses: optional camera -> [T, 4, 4] per-frame T_world_cam (moving cameras).
        object_poses: optional object name -> [T, 4, 4] per-frame T_world_obj (known motion of
            rigid objects, e.g. for warp errors; names as in ``label_names``).
        captions: optional per-frame text for the previews (step name, gripper state).
        extras: JSON-serialisable metadata of the episode (plan, seed, variation, ...).
    """

    key: str
    task: str
    frames: dict[str, np.ndarray]
    state: np.ndarray
    action: np.ndarray
    cameras: dict[str, CameraInfo] = field(default_factory=dict)
    depth: dict[str, np.ndarray] | None = None
    labels: dict[str, np.ndarray] | None = None
    label_names: list[str] | None = None
    camera_poses: dict[str, np.ndarray] | None = None
    object_poses: dict[str, np.ndarray] | None = None
    captions: list[str] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> int:
        """Check shapes, dtypes and values; returns T. Raises ValueError naming the input."""
        if not isinstance(self.key, str) or not self.key:
            raise ValueError("episode key must be a non-empty string")
        if not isinstance(self.task, str) or not self.task.strip():
            raise ValueError(f"episode {self.key!r}: task must be a non-empty string")
        if not self.frames:
            raise ValueError(f"episode {self.key!r}: needs at least one camera in frames")
        arrays = {}
        for name in ("state", "action"):
            a = np.asarray(getattr(self, name))
            if a.ndim != 2 or a.shape[1] == 0:
                raise ValueError(f"episode {self.key!r}: {name} must be [T, dim] with dim > 0, "
                                 f"got shape {a.shape}")
            if not np.issubdtype(a.dtype, np.floating):
                raise ValueError(f"episode {self.key!r}: {name} must be a float array, got "
                                 f"{a.dtype}")
            if not np.isfinite(a).all():
                raise ValueError(f"episode {self.key!r}: {name} contains NaN or infinite values")
            arrays[name] = a
        T = arrays["state"].shape[0]
        if T == 0:
            raise ValueError(f"episode {self.key!r}: the episode is empty (no frames)")
        if arrays["action"].shape[0] != T:
            raise ValueError(f"episode {self.key!r}: action has {arrays['action'].shape[0]} "
                             f"frames but state has {T}")
        for name, f in self.frames.items():
            if not isinstance(name, str) or not name or any(c in name for c in "/\\. "):
                raise ValueError(f"episode {self.key!r}: camera name {name!r} must be a "
                                 f"non-empty string without '/', '.', '\\' or spaces")
            f = np.asarray(f)
            if f.dtype != np.uint8 or f.ndim != 4 or f.shape[-1] != 3:
                raise ValueError(f"episode {self.key!r}: frames of camera {name!r} must be "
                                 f"uint8 [T, H, W, 3], got {f.dtype} {f.shape}")
            if f.shape[0] != T:
                raise ValueError(f"episode {self.key!r}: camera {name!r} has {f.shape[0]} "
                                 f"frames but state has {T}")
        for name, cam in self.cameras.items():
            if name not in self.frames:
                raise ValueError(f"episode {self.key!r}: camera info for {name!r}, which has "
                                 f"no frames")
            cam.validate(name)
            H, W = np.asarray(self.frames[name]).shape[1:3]
            if (int(cam.height), int(cam.width)) != (H, W):
                raise ValueError(f"episode {self.key!r}: camera {name!r} is {cam.width}x"
                                 f"{cam.height} but its frames are {W}x{H}")
        for kind, maps, kind_ok in (("depth", self.depth, np.floating),
                                    ("labels", self.labels, np.integer)):
            for name, m in (maps or {}).items():
                m = np.asarray(m)
                if name not in self.frames or m.shape != np.asarray(self.frames[name]).shape[:3]:
                    raise ValueError(f"episode {self.key!r}: {kind} of camera {name!r} must "
                                     f"match its frames [T, H, W], got {m.shape}")
                if not np.issubdtype(m.dtype, kind_ok):
                    raise ValueError(f"episode {self.key!r}: {kind} of camera {name!r} has "
                                     f"dtype {m.dtype}")
        for name, P in (self.camera_poses or {}).items():
            P = np.asarray(P, dtype=float)
            if name not in self.frames or P.shape != (T, 4, 4) or not np.isfinite(P).all():
                raise ValueError(f"episode {self.key!r}: camera_poses of {name!r} must be "
                                 f"finite [T={T}, 4, 4] for a camera with frames, got {P.shape}")
        for name, P in (self.object_poses or {}).items():
            P = np.asarray(P, dtype=float)
            if not isinstance(name, str) or not name or P.shape != (T, 4, 4) or \
                    not np.isfinite(P).all():
                raise ValueError(f"episode {self.key!r}: object_poses of {name!r} must be "
                                 f"finite [T={T}, 4, 4], got {P.shape}")
        if self.captions is not None and len(self.captions) != T:
            raise ValueError(f"episode {self.key!r}: captions has {len(self.captions)} entries "
                             f"for {T} frames")
        clash = [k for k in _RESERVED_EXTRAS if k in self.extras]
        if clash:
            raise ValueError(f"episode {self.key!r}: extras may not use the reserved keys "
                             f"{clash}")
        try:
            _dumps(self.extras)
        except (TypeError, ValueError) as e:
            raise ValueError(f"episode {self.key!r}: extras must be JSON-serialisable: {e}"
                             ) from None
        return T


@dataclass
class WriterConfig:
    """Options of :class:`LeRobotWriter`."""

    fps: int = 15
    """Frames per second (LeRobot needs an integer)."""
    robot_type: str = "franka"
    codec: str = "h264"
    """Video codec of the observation videos: "h264" (libx264) or "av1" (libsvtav1)."""
    crf: int = 18
    """Codec quality (lower = better; 18 is visually lossless with h264)."""
    gop: int = 2
    """Keyframe interval in frames (short = fast random access, as LeRobot uses)."""
    preset: str = "veryfast"
    """x264 speed/size trade-off ("ultrafast" encodes ~3x faster, files ~1.5x larger)."""
    state_names: list[str] | None = None
    """Names of the state dimensions (default s0, s1, ...)."""
    action_names: list[str] | None = None
    """Names of the action dimensions (default a0, a1, ...)."""
    previews: bool = True
    """Write a preview MP4 and a PNG contact sheet per episode."""
    previews_dir: str | Path | None = None
    """Where previews go (default ``<root>/previews``)."""
    progress: bool = False
    """Show a progress bar per episode (stderr)."""
    workers: int = 0
    """Threads encoding an episode's videos and extras (0 = one per CPU core)."""
    extra_info: dict = field(default_factory=dict)
    """JSON-serialisable metadata for ``info.json["igen_gs"]``."""


def _chunk_file(episode_index: int) -> dict[str, int]:
    return {"chunk_index": episode_index // CHUNKS_SIZE, "file_index": episode_index % CHUNKS_SIZE}


def _file_index(p: Path) -> int:
    """Episode index a ``chunk-CCC/file-FFF`` path stands for in our layout."""
    return int(p.parent.name.split("-")[1]) * CHUNKS_SIZE + int(p.stem.split("-")[1])



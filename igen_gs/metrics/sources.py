"""Frame sources for ``igen eval``: what a path holds, read as clips of frames.

A path is one of

* a folder of images (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``), frames in sorted file-name
  order -> one clip, stream ``"images"``;
* an ``.mp4`` file (decoded with PyAV) -> one clip, stream ``"video"``;
* a LeRobot v3.0 dataset directory (``meta/info.json``; read with
  :func:`igen_gs.io.load_lerobot_dataset`) -> one clip per (camera, episode), stream = camera
  name, with the episode's depth and a static-pixel mask when the dataset stores them.

Dataset static masks: pixels whose label is -1 (nothing) or the label named ``background``,
for cameras with a fixed pose; objects and the gripper may move, so they never count.

Dataset motion (for warp errors): an episode written by igen (depth, label maps, the camera's
per-frame poses or fixed pose, and every object's per-frame pose ``T_world_obj``) says where
each pixel was in the previous frame: the background is static in the world, each object moves
rigidly with its pose; the gripper (its fingers open and close) is left out.

Frames are uint8 [T, H, W, 3]; depth float32 [T, H, W] metres (0 = none); masks bool [T, H, W].
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
DEPTH_EXTENSIONS = (".png", ".npy")


@dataclass
class Clip:
    """Consecutive frames of one stream (a folder, a video, or one camera of one episode)."""

    stream: str
    name: str
    frames: np.ndarray
    """uint8 [T, H, W, 3]."""
    depth: np.ndarray | None = None
    """float32 [T, H, W] metres, 0 = no depth."""
    static: np.ndarray | None = None
    """bool [T, H, W]: pixels where nothing moves (for flicker)."""
    note: str = ""
    """Why ``static`` is None although the source could have one (e.g. a moving camera)."""
    motion: Motion | None = None
    """Known motion of the clip's pixels (datasets written by igen), for warp errors."""
    motion_note: str = ""
    """Why ``motion`` is None (what the dataset does not store)."""


@dataclass
class Motion:
    """What :func:`igen_gs.metrics.temporal.pair_correspondences` needs, for a whole clip."""

    depth: np.ndarray
    """float32 [T, H, W] metres (0 = nothing)."""
    K: np.ndarray
    """[3, 3]."""
    T_world_cam: np.ndarray
    """[T, 4, 4]."""
    labels: np.ndarray
    """int [T, H, W] (-1 = nothing)."""
    T_world_obj: dict[int, np.ndarray]
    """label -> [T, 4, 4] poses of the rigid objects that carry that label."""
    excluded: list[int]
    """Labels whose pixels are left out (not rigid: the gripper)."""


def input_kind(path) -> str:
    """``"images"``, ``"video"`` or ``"lerobot"`` for an existing path, else a clear error."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"input not found: {p}")
    if p.is_file():
        if p.suffix.lower() == ".mp4":
            return "video"
        raise ValueError(f"{p}: expected a folder of images, an .mp4 file or a LeRobot dataset "
                         "directory")
    if (p / "meta" / "info.json").is_file():
        return "lerobot"
    return "images"


def list_files(folder, extensions: tuple[str, ...], what: str) -> list[Path]:
    """Files of ``folder`` with one of ``extensions``, sorted by name; error when none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{what} folder not found: {folder}")
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() in extensions and not p.name.startswith("."))
    if not files:
        raise ValueError(f"no {what} ({'/'.join(extensions)}) in {folder}")
    return files


def read_image_folder(folder) -> np.ndarray:
    """All images of a folder, sorted by name: uint8 [T, H, W, 3] (one size, or an error
    naming the first file that differs)."""
    from ..imageio import read_rgb

    files = list_files(folder, IMAGE_EXTENSIONS, "images")
    first = read_rgb(files[0])
    out = np.empty((len(files), *first.shape), dtype=np.uint8)
    out[0] = first
    for i, p in enumerate(files[1:], 1):
        img = read_rgb(p)
        if img.shape != first.shape:
            raise ValueError(f"{p} is {img.shape[1]}x{img.shape[0]}, but {files[0].name} is "
                             f"{first.shape[1]}x{first.shape[0]}")
        out[i] = img
    return out


def read_mask_folder(folder, T: int, size: tuple[int, int], what: str = "mask") -> np.ndarray:
    """Mask PNGs (nonzero = selected) -> bool [T, H, W]: one file per frame in sorted order,
    or a single file used for every frame. ``size`` = (H, W) of the frames."""
    from PIL import Image, UnidentifiedImageError

    files = list_files(folder, IMAGE_EXTENSIONS, f"{what}s")
    if len(files) not in (1, T):
        raise ValueError(f"{folder} has {len(files)} {what}s for {T} frames (give 1 or {T})")
    masks = np.empty((len(files), *size), dtype=bool)
    for i, p in enumerate(files):
        try:
            with Image.open(p) as im:
                a = np.asarray(im)
        except (UnidentifiedImageError, OSError) as e:
            raise ValueError(f"cannot read {what} {p}: {e}") from None
        if a.ndim == 3:
            a = a[..., :3].max(-1)
        if a.shape != tuple(size):
            raise ValueError(f"{what} {p} is {a.shape[1]}x{a.shape[0]}, the frames are "
                             f"{size[1]}x{size[0]}")
        masks[i] = a != 0
    return np.broadcast_to(masks, (T, *size)) if len(files) == 1 else masks


def read_depth_folder(folder, T: int, size: tuple[int, int]) -> np.ndarray:
    """Depth maps (16-bit PNG in millimetres, or .npy in metres), sorted by name -> float32
    [T, H, W] metres; their number and size must match the frames."""
    from ..imageio import read_depth

    files = list_files(folder, DEPTH_EXTENSIONS, "depth maps")
    if len(files) != T:
        raise ValueError(f"{folder} has {len(files)} depth maps for {T} frames")
    out = np.empty((T, *size), dtype=np.float32)
    for i, p in enumerate(files):
        d = read_depth(p)
        if d.shape != tuple(size):
            raise ValueError(f"depth {p} is {d.shape[1]}x{d.shape[0]}, the frames are "
                             f"{size[1]}x{size[0]}")
        out[i] = d
    return out


def _dataset_static(ep, camera: str) -> tuple[np.ndarray | None, str]:
    """Static-pixel mask of one dataset camera (see the module docstring), or (None, why)."""
    if f"labels/{camera}" not in ep.extras.get("files", {}):
        return None, "no label maps in the dataset"
    try:
        poses = ep.camera_poses(camera)
    except ValueError:
        return None, "the camera moves (no fixed pose)"
    if not np.allclose(poses, poses[:1], atol=1e-9):
        return None, "the camera moves"
    labels = ep.labels(camera)
    names = list(ep.extras.get("label_names") or [])
    static = labels == -1
    if "background" in names:
        static |= labels == names.index("background")
    return static, ""


def _dataset_motion(ep, camera: str, K, depth, size: tuple[int, int]
                    ) -> tuple[Motion | None, str]:
    """The known motion of one dataset camera's pixels, or (None, what is missing)."""
    files = ep.extras.get("files", {})
    poses = ep.object_poses()
    missing = [what for what, ok in (("depth", depth is not None),
                                     ("label maps", f"labels/{camera}" in files),
                                     ("object poses", bool(poses)),
                                     ("intrinsics", K is not None)) if not ok]
    try:
        T_world_cam = ep.camera_poses(camera)
    except ValueError:
        missing.append("camera poses")
    if missing:
        return None, f"no warp error: the dataset has no {', '.join(missing)}"
    names = list(ep.extras.get("label_names") or [])
    labels = _pad(ep.labels(camera).astype(np.int64), size, -1)
    objs = {names.index(n): P for n, P in poses.items() if n in names}
    excluded = [names.index("gripper")] if "gripper" in names else []
    return Motion(depth, np.asarray(K, np.float64), T_world_cam, labels, objs, excluded), ""


def _pad(a: np.ndarray, size: tuple[int, int], value=0) -> np.ndarray:
    """[T, h, w] -> [T, H, W]: videos store even sizes, extras the camera's own size."""
    H, W = size
    if a.shape[1:] == (H, W):
        return a
    return np.pad(a, ((0, 0), (0, H - a.shape[1]), (0, W - a.shape[2])), constant_values=value)


def dataset_clips(root, cameras: list[str], with_depth: bool,
                  with_static: bool, with_motion: bool = False) -> Iterator[Clip]:
    """One clip per (camera, episode) of a LeRobot v3.0 dataset, cameras in the given order."""
    from ..io import load_lerobot_dataset

    ds = load_lerobot_dataset(root)
    for cam in cameras:
        if cam not in ds.camera_names:
            raise ValueError(f"{root} has no camera {cam!r}; it has {ds.camera_names}")
        for ep in ds.episodes:
            depth = None
            if (with_depth or with_motion) and f"depth/{cam}" in ep.extras.get("files", {}):
                depth = ep.depth(cam)
            static, note = _dataset_static(ep, cam) if with_static else (None, "")
            frames = ep.frames(cam)
            H, W = frames.shape[1:3]
            if depth is not None:
                depth = _pad(depth, (H, W))
            if static is not None:
                static = _pad(static, (H, W), False)
            motion, motion_note = None, ""
            if with_motion:
                info = ep.cameras.get(cam)
                motion, motion_note = _dataset_motion(
                    ep, cam, None if info is None else info.K, depth, (H, W))
            yield Clip(cam, f"episode {ep.index}", frames, depth if with_depth else None,
                       static, note, motion, motion_note)


def dataset_layout(root) -> tuple[list[str], list[tuple[int, int]]]:
    """(camera names, [(episode index, length)]) of a dataset, without decoding videos."""
    from ..io import load_lerobot_dataset

    ds = load_lerobot_dataset(root)
    return ds.camera_names, [(e.index, e.length) for e in ds.episodes]


def single_clip(path) -> Clip:
    """The clip of an image folder or an MP4 file."""
    from ..io.video import decode_mp4

    kind = input_kind(path)
    if kind == "video":
        return Clip("video", Path(path).name, decode_mp4(path))
    if kind == "images":
        return Clip("images", Path(path).name, read_image_folder(path))
    raise ValueError(f"{path} is a LeRobot dataset; compare it with another dataset")

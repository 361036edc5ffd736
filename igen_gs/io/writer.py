"""The LeRobot v3.0 writer: atomic, resumable episodes, safe with concurrent writers.
See :mod:`igen_gs.io.lerobot` for the layout and the commit protocol."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..outputs import atomic_write_bytes
from . import stats as fstats
from .schema import (
    CHUNKS_SIZE,
    CODEBASE_VERSION,
    DATA_PATH,
    DEFAULT_FEATURES,
    DEPTH_FORMAT,
    EPISODES_PATH,
    EXTRAS_PATH,
    IMAGE_PREFIX,
    VIDEO_PATH,
    DatasetBusyError,
    EpisodeData,
    EpisodeExistsError,
    WriterConfig,
    _chunk_file,
    _dumps,
    _file_index,
    _json_default,
)
from .video import CODECS, X264_PRESETS, encode_mp4, padded_size, video_info

log = logging.getLogger(__name__)

@contextlib.contextmanager
def _no_interrupt() -> Iterator[None]:
    """Defer Ctrl-C (SIGINT) and SIGTERM while renames commit an episode, so it is never half
    done; a signal received meanwhile is acted on right after (KeyboardInterrupt for Ctrl-C).
    Python handlers only run in the main thread, so elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[tuple[int, Any]] = []
    sigs = (signal.SIGINT, signal.SIGTERM)
    old = {s: signal.signal(s, lambda signum, frame: received.append((signum, frame)))
           for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for signum, frame in received[:1]:
            handler = old[signum]
            if callable(handler):
                handler(signum, frame)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), signum)


def _atomic_write(path: Path, data: bytes) -> None:
    """``data`` into ``path`` through a temporary sibling (fsynced) and a rename."""
    atomic_write_bytes(path, data)


def _move(src: Path, dst: Path) -> None:
    """Rename ``src`` onto ``dst`` (replacing it); copies then renames across file systems."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_dir():
        shutil.rmtree(dst)
    try:
        os.replace(src, dst)
    except OSError:
        tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
        if src.is_dir():
            shutil.copytree(src, tmp)
            shutil.rmtree(src)
        else:
            shutil.copy2(src, tmp)
            src.unlink()
        os.replace(tmp, dst)


FIRST_EPISODE_TAG = "igen-new"


def is_dataset_dir(path) -> bool:
    """True for a directory this writer may append to: an igen-gs LeRobot dataset, or what
    an interrupted writer left before its first episode (only the writer's own names)."""
    path = Path(path)
    info = path / "meta" / "info.json"
    if info.is_file():
        try:
            return "igen_gs" in json.loads(info.read_text())
        except (OSError, ValueError):
            return False
    return all(p.name in LeRobotWriter.OWN_NAMES for p in path.iterdir())


def claim_dataset(root, flag: str = "--out"):
    """Validate a dataset location before any work (``igen_gs.outputs.claim_output``): new,
    empty, or an igen-gs dataset to append to; refused with one line otherwise."""
    from ..outputs import claim_output

    return claim_output(root, "dataset", flag=flag, what="an igen-gs LeRobot dataset",
                        ours=is_dataset_dir)


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_first_episodes(root: Path) -> None:
    """Delete the temporary siblings of ``root`` that writers killed while creating the
    dataset left behind (``.<name>.igen-new-<pid>-<hex>``; their process is gone)."""
    if not root.parent.is_dir():
        return
    for p in root.parent.glob(f".{glob_escape(root.name)}.{FIRST_EPISODE_TAG}-*"):
        try:
            pid = int(p.name.rsplit("-", 2)[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            log.warning("removing %s, left by a writer that was killed", p)
            shutil.rmtree(p, ignore_errors=True)


def glob_escape(name: str) -> str:
    import glob

    return glob.escape(name)


def _fixed_list(values: np.ndarray, dtype):
    import pyarrow as pa

    v = np.ascontiguousarray(values, dtype=dtype)
    return pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), v.shape[1])


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Arrays to an .npz (what ``np.load`` reads), deflated at level 1: on Kinect depth maps
    about 4x faster than ``np.savez_compressed`` (level 6), files about 1.5x larger."""
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, a in arrays.items():
            with z.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(a), allow_pickle=False)
    return path


def _save_depth(path: Path, depth: np.ndarray) -> Path:
    """Metric depth [T, H, W] (metres; NaN/inf/negative = none) as uint16 millimetres."""
    d = np.nan_to_num(np.asarray(depth, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    mm = np.clip(np.rint(d * 1000.0), 0, 65535).astype(np.uint16)
    return _save_npz(path, {"depth_mm": mm})


def _encode_with_stats(path: Path, frames: np.ndarray, cfg: WriterConfig):
    encode_mp4(path, frames, cfg.fps, crf=cfg.crf, codec=cfg.codec, gop=cfg.gop,
               preset=cfg.preset)
    return path, fstats.image_stats(frames)


def _run_jobs(jobs: dict[str, tuple], workers: int, desc: str, progress: bool) -> dict:
    """Run ``{name: (fn, *args)}`` on a thread pool of ``workers`` threads (0 = one per CPU),
    with a progress bar; returns ``{name: result}``; re-raises the first failure after the
    other jobs have stopped."""
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    from tqdm.auto import tqdm

    n = max(1, min(len(jobs), workers or os.cpu_count() or 1))
    results: dict[str, Any] = {}
    with tqdm(total=len(jobs), desc=desc, unit="job", leave=False, disable=not progress) as bar:
        if n == 1:
            for name, (fn, *args) in jobs.items():
                bar.set_postfix_str(name)
                results[name] = fn(*args)
                bar.update()
            return results
        ex = ThreadPoolExecutor(max_workers=n, thread_name_prefix="igen-write")
        try:
            futures = {ex.submit(fn, *args): name for name, (fn, *args) in jobs.items()}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for f in done:
                    results[futures[f]] = f.result()  # raises the job's exception
                    bar.set_postfix_str(futures[f])
                    bar.update()
        finally:
            ex.shutdown(wait=True, cancel_futures=True)
    return results


# ---------------------------------------------------------------------- writer
class LeRobotWriter:
    """Writes, or resumes, a LeRobot v3.0 dataset at ``root``, one atomic episode at a time.

    ``LeRobotWriter(root, config)`` or ``LeRobotWriter(root, fps=15, ...)`` (keyword arguments
    override fields of :class:`WriterConfig`). Opening an existing dataset resumes it: its fps
    and codec must match, leftovers of an interrupted episode are removed.

    Every committed episode is complete on disk: there is nothing to flush. :meth:`close`
    (alias :meth:`finalize`; or use the writer as a context manager) only refuses further
    writes. Several writers -- threads or processes -- may append to one dataset: each
    episode is written under an exclusive lock file (``.igen_writer.lock``, waited for up to
    ``lock_timeout_s``), and a writer that finds episodes another one committed meanwhile
    reloads the metadata first, so episode indices stay contiguous and keys unique.
    """

    LOCK_NAME = ".igen_writer.lock"
    OWN_NAMES = frozenset({LOCK_NAME, ".staging", "meta", "data", "videos", "extras", "previews",
                           "failures.jsonl"})
    """What a dataset directory may hold before its first episode is committed (leftovers of
    an interrupted writer); any other entry means the directory is not ours."""

    def __init__(self, root, config: WriterConfig | None = None, lock_timeout_s: float = 600.0,
                 **overrides):
        cfg = dataclasses.replace(config or WriterConfig(), **overrides)
        if int(cfg.fps) != cfg.fps or cfg.fps <= 0:
            raise ValueError(f"fps must be a positive integer for LeRobot, got {cfg.fps}")
        if cfg.codec not in CODECS:
            raise ValueError(f"unknown video codec {cfg.codec!r}; expected one of "
                             f"{sorted(CODECS)}")
        if cfg.preset not in X264_PRESETS:
            raise ValueError(f"unknown x264 preset {cfg.preset!r}; expected one of "
                             f"{X264_PRESETS}")
        try:
            _dumps(cfg.extra_info)
        except TypeError as e:
            raise ValueError(f"extra_info must be JSON-serialisable: {e}") from None
        cfg.fps = int(cfg.fps)
        self.config = cfg
        self.root = Path(root)
        self.previews_dir = Path(cfg.previews_dir) if cfg.previews_dir else self.root / "previews"
        self.info: dict | None = None
        self.episodes: list[dict] = []
        self.tasks: list[str] = []
        self.episode_stats: list[dict] = []
        self._keys: set[str] = set()
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"dataset root {self.root} exists and is not a directory")
        if self.root.is_dir() and not (self.root / "meta" / "info.json").is_file():
            foreign = sorted(p.name for p in self.root.iterdir() if p.name not in self.OWN_NAMES)
            if foreign:
                raise ValueError(f"{self.root} is a non-empty directory that holds no LeRobot "
                                 f"dataset (it has {', '.join(foreign[:3])}"
                                 f"{', ...' if len(foreign) > 3 else ''}); not writing into it")
        self.lock_timeout_s = float(lock_timeout_s)
        self.closed = False
        self._thread_lock = threading.Lock()
        _remove_stale_first_episodes(self.root)
        if self.root.is_dir():  # a new dataset appears only with its first episode
            with self._locked():
                self._sync()

    # ------------------------------------------------------------------ lifetime
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive access to the dataset: this writer's threads, then other processes."""
        import fcntl
        import time

        if not self._thread_lock.acquire(timeout=self.lock_timeout_s):
            raise DatasetBusyError(f"timed out waiting for the writer of {self.root}")
        try:
            with open(self.root / self.LOCK_NAME, "a+") as f:
                deadline = time.monotonic() + self.lock_timeout_s
                while True:
                    try:
                        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise DatasetBusyError(
                                f"dataset {self.root} stayed locked by another writer for "
                                f"{self.lock_timeout_s:.0f} s ({self.root / self.LOCK_NAME})"
                            ) from None
                        time.sleep(0.05)
                try:
                    yield
                finally:
                    fcntl.flock(f, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def _sync(self) -> None:
        """(Re)load the committed state from disk if it is not what this writer knows (first
        open, or episodes committed by another writer), removing an interrupted episode's
        leftovers. Call with the lock held."""
        n = len(self.episodes)
        info_path = self.root / "meta" / "info.json"
        if self.info is not None and info_path.is_file():
            try:
                on_disk = json.loads(info_path.read_text()).get("total_episodes")
            except json.JSONDecodeError:
                on_disk = None
            nxt = self.root / EPISODES_PATH.format(**_chunk_file(n))
            if on_disk == n and not nxt.exists():
                return
        if info_path.is_file():
            self._open_existing()
        else:
            self._remove_leftovers()

    def close(self) -> None:
        """Refuse further writes. (Committed episodes are complete; nothing is flushed.)"""
        self.closed = True

    finalize = close

    def __enter__(self) -> LeRobotWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ reopening
    def _open_existing(self) -> None:
        import pyarrow.parquet as pq

        info_path = self.root / "meta" / "info.json"
        try:
            info = json.loads(info_path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"corrupt {info_path}: {e}") from None
        if info.get("codebase_version") != CODEBASE_VERSION:
            raise ValueError(f"{self.root} is a LeRobot {info.get('codebase_version')} dataset; "
                             f"this writer appends to {CODEBASE_VERSION} only")
        if int(info["fps"]) != self.config.fps:
            raise ValueError(f"{self.root} has fps {info['fps']}, not {self.config.fps}")
        ours = info.get("igen_gs", {})
        if ours.get("layout") == "concatenated":
            raise ValueError(f"{self.root} is consolidated (episodes share files); append to "
                             f"the per-episode dataset it came from and consolidate again")
        if ours.get("codec", self.config.codec) != self.config.codec:
            raise ValueError(f"{self.root} is encoded with {ours['codec']}, not "
                             f"{self.config.codec}")
        rows = []
        for p in sorted((self.root / "meta" / "episodes").glob("chunk-*/file-*.parquet")):
            rows += pq.read_table(p).to_pylist()
        rows.sort(key=lambda r: r["episode_index"])
        if [r["episode_index"] for r in rows] != list(range(len(rows))):
            raise ValueError(f"{self.root}: episode metadata is not contiguous; cannot resume")
        if any("igen_gs/key" not in r for r in rows):
            raise ValueError(f"{self.root} was not written by igen-gs; cannot append to it")
        tasks: list[str] = []
        tasks_path = self.root / "meta" / "tasks.parquet"
        if tasks_path.is_file():
            import pandas as pd

            tasks = list(pd.read_parquet(tasks_path).sort_values("task_index").index)
        if not {t for r in rows for t in r["tasks"]} <= set(tasks):
            raise ValueError(f"{self.root}: episodes use tasks missing from tasks.parquet")
        self.info = info
        self.episodes = rows
        self.tasks = tasks
        self._keys = {r["igen_gs/key"] for r in rows}
        self.episode_stats = [self._stats_from_row(r) for r in rows]
        self._remove_leftovers()
        if (info.get("total_episodes") != len(rows)
                or info.get("total_frames") != self.total_frames):
            log.warning("repairing %s: info.json listed %s episodes, %d are committed",
                        self.root, info.get("total_episodes"), len(rows))
            self._write_info_and_stats()

    @staticmethod
    def _stats_from_row(row: dict) -> dict:
        out: dict[str, dict] = {}
        for k, v in row.items():
            if k.startswith("stats/"):
                feat, stat = k[len("stats/"):].rsplit("/", 1)
                out.setdefault(feat, {})[stat] = np.asarray(v)
        return out

    def _remove_leftovers(self) -> None:
        """Delete what an interrupted episode left: staging, uncommitted files, temp files."""
        n = len(self.episodes)
        shutil.rmtree(self.root / ".staging", ignore_errors=True)
        for pattern in ("data/chunk-*/file-*.parquet", "videos/*/chunk-*/file-*.mp4",
                        "meta/episodes/chunk-*/file-*.parquet"):
            for p in self.root.glob(pattern):
                if _file_index(p) >= n:
                    log.warning("removing %s of an unfinished episode", p)
                    p.unlink()
        for p in self.root.glob("extras/episode-*"):
            if int(p.name.split("-")[1]) >= n:
                shutil.rmtree(p, ignore_errors=True)
        for sub in ("meta", "data", "videos", "extras"):
            for p in (self.root / sub).rglob(".*.tmp*"):
                if p.is_file():
                    p.unlink(missing_ok=True)

    # ------------------------------------------------------------------ queries
    @property
    def num_episodes(self) -> int:
        return len(self.episodes)

    @property
    def total_frames(self) -> int:
        return int(self.episodes[-1]["dataset_to_index"]) if self.episodes else 0

    def has_episode(self, key: str) -> bool:
        """True when an episode with this key is committed (a rerun should skip it)."""
        return key in self._keys

    # ------------------------------------------------------------------ writing
    def _features_for(self, ep: EpisodeData) -> dict:
        cfg = self.config
        feats: dict[str, Any] = {}
        for name, f in ep.frames.items():
            H, W = padded_size(*np.asarray(f).shape[1:3])
            feats[IMAGE_PREFIX + name] = {"dtype": "video", "shape": [int(H), int(W), 3],
                                          "names": ["height", "width", "channels"]}
        for key, arr, names, prefix in (("observation.state", ep.state, cfg.state_names, "s"),
                                        ("action", ep.action, cfg.action_names, "a")):
            d = int(np.asarray(arr).shape[1])
            if names is not None and len(names) != d:
                raise ValueError(f"{len(names)} names given for {key}, which has {d} "
                                 f"dimensions")
            feats[key] = {"dtype": "float32", "shape": [d],
                          "names": list(names) if names else [f"{prefix}{i}" for i in range(d)]}
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
        missing = set(have) - set(want)
        if missing:
            raise ValueError(f"episode {ep.key!r} lacks the dataset's features: "
                             f"{', '.join(sorted(missing))}")

    def _new_info(self, ep: EpisodeData) -> dict:
        cfg = self.config
        return {
            "codebase_version": CODEBASE_VERSION, "robot_type": cfg.robot_type,
            "total_episodes": 0, "total_frames": 0, "total_tasks": 0,
            "chunks_size": CHUNKS_SIZE, "data_files_size_in_mb": 100,
            "video_files_size_in_mb": 200, "fps": cfg.fps, "splits": {},
            "data_path": DATA_PATH, "video_path": VIDEO_PATH,
            "features": self._features_for(ep),
            "igen_gs": {"version": 1, **cfg.extra_info, "codec": cfg.codec, "crf": cfg.crf,
                        "gop": cfg.gop, "preset": cfg.preset,
                        "cameras": {n: c.to_dict() for n, c in ep.cameras.items()},
                        "cameras_vary": False, "extras_path": EXTRAS_PATH,
                        "depth_format": DEPTH_FORMAT},
        }

    def add_episode(self, ep: EpisodeData) -> int:
        """Write one episode atomically; returns its episode index. Raises ValueError for bad
        input, for a key already in the dataset, and for features that differ from the
        dataset's (camera names and sizes, state and action sizes)."""
        if self.closed:
            raise ValueError(f"the writer of {self.root} is closed")
        T = ep.validate()
        if self.info is None and (not self.root.exists() or _is_empty_dir(self.root)):
            idx = self._add_first_episode(ep, T)
            if idx is not None:
                return idx
        with self._locked():
            self._sync()
            if self.has_episode(ep.key):
                raise EpisodeExistsError(f"episode {ep.key!r} is already in {self.root}")
            if self.info is None:
                info = self._new_info(ep)
            else:
                self._check_features(ep)
                info = json.loads(json.dumps(self.info))  # committed with the episode
            idx = len(self.episodes)
            stage = self.root / ".staging" / f"episode-{idx:06d}-{os.getpid()}"
            shutil.rmtree(stage, ignore_errors=True)
            stage.mkdir(parents=True)
            try:
                row, ep_stats, moves = self._stage(ep, T, idx, info, stage)
                self._commit(ep, idx, row, ep_stats, moves, info, stage)
            finally:
                shutil.rmtree(stage, ignore_errors=True)
                with contextlib.suppress(OSError):
                    (self.root / ".staging").rmdir()
        return idx

    def _add_first_episode(self, ep: EpisodeData, T: int) -> int | None:
        """Create the dataset with its first episode: the whole dataset is written into a
        temporary sibling directory and renamed into place (the commit), so nothing exists at
        ``root`` until a valid dataset does. Returns None (and changes nothing) when another
        writer created the dataset meanwhile: the caller then appends the normal way."""
        from ..outputs import make_temp_dir

        if not self._thread_lock.acquire(timeout=self.lock_timeout_s):
            raise DatasetBusyError(f"timed out waiting for the writer of {self.root}")
        tmp = None
        try:
            if self.info is not None or (self.root.exists() and not _is_empty_dir(self.root)):
                return None  # another thread or process got there first
            tmp = make_temp_dir(self.root, FIRST_EPISODE_TAG)
            root, previews = self.root, self.previews_dir
            created: list[bool] = []

            def publish() -> None:  # inside the commit's deferred-Ctrl-C block
                shutil.rmtree(tmp / ".staging", ignore_errors=True)
                try:
                    os.rename(tmp, root)
                    created.append(True)
                except OSError:  # root was created (and filled) by another writer
                    self.info, self.episodes, self.tasks = None, [], []
                    self.episode_stats, self._keys = [], set()

            try:
                self.root = tmp
                if previews == root / "previews":
                    self.previews_dir = tmp / "previews"
                info = self._new_info(ep)
                stage = tmp / ".staging" / f"episode-{0:06d}-{os.getpid()}"
                stage.mkdir(parents=True)
                row, ep_stats, moves = self._stage(ep, T, 0, info, stage)
                self._commit(ep, 0, row, ep_stats, moves, info, stage, then=publish)
            finally:
                self.root, self.previews_dir = root, previews
            return 0 if created else None
        finally:
            if tmp is not None and tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
            self._thread_lock.release()

    def _stage(self, ep: EpisodeData, T: int, idx: int, info: dict, stage: Path):
        """Write every file of episode ``idx`` under ``stage``; returns its metadata row, its
        statistics and the (staged, final) paths to rename at the commit."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        cfg = self.config
        cf = _chunk_file(idx)
        start = self.total_frames
        task_index = self.tasks.index(ep.task) if ep.task in self.tasks else len(self.tasks)
        has_extras = bool(ep.depth or ep.labels or ep.camera_poses or ep.object_poses)
        moves: list[tuple[Path, Path]] = []
        row: dict[str, Any] = {"episode_index": idx, "tasks": [ep.task], "length": T,
                               "data/chunk_index": cf["chunk_index"],
                               "data/file_index": cf["file_index"],
                               "dataset_from_index": start, "dataset_to_index": start + T}
        state = np.asarray(ep.state, dtype=np.float32)
        action = np.asarray(ep.action, dtype=np.float32)
        timestamps = (np.arange(T) / cfg.fps).astype(np.float32)
        ep_stats = {"observation.state": fstats.feature_stats(state),
                    "action": fstats.feature_stats(action),
                    "timestamp": fstats.feature_stats(timestamps),
                    "frame_index": fstats.feature_stats(np.arange(T)),
                    "episode_index": fstats.feature_stats(np.full(T, idx)),
                    "index": fstats.feature_stats(np.arange(start, start + T)),
                    "task_index": fstats.feature_stats(np.full(T, task_index))}

        # Independent pieces of work, run on a few threads (encoders and zlib release the GIL;
        # each video has its own single-threaded encoder, so the bytes do not depend on it).
        jobs: dict[str, Any] = {}
        for name, frames in ep.frames.items():
            staged = stage / "videos" / f"{IMAGE_PREFIX}{name}.mp4"
            jobs[f"video {name}"] = (_encode_with_stats, staged, np.asarray(frames), cfg)
        files: dict[str, str] = {}
        rel = EXTRAS_PATH.format(episode_index=idx)
        sdir = stage / "extras"
        for name, d in (ep.depth or {}).items():
            jobs[f"depth {name}"] = (_save_depth, sdir / f"depth_{name}.npz", d)
            files[f"depth/{name}"] = f"{rel}/depth_{name}.npz"
        for name, m in (ep.labels or {}).items():
            jobs[f"labels {name}"] = (_save_npz, sdir / f"labels_{name}.npz",
                                      {"labels": np.asarray(m).astype(np.int16)})
            files[f"labels/{name}"] = f"{rel}/labels_{name}.npz"
        if ep.camera_poses:
            jobs["camera poses"] = (_save_npz, sdir / "camera_poses.npz",
                                    {n: np.asarray(P, np.float64)
                                     for n, P in ep.camera_poses.items()})
            for n in ep.camera_poses:
                files[f"camera_poses/{n}"] = f"{rel}/camera_poses.npz"
        if ep.object_poses:
            jobs["object poses"] = (_save_npz, sdir / "object_poses.npz",
                                    {n: np.asarray(P, np.float64)
                                     for n, P in ep.object_poses.items()})
            files["object_poses"] = f"{rel}/object_poses.npz"
        base = f"episode_{idx:06d}"
        if cfg.previews:
            from .previews import write_contact_sheet, write_preview

            jobs["preview"] = (write_preview, stage / "previews" / f"{base}.mp4", ep.frames,
                               cfg.fps, ep.captions)
            jobs["contact sheet"] = (write_contact_sheet, stage / "previews" / f"{base}.png",
                                     ep.frames, 8, ep.captions)
        results = _run_jobs(jobs, cfg.workers, f"episode {idx}", cfg.progress)

        for name in ep.frames:
            key = IMAGE_PREFIX + name
            staged, ep_stats[key] = results[f"video {name}"]
            if "info" not in info["features"][key]:
                info["features"][key]["info"] = video_info(staged)
            moves.append((staged, self.root / VIDEO_PATH.format(video_key=key, **cf)))
            row.update({f"videos/{key}/chunk_index": cf["chunk_index"],
                        f"videos/{key}/file_index": cf["file_index"],
                        f"videos/{key}/from_timestamp": 0.0,
                        f"videos/{key}/to_timestamp": T / cfg.fps})
        if has_extras:
            moves.append((sdir, self.root / rel))
        if cfg.previews:
            for ext in (".mp4", ".png"):
                moves.append((stage / "previews" / f"{base}{ext}",
                              self.previews_dir / f"{base}{ext}"))

        # Frames table.
        table = pa.table({
            "observation.state": _fixed_list(state, np.float32),
            "action": _fixed_list(action, np.float32),
            "timestamp": pa.array(timestamps),
            "frame_index": pa.array(np.arange(T, dtype=np.int64)),
            "episode_index": pa.array(np.full(T, idx, dtype=np.int64)),
            "index": pa.array(np.arange(start, start + T, dtype=np.int64)),
            "task_index": pa.array(np.full(T, task_index, dtype=np.int64)),
        })
        pq.write_table(table, stage / "data.parquet", compression="snappy")
        moves.append((stage / "data.parquet", self.root / DATA_PATH.format(**cf)))

        # The episode's metadata row.
        row.update({"meta/episodes/chunk_index": cf["chunk_index"],
                    "meta/episodes/file_index": cf["file_index"]})
        for feat, st in ep_stats.items():
            for k, v in st.items():
                row[f"stats/{feat}/{k}"] = np.asarray(v).tolist()
        row["igen_gs/key"] = ep.key
        row["igen_gs/cameras"] = _dumps({n: c.to_dict() for n, c in ep.cameras.items()})
        row["igen_gs/extras"] = _dumps({"files": files, "label_names": ep.label_names,
                                        "captions": ep.captions, **ep.extras})
        pq.write_table(pa.Table.from_pylist([row]), stage / "episode.parquet")
        return row, ep_stats, moves

    def _commit(self, ep: EpisodeData, idx: int, row: dict, ep_stats: dict,
                moves: list[tuple[Path, Path]], info: dict, stage: Path, then=None) -> None:
        """Rename the staged files into place; the episode-metadata rename is the commit.
        ``then()`` runs last, still with Ctrl-C deferred (the first episode's publish)."""
        tasks = self.tasks + ([ep.task] if ep.task not in self.tasks else [])
        cameras = {n: c.to_dict() for n, c in ep.cameras.items()}
        with _no_interrupt():
            for src, dst in moves:
                _move(src, dst)
            if len(tasks) != len(self.tasks):
                self._write_tasks(tasks)
            _move(stage / "episode.parquet",
                  self.root / EPISODES_PATH.format(**_chunk_file(idx)))
            # Committed: update the in-memory state, then info.json and stats.json.
            self.info = info
            self.tasks = tasks
            self.episodes.append(row)
            self.episode_stats.append(ep_stats)
            self._keys.add(ep.key)
            if cameras != info["igen_gs"]["cameras"]:
                info["igen_gs"]["cameras_vary"] = True
            self._write_info_and_stats()
            if then is not None:
                then()

    def _write_tasks(self, tasks: list[str]) -> None:
        import pandas as pd

        df = pd.DataFrame({"task_index": np.arange(len(tasks), dtype=np.int64)},
                          index=pd.Index(tasks, name="task"))
        path = self.root / "meta" / "tasks.parquet"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        df.to_parquet(tmp)
        os.replace(tmp, path)

    def _write_info_and_stats(self) -> None:
        n = len(self.episodes)
        self.info["total_episodes"] = n
        self.info["total_frames"] = self.total_frames
        self.info["total_tasks"] = len(self.tasks)
        self.info["splits"] = {"train": f"0:{n}"} if n else {}
        _atomic_write(self.root / "meta" / "info.json",
                      json.dumps(self.info, indent=4, default=_json_default).encode())
        if self.episode_stats:
            agg = fstats.aggregate(self.episode_stats)
            _atomic_write(self.root / "meta" / "stats.json",
                          json.dumps(fstats.to_json(agg), indent=2).encode())



"""LeRobot v3.0 datasets, written with pyarrow and PyAV (no lerobot dependency), loadable by
``lerobot.datasets.lerobot_dataset.LeRobotDataset`` (lerobot 0.4.x) as they are.

Layout (v3.0)::

    meta/info.json      codebase_version "v3.0", fps, robot_type, features, path templates,
                        totals, and our own block under the key "igen_gs" (below)
    meta/tasks.parquet  task strings (the index) -> task_index
    meta/stats.json     per-feature statistics (igen_gs.io.stats)
    meta/episodes/chunk-CCC/file-FFF.parquet   one row per episode (lengths, frame ranges,
                        file indices, from/to timestamps in the videos, stats/*, igen_gs/*)
    data/chunk-CCC/file-FFF.parquet            one row per frame: observation.state, action,
                        timestamp, frame_index, episode_index, index, task_index
    videos/observation.images.<camera>/chunk-CCC/file-FFF.mp4   yuv420p (igen_gs.io.video)
    extras/episode-NNNNNN/   optional per-frame depth, instance labels and camera poses (.npz)
    previews/episode_NNNNNN.{mp4,png}   tiled preview video and contact sheet (igen_gs.io.previews)

Files: every episode gets its own data, video and episode-metadata files (chunk = episode
index // 1000, file = episode index % 1000). LeRobot v3 reads the chunk/file indices of each
episode from its metadata row, so one-file-per-episode is as valid as its own concatenated
files; it keeps writing an episode from ever touching the files of earlier ones.
:func:`igen_gs.io.consolidate_dataset` packs a finished dataset into LeRobot's multi-episode
files (size limits, videos remuxed). The reader (:func:`load_lerobot_dataset`) reads both
(several episodes per parquet/mp4 are located by index ranges and from/to timestamps).

Atomic episodes: an episode is written into ``.staging/`` under the root, then committed by
renames in this order: videos, extras, previews, data file, tasks, then its episode-metadata
file (the commit point), then ``info.json`` and ``stats.json`` (replaced atomically), with
Ctrl-C deferred during the renames. A crash before the commit point leaves at worst
unreferenced files of that episode: ``LeRobotDataset`` and :func:`load_lerobot_dataset` still
load the committed episodes, and reopening the writer deletes the leftovers and repairs
``info.json``. Each episode records a key (``igen_gs/key``); :meth:`LeRobotWriter.has_episode`
lets a rerun skip what is done. Writers in several processes may append to one dataset: each
episode is written under a lock file, and a writer reloads what others committed meanwhile.
The same episodes give byte-identical files (single-threaded encoders, own colour conversion).

Our metadata ``info.json["igen_gs"]``: ``version``; ``codec``/``crf``/``gop``/``preset``;
``cameras``, the cameras of the first episode (name -> width, height, K [3, 3] in pixels,
and T_world_cam [4, 4] for a static camera or T_ee_cam [4, 4] for one mounted on the end
effector; metres, OpenCV axes); ``cameras_vary`` (true once an episode's cameras differ from
the first's -- each episode's own cameras are always in its ``igen_gs/cameras`` column,
JSON); ``extras_path``; ``depth_format``; plus the writer's ``extra_info``. Per episode:
``igen_gs/key``, ``igen_gs/cameras`` and ``igen_gs/extras`` (JSON: the extras files, label
names, captions and the caller's ``extras``).

Code: :mod:`igen_gs.io.schema` (layout constants, :class:`EpisodeData`, :class:`CameraInfo`,
:class:`WriterConfig`, validation), :mod:`igen_gs.io.writer` (:class:`LeRobotWriter`: staging,
the commit, locks, resume) and :mod:`igen_gs.io.reader` (:func:`load_lerobot_dataset`); every
name is importable from here as before.
"""


from __future__ import annotations

from .reader import LoadedDataset, LoadedEpisode, load_lerobot_dataset
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
    CameraInfo,
    DatasetBusyError,
    EpisodeData,
    EpisodeExistsError,
    WriterConfig,
    _chunk_file,
    _dumps,
    _file_index,
    _json_default,
)
from .writer import FIRST_EPISODE_TAG, LeRobotWriter, claim_dataset, is_dataset_dir

__all__ = ["CHUNKS_SIZE", "CODEBASE_VERSION", "DATA_PATH", "DEFAULT_FEATURES", "DEPTH_FORMAT",
           "EPISODES_PATH", "EXTRAS_PATH", "FIRST_EPISODE_TAG", "IMAGE_PREFIX", "VIDEO_PATH",
           "CameraInfo", "DatasetBusyError", "EpisodeData", "EpisodeExistsError",
           "LeRobotWriter", "LoadedDataset", "LoadedEpisode", "WriterConfig", "claim_dataset",
           "is_dataset_dir", "load_lerobot_dataset", "_chunk_file", "_dumps", "_file_index",
           "_json_default"]

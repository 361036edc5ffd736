"""Dataset I/O: LeRobot v3.0 writer and reader, consolidation into multi-episode files,
robomimic HDF5 export, previews, video files.

Entry point: :class:`LeRobotWriter` (with :class:`WriterConfig`), fed :class:`EpisodeData`;
:func:`load_lerobot_dataset` reads a dataset back.
"""

from .consolidate import consolidate_dataset
from .hdf5 import export_robomimic
from .lerobot import (
    CameraInfo,
    DatasetBusyError,
    EpisodeData,
    EpisodeExistsError,
    LeRobotWriter,
    LoadedDataset,
    LoadedEpisode,
    WriterConfig,
    load_lerobot_dataset,
)

__all__ = ["CameraInfo", "DatasetBusyError", "EpisodeData", "EpisodeExistsError",
           "LeRobotWriter", "LoadedDataset",
           "LoadedEpisode", "WriterConfig", "consolidate_dataset", "export_robomimic",
           "load_lerobot_dataset"]

"""Dataset I/O: LeRobot v3.0 writer/reader, robomimic HDF5, previews, video files."""

from .lerobot import CameraInfo, EpisodeData, LeRobotWriter, LoadedDataset, load_lerobot_dataset

__all__ = ["CameraInfo", "EpisodeData", "LeRobotWriter", "LoadedDataset", "load_lerobot_dataset"]

"""Batch generation: job manifests, local and Ray executors, resumable dataset writing."""

from .executors import LocalExecutor, RayExecutor, make_executor
from .manifest import Job, episode_key, read_manifest

__all__ = ["Job", "LocalExecutor", "RayExecutor", "episode_key", "make_executor",
           "read_manifest"]

"""Export a LeRobot dataset to one HDF5 file in robomimic's layout::

    data/                       attrs: total (frames), env_args (JSON: env_name, type,
                                env_kwargs with fps, robot_type, tasks, cameras)
        demo_<i>/               attrs: num_samples, task, key
            actions             float32 [T, A]
            rewards             float32 [T]  sparse: 1 at the last step (a planned episode
                                ends with its task done), 0 elsewhere
            dones               uint8 [T]    1 at the last step
            obs/state           float32 [T, S]
            obs/<camera>_image  uint8 [T, H, W, 3]   (decoded from the dataset's videos)
            obs/<camera>_depth  float32 [T, H, W] metres   (when the dataset has depth)
            obs/<camera>_labels int16 [T, H, W]            (when it has instance labels)
    mask/train, mask/valid      demo names (bytes), a seeded split (``valid_fraction``)

Images come from the LeRobot videos, so they carry the video codec's (small) loss.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .lerobot import load_lerobot_dataset


def export_robomimic(dataset_root, out_path, with_depth: bool = True, with_labels: bool = True,
                     valid_fraction: float = 0.0, seed: int = 0, progress: bool = False
                     ) -> Path:
    """Write the LeRobot dataset at ``dataset_root`` as a robomimic HDF5 file at ``out_path``
    (atomically). ``valid_fraction`` of the demos (at least one when > 0), chosen with
    ``seed``, go to ``mask/valid``, the rest to ``mask/train``. Returns ``out_path``."""
    import h5py
    from tqdm.auto import tqdm

    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    ds = load_lerobot_dataset(dataset_root)
    if not ds.episodes:
        raise ValueError(f"dataset {dataset_root} has no episodes to export")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    names = [f"demo_{ep.index}" for ep in ds.episodes]
    n_valid = int(np.ceil(valid_fraction * len(names))) if valid_fraction > 0 else 0
    valid = set(np.random.default_rng(seed).permutation(len(names))[:n_valid].tolist())
    total = 0
    try:
        with h5py.File(tmp, "w") as f:
            data = f.create_group("data")
            for ep, name in tqdm(list(zip(ds.episodes, names)), desc="hdf5", unit="episode",
                                 disable=not progress):
                g = data.create_group(name)
                g.attrs["num_samples"] = ep.length
                g.attrs["task"] = ep.task
                g.attrs["key"] = ep.key
                g.create_dataset("actions", data=ep.action)
                done = np.zeros(ep.length, np.uint8)
                done[-1] = 1
                g.create_dataset("dones", data=done)
                g.create_dataset("rewards", data=done.astype(np.float32))
                obs = g.create_group("obs")
                obs.create_dataset("state", data=ep.state)
                files = ep.extras.get("files", {})
                for cam in ds.camera_names:
                    obs.create_dataset(f"{cam}_image", data=ep.frames(cam), compression="gzip",
                                       compression_opts=4, chunks=True)
                    if with_depth and f"depth/{cam}" in files:
                        obs.create_dataset(f"{cam}_depth", data=ep.depth(cam),
                                           compression="gzip", chunks=True)
                    if with_labels and f"labels/{cam}" in files:
                        obs.create_dataset(f"{cam}_labels", data=ep.labels(cam),
                                           compression="gzip", chunks=True)
                total += ep.length
            data.attrs["total"] = total
            data.attrs["env_args"] = json.dumps({
                "env_name": "igen-gs", "type": "igen-gs",
                "env_kwargs": {"fps": ds.fps, "robot_type": ds.info.get("robot_type"),
                               "tasks": ds.tasks,
                               "cameras": ds.info.get("igen_gs", {}).get("cameras", {})}})
            f.create_dataset("mask/train", data=np.array(
                [n for i, n in enumerate(names) if i not in valid], dtype="S"))
            f.create_dataset("mask/valid", data=np.array(
                [n for i, n in enumerate(names) if i in valid], dtype="S"))
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path

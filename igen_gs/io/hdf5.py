"""Export to HDF5 in robomimic's layout::

    data/                      attrs: total (frames), env_args (JSON)
        demo_<i>/              attrs: num_samples
            actions            float32 [T, A]
            obs/state          float32 [T, S]
            obs/<camera>_image uint8 [T, H, W, 3]
            obs/<camera>_depth float32 [T, H, W] metres (when the dataset has depth)
    mask/train                 the demo names
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .lerobot import load_lerobot_dataset


def export_robomimic(dataset_root, out_path, with_depth: bool = True) -> Path:
    """Write the LeRobot dataset at ``dataset_root`` as a robomimic HDF5 file (atomically)."""
    import h5py

    ds = load_lerobot_dataset(dataset_root)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    total = 0
    with h5py.File(tmp, "w") as f:
        data = f.create_group("data")
        names = []
        for ep in ds.episodes:
            g = data.create_group(f"demo_{ep.index}")
            names.append(f"demo_{ep.index}")
            g.attrs["num_samples"] = ep.length
            g.create_dataset("actions", data=ep.action)
            obs = g.create_group("obs")
            obs.create_dataset("state", data=ep.state)
            for cam in ds.camera_names:
                obs.create_dataset(f"{cam}_image", data=ep.frames(cam), compression="gzip",
                                   compression_opts=4, chunks=True)
                if with_depth and f"depth/{cam}" in ep.extras.get("files", {}):
                    obs.create_dataset(f"{cam}_depth", data=ep.depth(cam, ds.root),
                                       compression="gzip", chunks=True)
            total += ep.length
        data.attrs["total"] = total
        data.attrs["env_args"] = json.dumps({"type": "igen-gs", "env_name": "igen-gs",
                                             "fps": ds.info["fps"], "tasks": ds.tasks,
                                             "cameras": ds.info.get("igen_gs", {}).get(
                                                 "cameras", {})})
        f.create_dataset("mask/train", data=np.array(names, dtype="S"))
    os.replace(tmp, out_path)
    return out_path

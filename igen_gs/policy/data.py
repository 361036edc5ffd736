"""Training samples from LeRobot v3 datasets (read with :func:`igen_gs.io.load_lerobot_dataset`):
per frame the camera image, the proprioception and the chunk of the next actions.

Proprioception: x, y, z, the rotation's first two columns (6D) and the gripper, from the
``x, y, z, qw, qx, qy, qz, gripper`` state (base frame). Action chunks: actions t .. t+k-1 of
the episode, the last one repeated past its end (hold still when done).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..envs.control import quat_to_matrix

PROPRIO_DIM = 10
ACTION_DIM = 10


def proprio_from_state(state: np.ndarray) -> np.ndarray:
    """[..., 8] states -> [..., 10] proprioception (position, 6D rotation, gripper)."""
    s = np.asarray(state, dtype=np.float64)
    if s.shape[-1] != 8:
        raise ValueError(f"states must have 8 values (x, y, z, qw, qx, qy, qz, gripper), got "
                         f"{s.shape[-1]}")
    flat = s.reshape(-1, 8)
    R = np.stack([quat_to_matrix(q) for q in flat[:, 3:7]]) if len(flat) else np.zeros((0, 3, 3))
    out = np.concatenate([flat[:, :3], R[:, :, 0], R[:, :, 1], flat[:, 7:8]], axis=1)
    return out.reshape(*s.shape[:-1], PROPRIO_DIM).astype(np.float32)


def action_chunks(actions: np.ndarray, chunk: int) -> np.ndarray:
    """[T, A] -> [T, chunk, A]: row t holds actions t .. t+chunk-1 (the last repeated)."""
    a = np.asarray(actions)
    T = len(a)
    idx = np.minimum(np.arange(T)[:, None] + np.arange(chunk)[None], T - 1)
    return a[idx]


@dataclass
class Samples:
    """Frames of one or more datasets, flattened over episodes."""

    images: np.ndarray   # uint8 [N, H, W, 3]
    proprio: np.ndarray  # float32 [N, 10]
    chunks: np.ndarray   # float32 [N, chunk, 10]
    episodes: int

    def __len__(self) -> int:
        return len(self.images)


def load_samples(datasets, camera: str = "agentview", chunk: int = 8,
                 max_episodes: int | None = None) -> Samples:
    """Every frame of ``datasets`` (one path or several) as training samples."""
    from ..io import load_lerobot_dataset

    if isinstance(datasets, (str, Path)):
        datasets = [datasets]
    imgs, props, chs, n_eps = [], [], [], 0
    for root in datasets:
        ds = load_lerobot_dataset(root)
        eps = ds.episodes if max_episodes is None else ds.episodes[:max_episodes - n_eps]
        for ep in eps:
            if ep.action.shape[1] != ACTION_DIM:
                raise ValueError(f"{root}: episode {ep.index} has {ep.action.shape[1]}-value "
                                 f"actions; the policy needs ee_6d ({ACTION_DIM})")
            frames = ep.frames(camera)
            imgs.append(frames[:, :, :, :3])
            props.append(proprio_from_state(ep.state))
            chs.append(action_chunks(ep.action.astype(np.float32), chunk))
            n_eps += 1
    if not imgs:
        raise ValueError(f"no episodes in {[str(d) for d in datasets]}")
    return Samples(np.concatenate(imgs), np.concatenate(props), np.concatenate(chs), n_eps)

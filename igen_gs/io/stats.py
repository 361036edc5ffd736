"""Feature statistics in LeRobot's layout (``meta/stats.json`` and per-episode ``stats/*``).

Per feature: ``min``, ``max``, ``mean``, ``std``, ``count`` and the quantiles ``q01``, ``q10``,
``q50``, ``q90``, ``q99``. Vector features [T, d] give arrays of shape (d,) (scalars (1,)),
``count`` is (1,). Video features give per-channel statistics of frames scaled to [0, 1], shape
(3, 1, 1), from up to 100 frames subsampled 4x in each direction.

Aggregating episodes: counts add; means are count-weighted; variances combine within- and
between-episode parts; min/max are exact; quantiles are the count-weighted mean of the
episodes' quantiles (an approximation, as in LeRobot).
"""

from __future__ import annotations

import numpy as np

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
Q_KEYS = tuple(f"q{int(round(q * 100)):02d}" for q in QUANTILES)


def feature_stats(x: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics of a [T] or [T, d] array over its first axis."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    a = a.reshape(a.shape[0], -1)
    out = {"min": a.min(0), "max": a.max(0), "mean": a.mean(0), "std": a.std(0),
           "count": np.array([a.shape[0]])}
    qs = np.quantile(a, QUANTILES, axis=0)
    for k, q in zip(Q_KEYS, qs, strict=True):
        out[k] = q
    return out


def image_stats(frames: np.ndarray, max_frames: int = 100, stride: int = 4) -> dict:
    """Per-channel statistics of uint8 frames [T, H, W, 3], scaled to [0, 1], shape (3, 1, 1)."""
    T = frames.shape[0]
    idx = np.linspace(0, T - 1, min(T, max_frames)).round().astype(int)
    px = frames[idx, ::stride, ::stride].reshape(-1, 3).astype(np.float64) / 255.0
    st = feature_stats(px)
    out = {k: v.reshape(3, 1, 1) for k, v in st.items() if k != "count"}
    out["count"] = np.array([len(idx)])
    return out


def aggregate(stats: list[dict[str, dict]]) -> dict[str, dict[str, np.ndarray]]:
    """Dataset statistics from per-episode statistics (see the module docstring)."""
    keys = sorted({k for s in stats for k in s})
    out = {}
    for key in keys:
        parts = [s[key] for s in stats if key in s]
        n = np.array([float(p["count"][0]) for p in parts])
        w = (n / n.sum()).reshape((-1,) + (1,) * np.asarray(parts[0]["mean"]).ndim)
        means = np.stack([np.asarray(p["mean"]) for p in parts])
        mean = (w * means).sum(0)
        var = (w * (np.stack([np.asarray(p["std"]) for p in parts]) ** 2
                    + (means - mean) ** 2)).sum(0)
        agg = {"min": np.min(np.stack([p["min"] for p in parts]), 0),
               "max": np.max(np.stack([p["max"] for p in parts]), 0),
               "mean": mean, "std": np.sqrt(np.maximum(var, 0.0)),
               "count": np.array([int(n.sum())])}
        for q in Q_KEYS:
            agg[q] = (w * np.stack([np.asarray(p[q]) for p in parts])).sum(0)
        out[key] = agg
    return out


def to_json(stats: dict) -> dict:
    return {k: {s: np.asarray(v).tolist() for s, v in d.items()} for k, d in stats.items()}


def from_json(doc: dict) -> dict:
    return {k: {s: np.asarray(v) for s, v in d.items()} for k, d in doc.items()}

"""Feature statistics in LeRobot's layout (``meta/stats.json`` and per-episode ``stats/*``).

Per feature: ``min``, ``max``, ``mean``, ``std`` (population), ``count`` and the quantiles
``q01``, ``q10``, ``q50``, ``q90``, ``q99``. A vector feature [T, d] gives arrays of shape
(d,), a scalar feature [T] shape (1,); ``count`` is (1,) = number of frames.

Video features give per-channel statistics of frames scaled to [0, 1], shape (3, 1, 1), over
a sample of frames chosen as LeRobot 0.4 does: all frames of episodes shorter than 100,
otherwise ``max(100, T ** 0.75)`` evenly spaced ones; frames whose longer side is 300 px or
more are subsampled to about 150 px. ``count`` is the number of sampled frames.

Aggregating episodes: counts add; means are count-weighted; variances combine within- and
between-episode parts (exact); min/max are exact; quantiles are the count-weighted mean of
the episodes' quantiles (an approximation, the one LeRobot makes). Quantiles of one episode
are exact (``np.quantile``, linear interpolation).
"""

from __future__ import annotations

import numpy as np

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
Q_KEYS = tuple(f"q{int(round(q * 100)):02d}" for q in QUANTILES)
STAT_KEYS = ("min", "max", "mean", "std", "count") + Q_KEYS


def feature_stats(x: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics of a [T] or [T, d] array over its first axis (float64 results)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0 or a.shape[0] == 0:
        raise ValueError(f"statistics need at least one sample, got shape {a.shape}")
    if a.ndim == 1:
        a = a[:, None]
    a = a.reshape(a.shape[0], -1)
    out = {"min": a.min(0), "max": a.max(0), "mean": a.mean(0), "std": a.std(0),
           "count": np.array([a.shape[0]], dtype=np.int64)}
    for k, q in zip(Q_KEYS, np.quantile(a, QUANTILES, axis=0), strict=True):
        out[k] = q
    return out


def image_sample_indices(T: int) -> np.ndarray:
    """Indices of the frames an episode of T frames contributes to image statistics."""
    n = T if T < 100 else max(100, min(int(T ** 0.75), 10_000))
    return np.round(np.linspace(0, T - 1, n)).astype(int)


def image_stride(height: int, width: int) -> int:
    """Pixel subsampling step for image statistics (about 150 px on the longer side)."""
    side = max(height, width)
    return 1 if side < 300 else max(1, side // 150)


def _quantiles_from_counts(counts: np.ndarray, qs) -> np.ndarray:
    """Quantiles (numpy's default, linear interpolation) of integer samples given as a
    histogram ``counts[v]`` = number of samples equal to v."""
    cum = np.cumsum(counts)
    n = int(cum[-1])
    out = []
    for q in qs:
        pos = q * (n - 1)
        lo = int(np.floor(pos))
        v_lo = int(np.searchsorted(cum, lo, side="right"))  # value of the lo-th sorted sample
        v_hi = int(np.searchsorted(cum, min(lo + 1, n - 1), side="right"))
        out.append(v_lo + (pos - lo) * (v_hi - v_lo))
    return np.asarray(out, dtype=np.float64)


def image_stats(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per-channel statistics of uint8 frames [T, H, W, 3] scaled to [0, 1], each (3, 1, 1).

    Exact over the sampled pixels, computed from 256-bin histograms (uint8 values)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"image statistics need frames [T, H, W, 3], got {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"image statistics need uint8 frames, got {frames.dtype}")
    idx = image_sample_indices(frames.shape[0])
    s = image_stride(*frames.shape[1:3])
    px = frames[idx, ::s, ::s].reshape(-1, 3)
    v = np.arange(256, dtype=np.float64)
    cols = {k: [] for k in STAT_KEYS if k != "count"}
    for c in range(3):
        counts = np.bincount(px[:, c], minlength=256).astype(np.float64)
        n = counts.sum()
        mean = (counts * v).sum() / n
        var = max((counts * (v - mean) ** 2).sum() / n, 0.0)
        nz = np.flatnonzero(counts)
        cols["min"].append(nz[0])
        cols["max"].append(nz[-1])
        cols["mean"].append(mean)
        cols["std"].append(np.sqrt(var))
        for k, q in zip(Q_KEYS, _quantiles_from_counts(counts, QUANTILES), strict=True):
            cols[k].append(q)
    out = {k: (np.asarray(vals, dtype=np.float64) / 255.0).reshape(3, 1, 1)
           for k, vals in cols.items()}
    out["count"] = np.array([len(idx)], dtype=np.int64)
    return out


def aggregate(stats: list[dict[str, dict]]) -> dict[str, dict[str, np.ndarray]]:
    """Dataset statistics from per-episode statistics (see the module docstring)."""
    keys = sorted({k for s in stats for k in s})
    out = {}
    for key in keys:
        parts = [s[key] for s in stats if key in s]
        n = np.array([float(np.asarray(p["count"]).reshape(-1)[0]) for p in parts])
        means = np.stack([np.asarray(p["mean"], dtype=np.float64) for p in parts])
        w = (n / n.sum()).reshape((-1,) + (1,) * (means.ndim - 1))
        mean = (w * means).sum(0)
        stds = np.stack([np.asarray(p["std"], dtype=np.float64) for p in parts])
        var = (w * (stds ** 2 + (means - mean) ** 2)).sum(0)
        agg = {"min": np.min(np.stack([np.asarray(p["min"]) for p in parts]), 0),
               "max": np.max(np.stack([np.asarray(p["max"]) for p in parts]), 0),
               "mean": mean, "std": np.sqrt(np.maximum(var, 0.0)),
               "count": np.array([int(n.sum())], dtype=np.int64)}
        for q in Q_KEYS:
            if all(q in p for p in parts):
                agg[q] = (w * np.stack([np.asarray(p[q], dtype=np.float64) for p in parts])).sum(0)
        out[key] = agg
    return out


def to_json(stats: dict) -> dict:
    """Statistics with arrays as nested lists (``meta/stats.json``)."""
    return {k: {s: np.asarray(v).tolist() for s, v in d.items()} for k, d in stats.items()}


def from_json(doc: dict) -> dict:
    """Inverse of :func:`to_json`."""
    return {k: {s: np.asarray(v) for s, v in d.items()} for k, d in doc.items()}

"""PNG plots of an evaluation (matplotlib, Agg backend), written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

LABELS = {"psnr": "PSNR (dB)", "ssim": "SSIM", "lpips": "LPIPS", "depth_abs_rel": "depth AbsRel",
          "depth_rmse": "depth RMSE (m)", "flicker": "flicker (0..1)",
          "warp": "warp error (0..1)"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)
    return path


def plot_curves(report, path) -> Path:
    """One panel per metric: the per-frame values of every stream of ``report``
    (:class:`~igen_gs.metrics.evaluate.EvalReport`), clip boundaries dotted; flicker per
    frame when measured (the change from the previous frame). +inf values (PSNR of
    identical frames) are triangles on the panel's top edge."""
    plt = _pyplot()
    series: dict[str, dict[str, np.ndarray]] = {}
    for name, s in report.streams.items():
        for metric, values in s.per_frame.items():
            series.setdefault(metric, {})[name] = np.asarray(values, dtype=np.float64)
        if s.flicker_per_frame:
            series.setdefault("flicker", {})[name] = np.asarray(s.flicker_per_frame, np.float64)
        if s.warp_per_frame:
            series.setdefault("warp", {})[name] = np.asarray(s.warp_per_frame, np.float64)
    metrics = [m for m in LABELS if m in series] + sorted(set(series) - set(LABELS))
    fig, axes = plt.subplots(max(len(metrics), 1), 1, figsize=(10, 2.3 * max(len(metrics), 1)),
                             squeeze=False, sharex=True)
    from matplotlib.ticker import MaxNLocator

    for ax, metric in zip(axes[:, 0], metrics):
        for name, v in series[metric].items():
            x = np.arange(len(v))
            line, = ax.plot(x, np.where(np.isfinite(v), v, np.nan), lw=1, label=name,
                            marker="." if len(v) <= 60 else None)
            inf = np.isposinf(v)
            if inf.any():  # e.g. PSNR of identical frames: a marker on the top edge
                ax.plot(x[inf], np.ones(int(inf.sum())), "^", color=line.get_color(),
                        transform=ax.get_xaxis_transform(), clip_on=False,
                        label=f"{name}: +inf (identical)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        for s in report.streams.values():
            for start in s.clip_starts[1:]:
                ax.axvline(start - 0.5, color="0.6", lw=0.6, ls=":")
        ax.set_ylabel(LABELS.get(metric, metric))
        ax.grid(alpha=0.3)
        if len(ax.get_legend_handles_labels()[0]) > 1:
            ax.legend(fontsize=7, loc="best")
    axes[-1, 0].set_xlabel("frame")
    fig.suptitle(f"{report.rendered} vs {report.reference}", fontsize=9)
    fig.tight_layout()
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def plot_worst(items, path, diff_gain: float = 4.0) -> Path:
    """A strip, one row per ``(title, rendered uint8 [H, W, 3], reference uint8 [H, W, 3])``:
    rendered | reference | |rendered - reference| x ``diff_gain`` (clipped)."""
    plt = _pyplot()
    if not items:
        raise ValueError("no frames to draw")
    h, w = items[0][1].shape[:2]
    col_in = 3.2
    row_in = col_in * h / w + 0.35
    fig, axes = plt.subplots(len(items), 3, figsize=(3 * col_in, row_in * len(items)),
                             squeeze=False)
    for row, (title, a, b) in zip(axes, items):
        diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).astype(np.float64)
        diff = np.clip(diff * diff_gain, 0, 255).astype(np.uint8)
        for ax, img, label in zip(row, (a, b, diff),
                                  ("rendered", "reference", f"|diff| x{diff_gain:g}")):
            ax.imshow(img, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(label, fontsize=7)
        row[0].set_ylabel(title, fontsize=7)
    fig.tight_layout()
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)

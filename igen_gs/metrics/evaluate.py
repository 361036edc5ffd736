"""``igen eval``: rendered against reference frames -> metrics, JSON report and plots.

Inputs (see :mod:`igen_gs.metrics.sources`): two image folders (matched by sorted file name),
two MP4s (or one of each; matched by frame order), or two LeRobot v3.0 datasets (matched by
camera name and episode order; the cameras both have, or those asked for). Both sides must have
the same number of frames of the same size.

Per frame: PSNR (dB), SSIM and LPIPS (see :mod:`.image`, :mod:`.perceptual`), each over the
mask when masks are given; depth errors (AbsRel, RMSE in metres, delta thresholds; see
:mod:`.depth`) when both sides have depth (folders given, or stored in the datasets), on pixels
with reference depth (and in the mask). Per stream: summaries of the per-frame values (mean,
median, min, max over frames with a finite value: frames identical to the reference have PSNR
+inf and are counted in ``infinite``; frames whose mask is empty are counted in ``skipped``),
depth errors pooled over all evaluated pixels, and, when asked, the flicker of the rendered
frames on static pixels (beside the reference's flicker on the same pixels, as a baseline) and
the warp error of the rendered frames under their known motion (datasets written by igen: see
:mod:`.sources`; beside the reference frames' warp error on the same pixels).

LPIPS modes: ``"on"`` needs the backbone weights (clear error otherwise); ``"auto"`` computes
it when the weights are found and otherwise records why it was skipped in the report; ``"off"``.

Output folder: ``report.json`` (:meth:`EvalReport.to_dict`; null stands for an infinite or
undefined value), ``curves.png`` (per-frame metrics of every stream, clip boundaries dotted)
and ``worst.png`` (the ``worst`` frames with the lowest PSNR: rendered | reference |
|difference| x4). Files are written atomically.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .config import EvalConfig
from .depth import DELTA_THRESHOLDS, depth_errors
from .image import psnr, ssim
from .sources import (
    Clip,
    dataset_clips,
    dataset_layout,
    input_kind,
    read_depth_folder,
    read_mask_folder,
    single_clip,
)

log = logging.getLogger(__name__)


@dataclass
class StreamReport:
    """Results for one stream (an image folder, a video, or one dataset camera)."""

    frames: int
    clips: list[str]
    clip_starts: list[int]
    """Index of each clip's first frame in the per-frame lists."""
    per_frame: dict[str, list[float]]
    """metric -> one value per frame (psnr, ssim, [lpips], [depth_abs_rel, depth_rmse])."""
    summary: dict[str, dict[str, float]]
    """metric -> mean, median, min, max (over finite values), infinite (count of +inf: PSNR
    of identical frames), skipped (count of undefined values: empty masks)."""
    depth: dict[str, float] | None = None
    """Depth errors pooled over all evaluated pixels of all frames."""
    flicker: float | None = None
    """Mean absolute change (0..1) of the rendered frames on static pixels."""
    flicker_reference: float | None = None
    """The same for the reference frames on the same pixels."""
    flicker_per_frame: list[float] | None = None
    """Mean absolute change from the previous frame of the same clip on static pixels, per
    frame (NaN for each clip's first frame and for frames without static pixels)."""
    warp_error: float | None = None
    """Mean absolute colour error (0..1) of the rendered frames warped by the known motion."""
    warp_error_reference: float | None = None
    """The same for the reference frames on the same pixels and correspondences."""
    warp_per_frame: list[float] | None = None
    """Warp error of each frame against the previous frame of its clip (NaN for each clip's
    first frame and for frames without usable pixels)."""
    notes: list[str] = field(default_factory=list)
    """What could not be measured, and why (with the clips concerned)."""


@dataclass
class EvalReport:
    """Everything ``evaluate`` measured, and the files it wrote."""

    rendered: str
    reference: str
    lpips: str
    """'alex' / 'vgg' (with the weights file), 'off', or why it was skipped."""
    streams: dict[str, StreamReport]
    worst_frames: list[dict]
    """[{stream, clip, frame, psnr}] of the frames in worst.png."""
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dict (non-finite numbers as None)."""
        return _finite(asdict(self))


def _finite(x):
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


# ----------------------------------------------------------------------------- pairing
def _paired_clips(cfg: EvalConfig):
    """Yield (rendered Clip, reference Clip) pairs; checks the inputs agree first."""
    ka, kb = input_kind(cfg.rendered), input_kind(cfg.reference)
    if (ka == "lerobot") != (kb == "lerobot"):
        raise ValueError(f"cannot compare a {ka} input ({cfg.rendered}) with a {kb} input "
                         f"({cfg.reference}): give two datasets, or two folders/MP4s")
    if ka != "lerobot":
        a, b = single_clip(cfg.rendered), single_clip(cfg.reference)
        _check_pair(a, b, cfg)
        yield a, b
        return
    cams_a, eps_a = dataset_layout(cfg.rendered)
    cams_b, eps_b = dataset_layout(cfg.reference)
    if cfg.cameras:
        cams = list(cfg.cameras)
        for c in cams:
            for root, have in ((cfg.rendered, cams_a), (cfg.reference, cams_b)):
                if c not in have:
                    raise ValueError(f"{root} has no camera {c!r}; it has {have}")
    else:
        cams = [c for c in cams_a if c in cams_b]
        if not cams:
            raise ValueError(f"the datasets share no camera: {cfg.rendered} has {cams_a}, "
                             f"{cfg.reference} has {cams_b}")
    if [n for _, n in eps_a] != [n for _, n in eps_b]:
        raise ValueError(f"the datasets' episodes differ: {cfg.rendered} has "
                         f"{len(eps_a)} episodes of {[n for _, n in eps_a][:8]} frames, "
                         f"{cfg.reference} has {len(eps_b)} of {[n for _, n in eps_b][:8]}")
    it_a = dataset_clips(cfg.rendered, cams, True, cfg.flicker, cfg.warp)
    it_b = dataset_clips(cfg.reference, cams, True, False)
    for a, b in zip(it_a, it_b):
        _check_pair(a, b, cfg)
        yield a, b


def _check_pair(a: Clip, b: Clip, cfg: EvalConfig) -> None:
    where = f"{a.stream} {a.name}" if a.stream not in ("images", "video") else "frames"
    if len(a.frames) != len(b.frames):
        raise ValueError(f"{where}: {cfg.rendered} has {len(a.frames)} frames, "
                         f"{cfg.reference} has {len(b.frames)}")
    if a.frames.shape != b.frames.shape:
        raise ValueError(f"{where}: rendered frames are {a.frames.shape[2]}x"
                         f"{a.frames.shape[1]}, reference frames {b.frames.shape[2]}x"
                         f"{b.frames.shape[1]}")


# ----------------------------------------------------------------------------- LPIPS
def _lpips_model(cfg: EvalConfig):
    """(model or None, description for the report); a bad ``cfg.device`` fails here."""
    from ..device import resolve_device

    device = resolve_device(cfg.device)
    if cfg.lpips == "off":
        return None, "off"
    from .perceptual import load_lpips, lpips_backbone_path

    if cfg.lpips == "auto" and cfg.lpips_weights is None:
        try:
            lpips_backbone_path(cfg.lpips_net)
        except FileNotFoundError as e:
            log.info("LPIPS skipped: %s", e)
            return None, f"skipped: {e}"
    path = lpips_backbone_path(cfg.lpips_net, cfg.lpips_weights)
    model = load_lpips(cfg.lpips_net, cfg.lpips_weights)
    if device.type != "cpu":  # the loaded model is cached (on the CPU): move a copy
        import copy

        model = copy.deepcopy(model).to(device)
    return model, f"{cfg.lpips_net} ({path})"


# ----------------------------------------------------------------------------- metrics
class _Stream:
    """Accumulates one stream's per-frame values, pooled depth sums and flicker sums."""

    def __init__(self, with_lpips: bool):
        self.clips: list[str] = []
        self.starts: list[int] = []
        self.per = {"psnr": [], "ssim": []}
        if with_lpips:
            self.per["lpips"] = []
        self.depth_sums: dict[str, float] = {}
        self.depth_pixels = 0
        self.flick = [0.0, 0.0, 0]  # rendered sum, reference sum, pixels
        self.flick_frames: list[float] = []
        self.warp = [0.0, 0.0, 0]  # rendered sum, reference sum, pixels
        self.warp_frames: list[float] = []
        self.skipped: dict[str, list[str]] = {}  # reason -> clips

    def add_depth(self, e: dict) -> None:
        n = e["pixels"]
        for k in ("abs_rel", *DELTA_THRESHOLDS):
            self.depth_sums[k] = self.depth_sums.get(k, 0.0) + e[k] * n
        self.depth_sums["se"] = self.depth_sums.get("se", 0.0) + e["rmse"] ** 2 * n
        self.depth_pixels += n

    def report(self) -> StreamReport:
        n = len(self.per["psnr"])
        depth = None
        if self.depth_pixels:
            p = self.depth_pixels
            depth = {"abs_rel": self.depth_sums["abs_rel"] / p,
                     "rmse": math.sqrt(self.depth_sums["se"] / p),
                     **{k: self.depth_sums[k] / p for k in DELTA_THRESHOLDS}, "pixels": p}
        fl = fr = None
        if self.flick[2]:
            fl, fr = self.flick[0] / self.flick[2], self.flick[1] / self.flick[2]
        wa = wr = None
        if self.warp[2]:
            wa, wr = self.warp[0] / self.warp[2], self.warp[1] / self.warp[2]
        return StreamReport(n, self.clips, self.starts, self.per,
                            {k: _summary(v) for k, v in self.per.items()}, depth, fl, fr,
                            self.flick_frames if self.flick[2] else None, wa, wr,
                            self.warp_frames if self.warp[2] else None,
                            [f"{why} ({', '.join(clips)})" for why, clips in self.skipped.items()])


def _summary(values: list[float]) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    fin = v[np.isfinite(v)]
    out = {"infinite": int(np.isposinf(v).sum()), "skipped": int(np.isnan(v).sum())}
    if fin.size:
        out.update(mean=float(fin.mean()), median=float(np.median(fin)), min=float(fin.min()),
                   max=float(fin.max()))
    return out


def _masked(fn, mask, *args, **kw) -> float:
    """fn(..., mask) or NaN when the mask selects nothing usable."""
    if mask is not None and not mask.any():
        return math.nan
    try:
        return fn(*args, mask=mask, **kw)
    except ValueError as e:
        if "mask selects no pixel" in str(e):
            return math.nan
        raise


def _clip_metrics(a: Clip, b: Clip, masks, acc: _Stream, model, worst: list, k: int) -> None:
    from .perceptual import lpips

    base = len(acc.per["psnr"])
    acc.clips.append(a.name)
    acc.starts.append(base)
    T = len(a.frames)
    for t in range(T):
        m = None if masks is None else masks[t]
        x, y = a.frames[t], b.frames[t]
        p = _masked(psnr, m, x, y)
        acc.per["psnr"].append(p)
        acc.per["ssim"].append(_masked(ssim, m, x, y))
        if model is not None:
            acc.per["lpips"].append(_masked(lpips, m, x, y, model=model))
        if k > 0 and not math.isnan(p):
            item = (-p, base + t, a.stream, a.name, t)
            if len(worst) < k:
                heapq.heappush(worst, (item, x.copy(), y.copy()))
            elif item > worst[0][0]:
                heapq.heapreplace(worst, (item, x.copy(), y.copy()))
    if a.depth is not None and b.depth is not None:
        acc.per.setdefault("depth_abs_rel", [math.nan] * base)
        acc.per.setdefault("depth_rmse", [math.nan] * base)
        for t in range(T):
            m = None if masks is None else masks[t]
            valid = (b.depth[t] > 0) if m is None else (b.depth[t] > 0) & m
            if not valid.any():
                acc.per["depth_abs_rel"].append(math.nan)
                acc.per["depth_rmse"].append(math.nan)
                continue
            e = depth_errors(a.depth[t], b.depth[t], m)
            acc.add_depth(e)
            acc.per["depth_abs_rel"].append(e["abs_rel"])
            acc.per["depth_rmse"].append(e["rmse"])
    for key in ("depth_abs_rel", "depth_rmse"):
        if key in acc.per and len(acc.per[key]) < base + T:
            acc.per[key] += [math.nan] * (base + T - len(acc.per[key]))


def _clip_flicker(a: Clip, b: Clip, static, acc: _Stream) -> None:
    from .temporal import frame_changes

    why = None
    if static is None:
        why = f"no flicker: {a.note or 'no static mask'}"
    elif len(a.frames) < 2:
        why = "no flicker: a single frame"
    else:
        ra, n = frame_changes(a.frames, static)
        rb, _ = frame_changes(b.frames, static)
        has = n > 0
        if not bool(has.any()):
            why = "no flicker: no pixel is static in two consecutive frames"
    if why is not None:
        acc.skipped.setdefault(why, []).append(a.name)
        acc.flick_frames += [math.nan] * len(a.frames)
        return
    acc.flick[0] += float((ra[has] * n[has]).sum())
    acc.flick[1] += float((rb[has] * n[has]).sum())
    acc.flick[2] += int(n.sum())
    acc.flick_frames += [math.nan] + [float(v) for v in ra]


def _clip_warp(a: Clip, b: Clip, acc: _Stream) -> None:
    """Warp error of one clip pair under the rendered clip's known motion (pair by pair, so
    memory stays at one frame's correspondences)."""
    from .temporal import iter_motion_correspondences, warp_errors

    m = a.motion
    why = None
    if m is None:
        why = a.motion_note or "no warp error: no known motion"
    elif len(a.frames) < 2:
        why = "no warp error: a single frame"
    if why is not None:
        acc.skipped.setdefault(why, []).append(a.name)
        acc.warp_frames += [math.nan] * len(a.frames)
        return
    per = [math.nan]
    pairs = iter_motion_correspondences(m.depth, m.K, m.T_world_cam, m.labels, m.T_world_obj)
    for t, (uv, ok) in enumerate(pairs):
        if m.excluded:
            ok &= ~torch.from_numpy(np.isin(m.labels[t + 1], m.excluded))
        ea, n = warp_errors(a.frames[t:t + 2], uv[None], ok[None])
        eb, _ = warp_errors(b.frames[t:t + 2], uv[None], ok[None])
        count = int(n[0])
        if count == 0:
            per.append(math.nan)
            continue
        acc.warp[0] += float(ea[0]) * count
        acc.warp[1] += float(eb[0]) * count
        acc.warp[2] += count
        per.append(float(ea[0]))
    acc.warp_frames += per


def evaluate(cfg: EvalConfig) -> EvalReport:
    """Compare ``cfg.rendered`` against ``cfg.reference`` (see the module docstring); writes
    report.json, curves.png and worst.png into ``cfg.out`` and returns the report."""
    if (cfg.rendered_depth is None) != (cfg.reference_depth is None):
        raise ValueError("depth errors need both --rendered-depth and --reference-depth")
    if cfg.worst < 0:
        raise ValueError(f"worst must be >= 0, got {cfg.worst}")
    kinds = {input_kind(cfg.rendered), input_kind(cfg.reference)}
    if "lerobot" in kinds and (cfg.rendered_depth is not None or cfg.static_masks is not None):
        raise ValueError("datasets bring their own depth and label maps: --rendered-depth, "
                         "--reference-depth and --static-masks are for folders and MP4s")
    if cfg.warp and input_kind(cfg.rendered) != "lerobot":
        raise ValueError("--warp needs the known motion that datasets written by igen store "
                         "(depth, label maps, camera and object poses): give two datasets")
    if cfg.flicker and cfg.static_masks is None and "lerobot" not in kinds:
        raise ValueError("--flicker needs --static-masks (PNG masks of the pixels where "
                         "nothing moves) for folders and MP4s")
    for p in (cfg.masks, cfg.static_masks, cfg.rendered_depth, cfg.reference_depth):
        if p is not None and not Path(p).is_dir():
            raise FileNotFoundError(f"folder not found: {p}")
    model, lpips_desc = _lpips_model(cfg)
    streams: dict[str, _Stream] = {}
    worst: list = []
    bar = None
    if cfg.progress:
        from tqdm import tqdm

        bar = tqdm(desc="eval", unit="clip", disable=None)  # None: only on a terminal
    for a, b in _paired_clips(cfg):
        T, H, W = a.frames.shape[:3]
        masks = read_mask_folder(cfg.masks, T, (H, W)) if cfg.masks is not None else None
        if cfg.rendered_depth is not None:
            a.depth = read_depth_folder(cfg.rendered_depth, T, (H, W))
            b.depth = read_depth_folder(cfg.reference_depth, T, (H, W))
        acc = streams.setdefault(a.stream, _Stream(model is not None))
        _clip_metrics(a, b, masks, acc, model, worst, cfg.worst)
        if cfg.flicker:
            static = a.static
            if cfg.static_masks is not None:
                static = read_mask_folder(cfg.static_masks, T, (H, W), "static mask")
            _clip_flicker(a, b, static, acc)
        if cfg.warp:
            _clip_warp(a, b, acc)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    worst_sorted = sorted(worst, key=lambda w: w[0], reverse=True)
    report = EvalReport(
        str(cfg.rendered), str(cfg.reference), lpips_desc,
        {name: s.report() for name, s in streams.items()},
        [{"stream": it[2], "clip": it[3], "frame": it[4], "psnr": -it[0]}
         for it, _, _ in worst_sorted])
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    from .plots import plot_curves, plot_worst

    report.files["curves"] = str(plot_curves(report, out / "curves.png"))
    if worst_sorted:
        report.files["worst"] = str(plot_worst(
            [(f"{it[2]} {it[3]} frame {it[4]}: PSNR {-it[0]:.2f} dB", x, y)
             for it, x, y in worst_sorted], out / "worst.png"))
    report.files["report"] = str(out / "report.json")
    _write_json(report.to_dict(), out / "report.json")
    return report


def _write_json(obj: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, allow_nan=False))
    os.replace(tmp, path)

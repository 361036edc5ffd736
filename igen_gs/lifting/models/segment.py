"""Object masks from prompts: SAM through transformers (point and box prompts, the best of its
candidate masks by predicted IoU), automatic masks with ``segment-anything``'s generator, and
GrabCut (OpenCV) from a box, the offline path that needs no weights.

Prompts per object name, in pixel coordinates (x right, y down, the image's top-left corner at
(0, 0)): ``{"box": [x0, y0, x1, y1]}`` and/or ``{"points": [[x, y], ...], "labels": [1, ...]}``
(1 = on the object, 0 = background; default all 1), or a :class:`Prompt`.
(Masks given as files are read and checked by :func:`igen_gs.lifting.inputs.load_masks`.)
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .common import check_device, check_image, load_pretrained, looks_like_path

log = logging.getLogger(__name__)

DEFAULT_SAM_MODEL = "facebook/sam-vit-base"
METHODS = ("grabcut", "sam", "auto")


@dataclass(frozen=True)
class AutoMaskConfig:
    """segment-anything's automatic mask generator (``method="auto"``)."""

    checkpoint: str | None = None
    """Path of a segment-anything checkpoint file (e.g. sam_vit_b_01ec64.pth)."""
    model_type: str = "vit_b"
    """Its architecture: a key of ``segment_anything.sam_model_registry`` (vit_b, vit_l, vit_h)."""
    points_per_side: int = 32
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    min_area_px: int = 100
    """Masks (and their holes/islands) smaller than this are dropped."""
    max_area_fraction: float = 0.25
    """Masks covering more of the image than this (table, walls) are not objects."""
    max_contained: float = 0.9
    """A mask with at least this fraction inside a larger kept mask is a part, dropped."""


@dataclass(frozen=True)
class SegmentConfig:
    """How prompts become masks."""

    method: str = "grabcut"
    """"grabcut" (offline, needs a box per object), "sam" (transformers SAM weights) or
    "auto" (segment-anything's automatic generator, no prompts, needs ``auto.checkpoint``)."""
    sam_model: str = DEFAULT_SAM_MODEL
    """Hub id or local directory of a transformers SAM model (``method="sam"``)."""
    device: str = "cpu"
    grabcut_iterations: int = 5
    cache_dir: str | None = None
    """Hub cache directory for ``sam_model`` (default: the Hugging Face default)."""
    local_files_only: bool = False
    """Never contact the hub for ``sam_model``."""
    auto: AutoMaskConfig = field(default_factory=AutoMaskConfig)


@dataclass(frozen=True)
class Prompt:
    """A box ``(x0, y0, x1, y1)`` and/or points ``((x, y), ...)`` with labels (1 on the
    object, 0 background), pixels."""

    box: tuple[float, float, float, float] | None = None
    points: tuple[tuple[float, float], ...] | None = None
    labels: tuple[int, ...] | None = None


def _numbers(name: str, what: str, values, n: int) -> tuple[float, ...]:
    """``n`` finite floats from ``values``, or ValueError naming the prompt."""
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{what} for {name!r} must be {n} numbers, got {values!r}") from None
    if len(out) != n or not all(math.isfinite(v) for v in out):
        raise ValueError(f"{what} for {name!r} must be {n} finite numbers, got {values!r}")
    return out


def parse_prompt(name: str, p: Any, width: int, height: int) -> Prompt:
    """A validated :class:`Prompt` (inside the ``width`` x ``height`` image, well-formed) from a
    dict or Prompt, or ValueError naming ``name``."""
    if isinstance(p, Prompt):
        p = {"box": p.box, "points": p.points, "labels": p.labels}
    if not isinstance(p, Mapping):
        raise ValueError(f"prompt for {name!r} must be a dict with 'box' and/or 'points'")
    unknown = set(p) - {"box", "points", "labels"}
    if unknown:
        raise ValueError(f"prompt for {name!r} has unknown keys {sorted(unknown)}; use 'box', "
                         "'points', 'labels'")
    box, points, labels = p.get("box"), p.get("points"), p.get("labels")
    if box is None and not points:
        raise ValueError(f"prompt for {name!r} needs a 'box' or 'points'")
    if box is not None:
        x0, y0, x1, y1 = _numbers(name, "box prompt", box, 4)
        if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
            raise ValueError(f"box prompt for {name!r} {list(box)} is outside the "
                             f"{width}x{height} image or empty")
        box = (x0, y0, x1, y1)
    if points:
        points = tuple(_numbers(name, "point prompt", pt, 2) for pt in points)
        for x, y in points:
            if not (0 <= x < width and 0 <= y < height):
                raise ValueError(f"point prompt ({x:g}, {y:g}) for {name!r} is outside the "
                                 f"{width}x{height} image")
        labels = [1] * len(points) if labels is None else list(labels)
        if len(labels) != len(points) or any(v not in (0, 1) for v in labels):
            raise ValueError(f"point labels for {name!r} must be 0/1, one per point")
        labels = tuple(int(v) for v in labels)
        if 1 not in labels and box is None:
            raise ValueError(f"prompt for {name!r} has only background points: give a point "
                             "on the object (label 1) or a box")
    else:
        points, labels = None, None
    return Prompt(box, points, labels)


# ---------------------------------------------------------------------------- GrabCut
def grabcut(image: np.ndarray, prompt: Prompt, iterations: int = 5, name: str = "object",
            seed_radius: int = 3) -> np.ndarray:
    """GrabCut (OpenCV, seeded RNG so repeatable) from ``prompt.box``: bool [H, W] foreground.

    Outside the box is background; points of the prompt, if any, are fixed foreground
    (label 1) or background (label 0) disks of ``seed_radius`` pixels. Raises ValueError when
    the box leaves no background (it covers the whole image), is too small, or nothing in it
    is foreground.
    """
    import cv2

    H, W = image.shape[:2]
    if prompt.box is None:
        raise ValueError(f"GrabCut needs a box prompt for {name!r} (or use method='sam')")
    x0, y0 = int(np.floor(prompt.box[0])), int(np.floor(prompt.box[1]))
    x1, y1 = int(np.ceil(prompt.box[2])), int(np.ceil(prompt.box[3]))
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise ValueError(f"box prompt for {name!r} is smaller than 2x2 pixels")
    if x0 <= 0 and y0 <= 0 and x1 >= W and y1 >= H:
        raise ValueError(f"box prompt for {name!r} covers the whole image: GrabCut needs "
                         "background pixels outside the box")
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    bgr = np.ascontiguousarray(image[..., ::-1])
    cv2.setRNGSeed(0)
    if not prompt.points:
        mask = np.zeros((H, W), np.uint8)
        cv2.grabCut(bgr, mask, (x0, y0, x1 - x0, y1 - y0), bgd, fgd, iterations,
                    cv2.GC_INIT_WITH_RECT)
    else:
        mask = np.full((H, W), cv2.GC_BGD, np.uint8)
        mask[y0:y1, x0:x1] = cv2.GC_PR_FGD
        for (x, y), lab in zip(prompt.points, prompt.labels):
            cv2.circle(mask, (int(x), int(y)), seed_radius,
                       int(cv2.GC_FGD if lab == 1 else cv2.GC_BGD), -1)
        cv2.grabCut(bgr, mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    out = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    if not out.any():
        raise ValueError(f"GrabCut found no foreground in the box for {name!r}")
    return out


# ---------------------------------------------------------------------------- SAM
@functools.lru_cache(maxsize=2)
def _load_sam_cached(model: str, device: str, cache_dir: str | None, local_files_only: bool):
    from transformers import SamModel, SamProcessor

    processor, net = load_pretrained("SAM model", model, (SamProcessor, SamModel),
                                     cache_dir=cache_dir, local_files_only=local_files_only)
    return net.to(device).eval(), processor


def load_sam(config: SegmentConfig | None = None):
    """(SamModel in eval mode on ``config.device``, SamProcessor), loaded once per
    (model, device, cache_dir, local_files_only) and reused; a local directory is keyed by
    its resolved path."""
    cfg = config or SegmentConfig(method="sam")
    check_device(cfg.device)
    model = cfg.sam_model
    if looks_like_path(model) and Path(model).expanduser().is_dir():
        model = str(Path(model).expanduser().resolve())
    return _load_sam_cached(model, cfg.device, cfg.cache_dir, cfg.local_files_only)


load_sam.cache_info = _load_sam_cached.cache_info  # type: ignore[attr-defined]
load_sam.cache_clear = _load_sam_cached.cache_clear  # type: ignore[attr-defined]


def sam_candidates(image: np.ndarray, prompt: Prompt, config: SegmentConfig | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """SAM's candidate masks for one prompt (multimask output): bool [K, H, W] at the image's
    size and their predicted IoUs [K]."""
    import torch
    from PIL import Image

    cfg = config or SegmentConfig(method="sam")
    net, processor = load_sam(cfg)
    kwargs: dict[str, Any] = {}
    if prompt.points:
        kwargs["input_points"] = [[[list(pt) for pt in prompt.points]]]
        kwargs["input_labels"] = [[list(prompt.labels)]]
    if prompt.box is not None:
        kwargs["input_boxes"] = [[list(prompt.box)]]
    inputs = processor(images=Image.fromarray(image), return_tensors="pt", **kwargs)
    with torch.no_grad():
        res = net(**{k: v.to(cfg.device) for k, v in inputs.items()}, multimask_output=True)
    masks = processor.post_process_masks(res.pred_masks.cpu(), inputs["original_sizes"],
                                         inputs["reshaped_input_sizes"])[0]  # [1, K, H, W]
    return masks[0].numpy().astype(bool), res.iou_scores[0, 0].float().cpu().numpy()


def sam_mask(image: np.ndarray, prompt: Prompt, config: SegmentConfig | None = None,
             name: str = "object") -> np.ndarray:
    """The candidate with the highest predicted IoU, bool [H, W] (may be empty: logged)."""
    cands, iou = sam_candidates(image, prompt, config)
    best = int(np.argmax(iou))
    if not cands[best].any():
        log.warning("SAM returned an empty mask for %r", name)
    return cands[best]


# ---------------------------------------------------------------------------- automatic
@functools.lru_cache(maxsize=1)
def _load_sam_checkpoint(checkpoint: str, model_type: str, device: str):
    from segment_anything import sam_model_registry

    if model_type not in sam_model_registry:
        raise ValueError(f"segment-anything model type must be one of "
                         f"{', '.join(sorted(sam_model_registry))}, got {model_type!r}")
    try:
        sam = sam_model_registry[model_type](checkpoint=checkpoint)
    except (RuntimeError, OSError, KeyError) as e:
        text = " ".join(str(e).split())
        raise ValueError(f"cannot load segment-anything checkpoint {checkpoint!r} as "
                         f"{model_type}: {text[:200]}") from None
    return sam.to(device).eval()


def automatic_masks(image: np.ndarray, config: AutoMaskConfig | None = None,
                    device: str = "cpu") -> list[np.ndarray]:
    """Object masks found without prompts by segment-anything's ``SamAutomaticMaskGenerator``
    (a grid of ``points_per_side``^2 point prompts, filtered by predicted IoU and stability).

    Kept: masks of at least ``min_area_px`` pixels and at most ``max_area_fraction`` of the
    image, largest first, dropping any mask with ``max_contained`` of its area inside a kept
    one (object parts). Returns bool [H, W] masks (possibly none).
    """
    image = check_image(image)
    cfg = config or AutoMaskConfig()
    if cfg.checkpoint is None:
        raise ValueError("automatic segmentation needs a segment-anything checkpoint file "
                         "(AutoMaskConfig.checkpoint, e.g. sam_vit_b_01ec64.pth); none given")
    path = Path(cfg.checkpoint).expanduser()
    if not path.is_file():
        raise ValueError(f"segment-anything checkpoint not found: {cfg.checkpoint}")
    check_device(device)
    from segment_anything import SamAutomaticMaskGenerator

    sam = _load_sam_checkpoint(str(path.resolve()), cfg.model_type, device)
    gen = SamAutomaticMaskGenerator(sam, points_per_side=cfg.points_per_side,
                                    pred_iou_thresh=cfg.pred_iou_thresh,
                                    stability_score_thresh=cfg.stability_score_thresh,
                                    min_mask_region_area=cfg.min_area_px)
    H, W = image.shape[:2]
    found = sorted((m["segmentation"].astype(bool) for m in gen.generate(image)),
                   key=lambda m: -int(m.sum()))
    kept: list[np.ndarray] = []
    for m in found:
        area = int(m.sum())
        if area < cfg.min_area_px or area > cfg.max_area_fraction * H * W:
            continue
        if any((m & k).sum() >= cfg.max_contained * area for k in kept):
            continue
        kept.append(m)
    return kept


# ---------------------------------------------------------------------------- entry point
def segment_objects(image: np.ndarray, prompts: Mapping[str, Any] | None = None,
                    config: SegmentConfig | None = None) -> dict[str, np.ndarray]:
    """Masks for named objects: name -> bool [H, W].

    ``method="grabcut"`` and ``"sam"`` segment each prompt (see :func:`parse_prompt`; prompts
    outside the image raise ValueError); ``"auto"`` takes no prompts and names what it finds
    "object 1", "object 2", ... (largest first).
    """
    image = check_image(image)
    cfg = config or SegmentConfig()
    if cfg.method not in METHODS:
        raise ValueError(f"segmentation method must be one of {', '.join(METHODS)}, got "
                         f"{cfg.method!r}")
    if cfg.method == "auto":
        if prompts:
            raise ValueError("segmentation method 'auto' takes no prompts (use 'sam' or "
                             "'grabcut' with prompts)")
        masks = automatic_masks(image, cfg.auto, cfg.device)
        return {f"object {i + 1}": m for i, m in enumerate(masks)}
    H, W = image.shape[:2]
    parsed = {name: parse_prompt(name, p, W, H) for name, p in (prompts or {}).items()}
    if cfg.method == "grabcut":
        return {name: grabcut(image, p, cfg.grabcut_iterations, name)
                for name, p in parsed.items()}
    return {name: sam_mask(image, p, cfg, name) for name, p in parsed.items()}

"""Object masks from prompts: SAM through transformers (points/boxes, best mask by predicted
IoU), automatic masks with ``segment-anything``'s generator, and GrabCut (OpenCV) from a box
as the offline path that needs no weights.

Prompts per object name: ``{"box": [x0, y0, x1, y1]}`` and/or ``{"points": [[x, y], ...],
"labels": [1, ...]}`` (1 = on the object, 0 = background), pixel coordinates.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_SAM_MODEL = "facebook/sam-vit-base"


@dataclass(frozen=True)
class SegmentConfig:
    """How prompts become masks."""

    method: str = "grabcut"
    """"grabcut" (offline, needs a box) or "sam" (needs SAM weights)."""
    sam_model: str = DEFAULT_SAM_MODEL
    """Hub id or local directory of a transformers SAM model."""
    device: str = "cpu"
    grabcut_iterations: int = 5


@dataclass(frozen=True)
class Prompt:
    box: tuple[float, float, float, float] | None = None
    points: tuple[tuple[float, float], ...] | None = None
    labels: tuple[int, ...] | None = None


def parse_prompt(name: str, p: Any, width: int, height: int) -> Prompt:
    """Validate one prompt (inside the image, well-formed)."""
    if isinstance(p, Prompt):
        p = {"box": p.box, "points": p.points, "labels": p.labels}
    if not isinstance(p, Mapping):
        raise ValueError(f"prompt for {name!r} must be a dict with 'box' and/or 'points'")
    box = p.get("box")
    points = p.get("points")
    labels = p.get("labels")
    if box is None and not points:
        raise ValueError(f"prompt for {name!r} needs a 'box' or 'points'")
    if box is not None:
        if len(box) != 4:
            raise ValueError(f"box prompt for {name!r} must be [x0, y0, x1, y1]")
        x0, y0, x1, y1 = (float(v) for v in box)
        if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
            raise ValueError(f"box prompt for {name!r} {list(box)} is outside the "
                             f"{width}x{height} image or empty")
        box = (x0, y0, x1, y1)
    if points:
        pts = tuple((float(x), float(y)) for x, y in points)
        for x, y in pts:
            if not (0 <= x < width and 0 <= y < height):
                raise ValueError(f"point prompt ({x:g}, {y:g}) for {name!r} is outside the "
                                 f"{width}x{height} image")
        labels = tuple(int(v) for v in (labels if labels is not None else [1] * len(pts)))
        if len(labels) != len(pts) or any(v not in (0, 1) for v in labels):
            raise ValueError(f"point labels for {name!r} must be 0/1, one per point")
        points = pts
    return Prompt(box, points, labels)


def grabcut(image: np.ndarray, box, iterations: int = 5) -> np.ndarray:
    """GrabCut (OpenCV) initialised with a box: bool [H, W] foreground mask."""
    import cv2

    x0, y0, x1, y1 = (int(round(v)) for v in box)
    mask = np.zeros(image.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(np.ascontiguousarray(image[..., ::-1]), mask, (x0, y0, x1 - x0, y1 - y0), bgd,
                fgd, iterations, cv2.GC_INIT_WITH_RECT)
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)


@functools.lru_cache(maxsize=2)
def load_sam(model: str, device: str = "cpu"):
    """(SamModel, SamProcessor), cached."""
    from transformers import SamModel, SamProcessor

    try:
        processor = SamProcessor.from_pretrained(model)
        net = SamModel.from_pretrained(model)
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"cannot load SAM model {model!r} ({first}); without network access put its weights "
            "on disk and pass the directory (or pre-populate HF_HOME), or use method='grabcut' "
            "with box prompts, or give masks") from None
    return net.to(device).eval(), processor


def sam_masks(image: np.ndarray, prompts: dict[str, Prompt], model: str, device: str = "cpu"
              ) -> dict[str, np.ndarray]:
    """SAM: one mask per prompt, the candidate with the highest predicted IoU."""
    import torch
    from PIL import Image

    net, processor = load_sam(model, device)
    pil = Image.fromarray(image)
    out = {}
    for name, p in prompts.items():
        kwargs: dict[str, Any] = {}
        if p.points:
            kwargs["input_points"] = [[list(map(list, p.points))]]
            kwargs["input_labels"] = [[list(p.labels)]]
        if p.box is not None:
            kwargs["input_boxes"] = [[list(p.box)]]
        inputs = processor(images=pil, return_tensors="pt", **kwargs)
        with torch.no_grad():
            res = net(**{k: v.to(device) for k, v in inputs.items()}, multimask_output=True)
        masks = processor.post_process_masks(res.pred_masks.cpu(), inputs["original_sizes"],
                                             inputs["reshaped_input_sizes"])[0]  # [1, K, H, W]
        best = int(res.iou_scores[0, 0].argmax())
        out[name] = masks[0, best].numpy().astype(bool)
    return out


def segment_objects(image: np.ndarray, prompts: Mapping[str, Any],
                    config: SegmentConfig | None = None) -> dict[str, np.ndarray]:
    """name -> bool [H, W] mask for each prompt."""
    cfg = config or SegmentConfig()
    H, W = image.shape[:2]
    parsed = {name: parse_prompt(name, p, W, H) for name, p in prompts.items()}
    if cfg.method == "grabcut":
        out = {}
        for name, p in parsed.items():
            if p.box is None:
                raise ValueError(f"GrabCut needs a box prompt for {name!r} (or use method='sam')")
            out[name] = grabcut(image, p.box, cfg.grabcut_iterations)
        return out
    if cfg.method == "sam":
        return sam_masks(image, parsed, cfg.sam_model, cfg.device)
    raise ValueError(f"segmentation method must be 'grabcut' or 'sam', got {cfg.method!r}")


def automatic_masks(image: np.ndarray, checkpoint: str | None, model_type: str = "vit_b",
                    min_area: int = 100) -> list[np.ndarray]:
    """All masks segment-anything's automatic generator finds (needs its checkpoint file)."""
    from pathlib import Path

    if checkpoint is None or not Path(checkpoint).is_file():
        raise ValueError("automatic segmentation needs a segment-anything checkpoint file "
                         f"(--sam-checkpoint), got {checkpoint!r}")
    from segment_anything import SamAutomaticMaskGenerator, sam_model_registry

    sam = sam_model_registry[model_type](checkpoint=checkpoint)
    gen = SamAutomaticMaskGenerator(sam, min_mask_region_area=min_area)
    return [m["segmentation"].astype(bool) for m in gen.generate(image)]

"""Learned-model front ends of lifting: monocular depth (:mod:`.depth`) and promptable or
automatic segmentation (:mod:`.segment`). Heavy libraries (transformers, segment-anything,
OpenCV) are imported only when a model runs."""

from .depth import (
    DepthEstimate,
    DepthModelConfig,
    ScaledDepth,
    estimate_depth,
    load_depth_model,
    scale_relative_depth,
)
from .segment import AutoMaskConfig, Prompt, SegmentConfig, automatic_masks, segment_objects

__all__ = ["AutoMaskConfig", "DepthEstimate", "DepthModelConfig", "Prompt", "ScaledDepth",
           "SegmentConfig", "automatic_masks", "estimate_depth", "load_depth_model",
           "scale_relative_depth", "segment_objects"]

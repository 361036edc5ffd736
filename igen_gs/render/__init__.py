"""Rendering: gsplat-compatible rasterization with native CPU kernels and a PyTorch reference."""

from .rasterize import rasterization, simd_levels

__all__ = ["rasterization", "simd_levels"]

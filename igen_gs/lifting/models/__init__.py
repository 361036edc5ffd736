"""Learned-model front ends of lifting: monocular depth and promptable segmentation."""

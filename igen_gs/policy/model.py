"""The network: conv encoder with spatial-softmax keypoints + MLP head over proprioception,
predicting a chunk of normalised actions."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SpatialSoftmax(nn.Module):
    """[B, C, H, W] feature maps -> [B, 2C] expected (x, y) image coordinates in [-1, 1] of
    each channel's softmax -- where each feature fires, which is what a reaching policy needs
    from a small object."""

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        p = torch.softmax(x.reshape(B, C, H * W), dim=-1).reshape(B, C, H, W)
        ys = torch.linspace(-1.0, 1.0, H, device=x.device, dtype=x.dtype)
        xs = torch.linspace(-1.0, 1.0, W, device=x.device, dtype=x.dtype)
        ex = (p.sum(2) * xs).sum(-1)
        ey = (p.sum(3) * ys).sum(-1)
        return torch.cat([ex, ey], dim=1)


class BCPolicy(nn.Module):
    """Image [B, 3, H, W] in [0, 1] + proprio [B, P] (normalised) -> [B, chunk, A]
    (normalised actions)."""

    def __init__(self, proprio_dim: int, action_dim: int, chunk: int, channels: int = 16,
                 keypoints: int = 32, hidden: int = 256):
        super().__init__()
        c = channels
        self.encoder = nn.Sequential(
            nn.Conv2d(3, c, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(c, c, 3, stride=1, padding=1), nn.ReLU(),
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * c, keypoints, 1),
            SpatialSoftmax(),
        )
        self.head = nn.Sequential(
            nn.Linear(2 * keypoints + proprio_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, chunk * action_dim),
        )
        self.chunk, self.action_dim = chunk, action_dim

    def forward(self, image: Tensor, proprio: Tensor) -> Tensor:
        f = self.encoder(image * 2.0 - 1.0)
        out = self.head(torch.cat([f, proprio], dim=1))
        return out.reshape(-1, self.chunk, self.action_dim)

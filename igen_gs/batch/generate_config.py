"""Options of batch generation (a plain dataclass, cheap to import)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..episode.config import EpisodeConfig
from ..lifting.config import LiftConfig


@dataclass
class GenerateConfig:
    """Options of ``igen generate``."""

    executor: str = "local"
    """"local" (worker processes) or "ray"."""
    workers: int = 2
    """Parallel workers (processes or Ray CPUs)."""
    ray_address: str | None = None
    """An existing Ray cluster (default: start a local one)."""
    device: str | None = None
    """Where every stage runs ("auto", "cpu", "cuda", "cuda:N"); sets lift.device and
    episode.render.device (None: keep theirs). With CUDA, local workers take one GPU each
    when several are visible (else share it) and Ray tasks request GPUs."""
    episode: EpisodeConfig = field(default_factory=EpisodeConfig)
    """Episode options (cameras, rendering, planning, variations, actions)."""
    lift: LiftConfig = field(default_factory=lambda: LiftConfig(stride=2))
    """Lifting options."""
    previews: bool = True
    """Write a preview MP4 and contact sheet per episode."""

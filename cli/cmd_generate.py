"""``igen generate``: a manifest of photos and instructions -> one LeRobot dataset."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from igen_gs.batch.generate_config import GenerateConfig


@dataclass
class GenerateCommand:
    """Generate a dataset from a JSON-lines manifest (one job per line: image, optional depth,
    intrinsics, masks/prompts, instruction, seed, variations). Failed jobs are recorded in
    OUT/failures.jsonl and summarised; rerunning resumes without duplicates."""

    manifest: Path
    """JSON-lines job file (see igen_gs.batch.manifest)."""
    out: Path = Path("outputs/dataset")
    """Dataset directory (LeRobot v3.0)."""
    executor: Literal["local", "ray"] = "local"
    """Worker processes on this machine, or Ray tasks."""
    workers: int = 2
    """Parallel workers."""
    ray_address: str | None = None
    """Connect to this Ray cluster instead of starting a local one."""
    device: str | None = None
    """Where lifting and rendering run: "auto" (the first CUDA device when there is one, else
    the CPU), "cpu", "cuda" or "cuda:N" (default: --config.lift.device and
    --config.episode.render.device, both "auto"). With CUDA, local workers take one GPU each
    when several are visible (else they share one) and Ray tasks request GPUs."""
    config: GenerateConfig = field(default_factory=GenerateConfig)
    """Episode, lifting and preview options."""

    allow_failures: bool = False
    """Exit 0 even when some jobs failed (by default any failure makes the exit status 2)."""

    def main(self) -> None:
        import sys

        from igen_gs.batch.generate import generate_dataset
        from igen_gs.batch.manifest import read_manifest
        from igen_gs.io.lerobot import claim_dataset

        if self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers}")
        claim_dataset(self.out)
        read_manifest(self.manifest)  # a bad manifest fails before any worker starts
        cfg = GenerateConfig(**{**self.config.__dict__, "executor": self.executor,
                                "workers": self.workers, "ray_address": self.ray_address,
                                "device": self.device if self.device is not None
                                else self.config.device})
        s = generate_dataset(self.manifest, self.out, cfg, progress=sys.stderr.isatty())
        print(f"{len(s['written'])} episodes written, {len(s['skipped'])} already there, "
              f"{len(s['failed'])} failed; {s['episodes_in_dataset']} episodes in {s['dataset']} "
              f"({s['seconds']:.1f} s)")
        for f in s["failed"]:
            print(f"  failed {f['key']}: {f['reason']}")
        n_failed = len(s["failed"])
        if n_failed and not self.allow_failures:
            total = n_failed + len(s["written"]) + len(s["skipped"])
            where = (f"reasons above and in {self.out / 'failures.jsonl'}"
                     if self.out.is_dir() else "reasons above")
            raise JobsFailedError(f"{n_failed} of {total} episodes failed ({where}); "
                                  f"--allow-failures to exit 0 anyway")


class JobsFailedError(ValueError):
    """Some jobs of the batch failed (the rest is written)."""


COMMAND = ("generate", GenerateCommand)

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
    config: GenerateConfig = field(default_factory=GenerateConfig)
    """Episode, lifting and preview options."""

    def main(self) -> None:
        from igen_gs.batch.generate import generate_dataset

        cfg = GenerateConfig(**{**self.config.__dict__, "executor": self.executor,
                                "workers": self.workers, "ray_address": self.ray_address})
        s = generate_dataset(self.manifest, self.out, cfg)
        print(f"{len(s['written'])} episodes written, {len(s['skipped'])} already there, "
              f"{len(s['failed'])} failed; {s['episodes_in_dataset']} episodes in {s['dataset']} "
              f"({s['seconds']:.1f} s)")
        for f in s["failed"]:
            print(f"  failed {f['key']}: {f['reason']}")


COMMAND = ("generate", GenerateCommand)

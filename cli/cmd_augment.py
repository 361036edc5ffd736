"""``igen augment``: new camera viewpoints for an existing dataset (novel-view augmentation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import tyro

from igen_gs.augment import AugmentConfig


@dataclass
class AugmentCommand:
    """Re-render every episode of a LeRobot v3.0 dataset (or a folder of RGB-D frames) from K
    new viewpoints per camera, fixed per episode; holes are inpainted and their fraction
    recorded. Writes a new dataset (resumable); actions and states are unchanged."""

    input: tyro.conf.Positional[Path]
    """A LeRobot v3.0 dataset, or a folder of RGB-D frames (7-Scenes layout)."""
    out: Path = Path("outputs/augmented")
    """Output dataset directory (new, empty, or an igen-gs dataset to resume)."""
    config: AugmentConfig = field(default_factory=AugmentConfig)
    """Viewpoints, hole filling, sources."""

    def main(self) -> None:
        import sys

        from igen_gs.augment import augment
        from igen_gs.io.lerobot import claim_dataset

        if not self.input.exists():
            raise FileNotFoundError(f"input not found: {self.input}")
        if self.out.resolve() == self.input.resolve():
            raise ValueError("--out must differ from the input dataset")
        claim_dataset(self.out)
        s = augment(self.input, self.out, self.config, progress=sys.stderr.isatty())
        holes = ", ".join(f"{k} {100 * v:.1f}%" for k, v in s["mean_hole_fraction"].items())
        print(f"{len(s['written'])} episodes augmented, {len(s['skipped'])} already there -> "
              f"{s['out']}" + (f"; mean hole fraction: {holes}" if holes else ""))


COMMAND = ("augment", AugmentCommand)

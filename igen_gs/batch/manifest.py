"""Job manifests for batch generation (``igen generate --manifest jobs.jsonl``).

One JSON object per line:

    {"image": "photos/kitchen.jpg",            # required (relative paths: to the manifest)
     "instruction": "put the red block on the blue plate",   # required
     "depth": "photos/kitchen_depth.png",     # optional: metric depth (PNG, .npy, .exr)
     "depth_scale": 0.001,                    # optional: metres per PNG unit (default 0.001)
     "intrinsics": [fx, fy, cx, cy],          # optional: pixels
     "masks": {"red block": "masks/red.png"}, # optional: object masks
     "prompts": {"red block": {"box": [x0, y0, x1, y1]}},  # optional: segmentation prompts
     "seed": 0,                               # optional (default: the line number)
     "variations": 3,                         # optional (default 1)
     "id": "kitchen-01"}                      # optional (default: "job-<line>")

Blank lines and lines starting with ``#`` are skipped. Every episode of the batch has a key
``<id>/<variation>``, which is how an interrupted batch resumes without duplicates.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_KNOWN = {"image", "instruction", "depth", "depth_scale", "intrinsics", "masks", "prompts",
          "seed", "variations", "id"}


@dataclass(frozen=True)
class Job:
    """One manifest line, with paths resolved."""

    id: str
    image: Path
    instruction: str
    depth: Path | None = None
    depth_scale: float = 0.001
    intrinsics: tuple[float, float, float, float] | None = None
    masks: dict[str, Path] = field(default_factory=dict)
    prompts: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    variations: int = 1
    line: int = 0

    def keys(self) -> list[str]:
        """Episode keys of this job, one per variation."""
        return [episode_key(self.id, v) for v in range(self.variations)]


def episode_key(job_id: str, variation: int) -> str:
    return f"{job_id}/{variation}"


def _err(path: Path, line: int, msg: str) -> ValueError:
    return ValueError(f"{path}:{line}: {msg}")


def parse_job(obj: Any, base: Path, path: Path, line: int) -> Job:
    """Validate one manifest entry (files are checked later, per job, so one bad line does not
    stop a batch)."""
    if not isinstance(obj, dict):
        raise _err(path, line, "each line must be a JSON object")
    unknown = sorted(set(obj) - _KNOWN)
    if unknown:
        raise _err(path, line, f"unknown field(s) {', '.join(unknown)}; known: "
                               f"{', '.join(sorted(_KNOWN))}")
    for req in ("image", "instruction"):
        if not isinstance(obj.get(req), str) or not obj[req].strip():
            raise _err(path, line, f"'{req}' must be a non-empty string")

    def resolve(p: str) -> Path:
        q = Path(p).expanduser()
        return q if q.is_absolute() else (base / q)

    intr = obj.get("intrinsics")
    if intr is not None:
        if not (isinstance(intr, list) and len(intr) == 4 and
                all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in intr)):
            raise _err(path, line, "'intrinsics' must be [fx, fy, cx, cy] (numbers, pixels)")
        intr = tuple(float(v) for v in intr)
        if not all(math.isfinite(v) for v in intr):
            raise _err(path, line, f"'intrinsics' must be finite numbers, got {list(intr)}")
        if intr[0] <= 0 or intr[1] <= 0:
            raise _err(path, line, f"'intrinsics': focal lengths must be positive, got "
                                   f"fx={intr[0]}, fy={intr[1]}")
    variations = obj.get("variations", 1)
    if not isinstance(variations, int) or isinstance(variations, bool) or variations < 1:
        raise _err(path, line, "'variations' must be a positive integer")
    seed = obj.get("seed", line)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise _err(path, line, "'seed' must be an integer")
    scale = obj.get("depth_scale", 0.001)
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or \
            not math.isfinite(scale) or scale <= 0:
        raise _err(path, line, "'depth_scale' must be a positive number")
    masks = obj.get("masks") or {}
    if not isinstance(masks, dict) or not all(isinstance(v, str) for v in masks.values()):
        raise _err(path, line, "'masks' must map object names to image paths")
    prompts = obj.get("prompts") or {}
    if not isinstance(prompts, dict):
        raise _err(path, line, "'prompts' must map object names to {points|box}")
    job_id = obj.get("id", f"job-{line}")
    if not isinstance(job_id, str) or not job_id or "/" in job_id:
        raise _err(path, line, "'id' must be a non-empty string without '/'")
    return Job(
        id=job_id, image=resolve(obj["image"]), instruction=obj["instruction"].strip(),
        depth=resolve(obj["depth"]) if obj.get("depth") else None, depth_scale=float(scale),
        intrinsics=intr, masks={k: resolve(v) for k, v in masks.items()}, prompts=prompts,
        seed=seed, variations=variations, line=line)


def read_manifest(path) -> list[Job]:
    """Parse a JSON-lines manifest; raises ValueError naming the file and line on bad input."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    jobs: list[Job] = []
    for i, raw in enumerate(path.read_text().splitlines(), start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise _err(path, i, f"not valid JSON ({e.msg})") from None
        jobs.append(parse_job(obj, path.parent, path, i))
    if not jobs:
        raise ValueError(f"{path}: the manifest has no jobs")
    ids = [j.id for j in jobs]
    dup = sorted({x for x in ids if ids.count(x) > 1})
    if dup:
        raise ValueError(f"{path}: duplicate job id(s): {', '.join(dup)}")
    return jobs

"""Worlds for IGen's three tasks (fixed objects and poses, so plans and checks can be written
against them):

* ``water``: "water the flowers with the can": a watering can (spout towards the pot, image
  left) and a flower pot full of soil to its brim (a cylinder);
* ``hit``: "hit the box": a 6 cm box;
* ``place``: "place the toy in the basket": a 4 cm toy block and an open basket.

World frame, table and camera as :func:`.world.make_tabletop_world`.
"""

from __future__ import annotations

import math

import torch

from ..scene import frames
from .shapes import ObjectSpec
from .world import SyntheticWorld

TASKS = ("water", "hit", "place")
INSTRUCTIONS = {"water": "water the flowers with the can", "hit": "hit the box",
                "place": "place the toy in the basket"}
"""The instruction of each task."""


def _pose(x: float, y: float, yaw: float = 0.0) -> torch.Tensor:
    R = frames.axis_angle_to_rotmat(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64),
                                    torch.tensor(yaw, dtype=torch.float64))
    return frames.make_T(R, torch.tensor([x, y, 0.0], dtype=torch.float64))


def task_world(task: str, seed: int = 0) -> SyntheticWorld:
    """The world of one of IGen's three tasks (:data:`TASKS`); ``seed`` only seeds the
    ground-truth Gaussians' sampling. ValueError naming the tasks otherwise."""
    if task == "water":
        specs = [ObjectSpec("can", "watering_can", (0.08, 0.08, 0.12), (0.20, 0.50, 0.80)),
                 ObjectSpec("flower pot", "cylinder", (0.10, 0.10, 0.08), (0.60, 0.35, 0.20))]
        poses = {"can": _pose(0.12, 0.0, math.pi), "flower pot": _pose(-0.12, 0.04)}
    elif task == "hit":
        specs = [ObjectSpec("box", "box", (0.06, 0.06, 0.06), (0.80, 0.60, 0.20))]
        poses = {"box": _pose(0.0, 0.05)}
    elif task == "place":
        specs = [ObjectSpec("toy", "box", (0.04, 0.04, 0.04), (0.90, 0.20, 0.20)),
                 ObjectSpec("basket", "basket", (0.16, 0.16, 0.06), (0.70, 0.55, 0.30))]
        poses = {"toy": _pose(0.12, -0.02), "basket": _pose(-0.10, 0.04)}
    else:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    return SyntheticWorld(specs, {n: poses[n] for n in (s.name for s in specs)}, seed)

"""Plans (what to do) and trajectories (how the end effector and the objects move).

Frames and units follow :mod:`igen_gs.scene.frames`: ``T_world_ee`` maps points in the
end-effector (TCP) frame to the world, metres, seconds. The TCP frame is the gripper's: origin
midway between the finger pads, +z the approach direction (out of the hand through the
fingertips), +y the finger opening axis (see :mod:`igen_gs.robot.geometry`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


class UnreachableError(ValueError):
    """A plan the arm cannot carry out from its base (a one-line message naming the step and
    the pose); other bases may still work."""


ACTIONS = ("pick", "place", "move_to", "push", "stack", "lift", "tilt", "rotate")
STAGE_ACTIONS = ("pour", "strike")
"""Steps of the rule planner that only the stage executor runs (not in the primitive VLM's
schema): :func:`igen_gs.planning.plan_task` compiles a plan holding one of them to stages."""
POUR_DEG = 60.0
"""Default tilt of a pour (degrees)."""
STRIKE_MPS = 0.15
"""Default contact speed of a strike (m/s)."""
RELATIONS = ("on", "in", "left_of", "right_of", "in_front_of", "behind")

PLAN_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["steps"],
    "additionalProperties": False,
    "properties": {
        "steps": {
            "type": "array",
            "minItems": 1,
            "maxItems": 8,
            "items": {
                "type": "object",
                "required": ["action", "object"],
                "additionalProperties": False,
                "properties": {
                    "action": {"enum": list(ACTIONS)},
                    "object": {"type": "string", "minLength": 1},
                    "target": {"type": ["string", "null"]},
                    "relation": {"enum": [*RELATIONS, None]},
                    "distance_m": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                    "direction": {"enum": ["forward", "backward", "left", "right", None]},
                    "height_m": {"type": ["number", "null"], "minimum": 0, "maximum": 0.5},
                    "angle_deg": {"type": ["number", "null"], "minimum": -180, "maximum": 180},
                },
            },
        },
    },
}
"""JSON schema of a plan (used to validate VLM replies)."""


@dataclass
class Step:
    """One primitive.

    * ``pick`` object: grasp it and lift it off its support;
    * ``place`` object ``relation`` target: put the held (or first picked) object on / in the
      target;
    * ``stack`` object on target: like place on;
    * ``move_to`` object ``relation`` target: put it beside the target (left_of, right_of,
      in_front_of, behind) on the table, ``distance_m`` apart (default 5 cm gap); without a
      target: pick it and put it down ``distance_m`` (default 10 cm) in ``direction``;
    * ``push`` object ``direction`` ``distance_m``: slide it with the closed gripper;
    * ``lift`` object ``height_m``: pick and hold it that high above its support;
    * ``tilt`` object ``angle_deg``: pick, lift and tilt it about the forward axis (a pour to
      the side; positive = its top towards the right) and back;
    * ``rotate`` object ``angle_deg``: pick it, turn it about the vertical (positive =
      counter-clockwise seen from above) and put it back down where it was;
    * ``pour`` object target ``angle_deg``: (pick it,) hold its spout over the target, tilt it
      by the angle (default :data:`POUR_DEG`) towards the spout, tilt it back, put it back
      where it was (stages only);
    * ``strike`` object ``direction`` ``speed_mps``: hit it with the closed gripper moving
      along the direction (default forward) at that speed (m/s, default :data:`STRIKE_MPS`) at
      contact (stages only).

    Directions are as seen in the photo: forward = away from the camera, left = image left.
    """

    action: str
    object: str
    target: str | None = None
    relation: str | None = None
    distance_m: float | None = None
    direction: str | None = None
    height_m: float | None = None
    angle_deg: float | None = None
    speed_mps: float | None = None

    def describe(self) -> str:
        if self.action == "move_to" and self.target is None:
            return (f"move {self.object} {self.direction or 'forward'} "
                    f"{0.10 if self.distance_m is None else self.distance_m:.2f} m")
        if self.action in ("place", "stack", "move_to"):
            rel = (self.relation or "on").replace("_", " ")
            return f"{self.action} {self.object} {rel} {self.target}"
        if self.action == "push":
            return f"push {self.object} {self.direction} {self.distance_m:.2f} m"
        if self.action == "lift":
            return f"lift {self.object} by {self.height_m or 0.1:.2f} m"
        if self.action == "pour":
            angle = POUR_DEG if self.angle_deg is None else self.angle_deg
            return f"pour {self.object} over {self.target} by {angle:.0f} deg"
        if self.action == "strike":
            return (f"strike {self.object} {self.direction or 'forward'} at "
                    f"{STRIKE_MPS if self.speed_mps is None else self.speed_mps:.2f} m/s")
        if self.action in ("tilt", "rotate"):
            angle = 90.0 if self.angle_deg is None else self.angle_deg
            return f"{self.action} {self.object} by {angle:.0f} deg"
        return f"{self.action} {self.object}"


@dataclass
class Plan:
    """Ordered steps for an instruction, naming the scene's objects."""

    instruction: str
    steps: list[Step]
    planner: str = "rule"

    def to_dict(self) -> dict:
        return {"instruction": self.instruction, "planner": self.planner,
                "steps": [{k: v for k, v in asdict(s).items() if v is not None}
                          for s in self.steps]}

    @classmethod
    def from_dict(cls, d: dict) -> Plan:
        try:
            steps = [Step(**s) for s in d["steps"]]
        except (KeyError, TypeError) as e:
            raise ValueError(f"not a plan: {e}") from None
        return cls(d.get("instruction", ""), steps, d.get("planner", "rule"))


@dataclass
class Trajectory:
    """A planned episode, sampled at ``fps``.

    Attributes:
        timestamps: [T] seconds from 0.
        T_world_ee: [T, 4, 4] TCP poses.
        gripper: [T] normalised opening (0 closed, 1 fully open = ``max_opening_m``).
        gripper_opening_m: [T] distance between the finger pads, metres.
        attached: [T] name of the object held at each frame ("" = none).
        object_poses: name -> [T, 4, 4] ``T_world_obj`` of every object of the scene.
        step_index: [T] index of the plan step each frame belongs to (-1 after the last).
        phase: [T] phase name per frame (pre-grasp, grasp, close, lift, transport, ...).
        plan: the plan it came from.
        T_world_base: [4, 4] robot base pose used for the kinematics.
        joint_positions: [T, 7] Panda joint angles (radians) when computed, else None.
        base_info: how the base was placed ("placement": given, pixel, automatic or front)
            and, with joint angles, "photo_occlusion": the fraction of the task objects'
            pixels in the photo camera that the arm hides (mean over every 10th frame).
    """

    timestamps: np.ndarray
    T_world_ee: np.ndarray
    gripper: np.ndarray
    gripper_opening_m: np.ndarray
    attached: list[str]
    object_poses: dict[str, np.ndarray]
    step_index: np.ndarray
    phase: list[str]
    plan: Plan
    fps: float = 15.0
    max_opening_m: float = 0.08
    T_world_base: np.ndarray = field(default_factory=lambda: np.eye(4))
    joint_positions: np.ndarray | None = None
    base_info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])

    def step_labels(self) -> list[str]:
        """[T] "<step description>: <phase>" per frame (e.g. "pick mug: grasp"), the phase
        alone outside the steps ("start", "done") -- for overlays and error messages."""
        return [f"{self.plan.steps[s].describe()}: {p}" if s >= 0 and p not in ("start", "done")
                else p for s, p in zip(self.step_index.tolist(), self.phase)]

    # ------------------------------------------------------------------ files
    def save(self, path) -> Path:
        """``<path>.npz`` (arrays) and ``<path>.json`` (plan, names, phases), written
        atomically; ``path`` may end in .npz, .json or have no suffix."""
        import os

        base = Path(path)
        if base.suffix in (".npz", ".json"):
            base = base.with_suffix("")
        base.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"timestamps": self.timestamps, "T_world_ee": self.T_world_ee,
                  "gripper": self.gripper, "gripper_opening_m": self.gripper_opening_m,
                  "step_index": self.step_index, "T_world_base": self.T_world_base}
        names = sorted(self.object_poses)
        for i, n in enumerate(names):
            arrays[f"object_pose_{i}"] = self.object_poses[n]
        if self.joint_positions is not None:
            arrays["joint_positions"] = self.joint_positions
        tmp = base.with_name(base.name + f".{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, base.with_suffix(".npz"))
        doc = {"format": "igen-gs trajectory", "version": 1, "fps": self.fps,
               "max_opening_m": self.max_opening_m, "objects": names,
               "attached": self.attached, "phase": self.phase, "plan": self.plan.to_dict(),
               "base_info": self.base_info}
        tmpj = base.with_name(base.name + f".{os.getpid()}.tmp.json")
        tmpj.write_text(json.dumps(doc, indent=1))
        os.replace(tmpj, base.with_suffix(".json"))
        return base.with_suffix(".npz")

    @classmethod
    def load(cls, path) -> Trajectory:
        base = Path(path)
        if base.suffix in (".npz", ".json"):
            base = base.with_suffix("")
        npz, js = base.with_suffix(".npz"), base.with_suffix(".json")
        for p in (npz, js):
            if not p.is_file():
                raise FileNotFoundError(f"trajectory file not found: {p}")
        try:
            doc = json.loads(js.read_text())
            data = np.load(npz)
        except (json.JSONDecodeError, OSError, ValueError) as e:
            raise ValueError(f"corrupt trajectory {base}: {e}") from None
        if doc.get("format") != "igen-gs trajectory":
            raise ValueError(f"{js} is not an igen-gs trajectory")
        try:
            poses = {n: data[f"object_pose_{i}"] for i, n in enumerate(doc["objects"])}
            T = len(data["timestamps"])
            shapes = {"T_world_ee": (data["T_world_ee"].shape, (T, 4, 4)),
                      "gripper": (data["gripper"].shape, (T,)),
                      "attached": ((len(doc["attached"]),), (T,)),
                      "phase": ((len(doc["phase"]),), (T,)),
                      **{f"object_poses[{n!r}]": (P.shape, (T, 4, 4)) for n, P in poses.items()}}
        except KeyError as e:
            raise ValueError(f"corrupt trajectory {base}: missing {e}") from None
        for what, (got, want) in shapes.items():
            if tuple(got) != want:
                raise ValueError(f"corrupt trajectory {base}: {what} has shape {list(got)}, "
                                 f"expected {list(want)}")
        return cls(
            timestamps=data["timestamps"], T_world_ee=data["T_world_ee"],
            gripper=data["gripper"], gripper_opening_m=data["gripper_opening_m"],
            attached=list(doc["attached"]), object_poses=poses, step_index=data["step_index"],
            phase=list(doc["phase"]), plan=Plan.from_dict(doc["plan"]), fps=float(doc["fps"]),
            max_opening_m=float(doc["max_opening_m"]), T_world_base=data["T_world_base"],
            joint_positions=data["joint_positions"] if "joint_positions" in data else None,
            base_info=dict(doc.get("base_info", {})))

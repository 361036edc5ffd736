"""A small stage language, as data: what a keypoint-grounded plan says, validated.

A plan is a JSON object ``{"stages": [...]}``; each stage is one of (keypoint ids refer to
:class:`igen_gs.scene.keypoints.SceneKeypoints`; directions are the task frame's, as seen
in the photo: forward = away from the camera, left = image left, up; offsets are
(forward, left, up) metres):

* ``{"op": "grasp", "kp": K}``: grasp the object that keypoint K belongs to, with the
  feasible grasp nearest to K, and lift it;
* ``{"op": "move_to", "kp": K, "offset_m": [f, l, u], "approach": "above" | "direct",
  "point": P}``: move so that keypoint P of the held object (default: the gripper's centre)
  reaches keypoint K (of any object, where it is now) plus the offset; "above" travels over
  everything and comes down vertically, "direct" moves in a straight line;
* ``{"op": "align", "kp_pair": [A, B], "direction": D}``: turn the held object (about
  keypoint A) so that the axis from its keypoint A to its keypoint B points along D;
* ``{"op": "tilt", "deg": X, "about": D, "pivot": P}``: turn the held object by X degrees
  about the task direction D (right-hand rule) through its keypoint P (default: the
  gripper's centre);
* ``{"op": "release"}``: open the gripper; the object drops to whatever is under it, and
  the gripper backs off;
* ``{"op": "strike", "kp": K, "direction": D, "speed": V}``: with the gripper closed, hit
  keypoint K moving horizontally along D at V m/s (at most the motion's speed limit) at the
  moment of contact, following through (3 cm or more, see the compiler; the struck object
  slides with it).

Validation (:func:`validate_stages`) checks the schema and the meaning (keypoints exist,
grasp before move_to with a point / align / tilt / release, keypoints of the held object
where the held object is meant, nothing grasped while holding) and raises a one-line
ValueError naming the stage. Nothing from a plan is ever executed as code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OPS = ("grasp", "move_to", "align", "tilt", "release", "strike")
DIRECTIONS = ("forward", "backward", "left", "right", "up", "down")
HORIZONTAL = ("forward", "backward", "left", "right")
MAX_STAGES = 16

_KP = {"type": "integer", "minimum": 0}
_DIR = {"enum": list(DIRECTIONS)}
STAGES_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["stages"],
    "additionalProperties": False,
    "properties": {
        "instruction": {"type": "string"},
        "stages": {
            "type": "array", "minItems": 1, "maxItems": MAX_STAGES,
            "items": {"oneOf": [
                {"type": "object", "additionalProperties": False, "required": ["op", "kp"],
                 "properties": {"op": {"const": "grasp"}, "kp": _KP}},
                {"type": "object", "additionalProperties": False, "required": ["op", "kp"],
                 "properties": {"op": {"const": "move_to"}, "kp": _KP,
                                "offset_m": {"type": "array", "minItems": 3, "maxItems": 3,
                                             "items": {"type": "number", "minimum": -0.5,
                                                       "maximum": 0.5}},
                                "approach": {"enum": ["above", "direct"]},
                                "point": {"anyOf": [_KP, {"type": "null"}]}}},
                {"type": "object", "additionalProperties": False,
                 "required": ["op", "kp_pair", "direction"],
                 "properties": {"op": {"const": "align"},
                                "kp_pair": {"type": "array", "minItems": 2, "maxItems": 2,
                                            "items": _KP},
                                "direction": _DIR}},
                {"type": "object", "additionalProperties": False, "required": ["op", "deg"],
                 "properties": {"op": {"const": "tilt"},
                                "deg": {"type": "number", "minimum": -120, "maximum": 120},
                                "about": {"enum": list(HORIZONTAL)},
                                "pivot": {"anyOf": [_KP, {"type": "null"}]}}},
                {"type": "object", "additionalProperties": False, "required": ["op"],
                 "properties": {"op": {"const": "release"}}},
                {"type": "object", "additionalProperties": False,
                 "required": ["op", "kp", "direction", "speed"],
                 "properties": {"op": {"const": "strike"}, "kp": _KP,
                                "direction": {"enum": list(HORIZONTAL)},
                                "speed": {"type": "number", "exclusiveMinimum": 0,
                                          "maximum": 2.0}}},
            ]},
        },
    },
}
"""JSON schema of a stage plan (used to validate hand-written files and VLM replies)."""


@dataclass
class Stage:
    """One stage (see the module docstring); unused fields stay at their defaults."""

    op: str
    kp: int | None = None
    offset_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    approach: str = "above"
    point: int | None = None
    kp_pair: tuple[int, int] | None = None
    direction: str | None = None
    deg: float = 0.0
    about: str = "forward"
    pivot: int | None = None
    speed: float = 0.0

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"op": self.op}
        if self.op == "grasp":
            d["kp"] = self.kp
        elif self.op == "move_to":
            d.update(kp=self.kp, offset_m=list(self.offset_m), approach=self.approach)
            if self.point is not None:
                d["point"] = self.point
        elif self.op == "align":
            d.update(kp_pair=list(self.kp_pair), direction=self.direction)
        elif self.op == "tilt":
            d.update(deg=self.deg, about=self.about)
            if self.pivot is not None:
                d["pivot"] = self.pivot
        elif self.op == "strike":
            d.update(kp=self.kp, direction=self.direction, speed=self.speed)
        return d

    def describe(self) -> str:
        if self.op == "grasp":
            return f"grasp kp {self.kp}"
        if self.op == "move_to":
            what = "gripper" if self.point is None else f"kp {self.point}"
            off = ", ".join(f"{v:+.2f}" for v in self.offset_m)
            return f"move {what} to kp {self.kp} + ({off}) m"
        if self.op == "align":
            return f"align kp {self.kp_pair[0]}->{self.kp_pair[1]} {self.direction}"
        if self.op == "tilt":
            return f"tilt {self.deg:.0f} deg about {self.about}"
        if self.op == "strike":
            return f"strike kp {self.kp} {self.direction} at {self.speed:.2f} m/s"
        return self.op


@dataclass
class StagePlan:
    """Ordered stages for an instruction."""

    stages: list[Stage]
    instruction: str = ""
    planner: str = "stages"
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"instruction": self.instruction, "stages": [s.to_dict() for s in self.stages]}

    def save(self, path) -> Path:
        p = Path(path)
        p.write_text(json.dumps(self.to_dict(), indent=1))
        return p


def _stage_from_dict(d: dict) -> Stage:
    op = d["op"]
    if op == "grasp":
        return Stage(op, kp=d["kp"])
    if op == "move_to":
        return Stage(op, kp=d["kp"], offset_m=tuple(float(v) for v in d.get("offset_m",
                                                                            (0, 0, 0))),
                     approach=d.get("approach", "above"), point=d.get("point"))
    if op == "align":
        return Stage(op, kp_pair=tuple(d["kp_pair"]), direction=d["direction"])
    if op == "tilt":
        return Stage(op, deg=float(d["deg"]), about=d.get("about", "forward"),
                     pivot=d.get("pivot"))
    if op == "strike":
        return Stage(op, kp=d["kp"], direction=d["direction"], speed=float(d["speed"]))
    return Stage(op)


def _schema_problem(doc: Any) -> str | None:
    """A one-line description of how ``doc`` breaks the schema, or None."""
    import jsonschema

    if isinstance(doc, dict) and isinstance(doc.get("stages"), list):
        # Name the stage and its op's own schema rather than "not valid under any of oneOf".
        for i, s in enumerate(doc["stages"]):
            if not isinstance(s, dict) or s.get("op") not in OPS:
                got = s.get("op") if isinstance(s, dict) else s
                return f"stage {i + 1}: op must be one of {', '.join(OPS)}, got {got!r}"
            sub = STAGES_JSON_SCHEMA["properties"]["stages"]["items"]["oneOf"][OPS.index(s["op"])]
            try:
                jsonschema.validate(s, sub)
            except jsonschema.ValidationError as e:
                where = "/".join(str(p) for p in e.absolute_path)
                return (f"stage {i + 1} ({s['op']}){' ' + where if where else ''}: "
                        f"{e.message.splitlines()[0]}")
    try:
        jsonschema.validate(doc, STAGES_JSON_SCHEMA)
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        return f"at {where}: {e.message.splitlines()[0]}"
    return None


def validate_stages(doc: Any, keypoints) -> StagePlan:
    """A :class:`StagePlan` from a parsed JSON document, checked against the schema and
    against ``keypoints`` (:class:`~igen_gs.scene.keypoints.SceneKeypoints`); ValueError
    (one line, naming the stage) otherwise."""
    problem = _schema_problem(doc)
    if problem:
        raise ValueError(f"invalid stages {problem}")
    n = len(keypoints.keypoints)
    held: str | None = None
    stages = []

    def kp_obj(i: int, k: int, what: str) -> str:
        if k >= n:
            raise ValueError(f"invalid stages: stage {i} names {what} {k}, but keypoints are "
                             f"numbered 0 to {n - 1}")
        return keypoints.keypoints[k].object

    for i, d in enumerate(doc["stages"], 1):
        s = _stage_from_dict(d)
        op = s.op
        if op == "grasp":
            if held is not None:
                raise ValueError(f"invalid stages: stage {i} grasps while still holding "
                                 f"{held!r} (release it first)")
            held = kp_obj(i, s.kp, "keypoint")
        elif op == "move_to":
            target = kp_obj(i, s.kp, "keypoint")
            if s.point is not None:
                own = kp_obj(i, s.point, "point")
                if held is None or own != held:
                    raise ValueError(f"invalid stages: stage {i} moves keypoint {s.point} of "
                                     f"{own!r}, which is not held (holding "
                                     f"{held or 'nothing'})")
            if held is not None and target == held:
                raise ValueError(f"invalid stages: stage {i} moves to keypoint {s.kp} of the "
                                 f"held object {held!r} itself")
        elif op in ("align", "tilt", "release"):
            if held is None:
                raise ValueError(f"invalid stages: stage {i} ({op}) needs a grasped object "
                                 "(grasp one first)")
            kps = list(s.kp_pair) if op == "align" else [s.pivot] if s.pivot is not None \
                else []
            for k in kps:
                if kp_obj(i, k, "keypoint") != held:
                    raise ValueError(f"invalid stages: stage {i} ({op}) uses keypoint {k} of "
                                     f"{keypoints.keypoints[k].object!r}, but it acts on the "
                                     f"held {held!r}")
            if op == "align" and s.kp_pair[0] == s.kp_pair[1]:
                raise ValueError(f"invalid stages: stage {i} (align) needs two different "
                                 "keypoints")
            if op == "release":
                held = None
        elif op == "strike":
            if held is not None:
                raise ValueError(f"invalid stages: stage {i} strikes while holding {held!r} "
                                 "(release it first)")
            kp_obj(i, s.kp, "keypoint")
        stages.append(s)
    return StagePlan(stages, str(doc.get("instruction", "")))


def parse_stages(text: str, keypoints) -> StagePlan:
    """A validated :class:`StagePlan` from JSON text (a reply may wrap it in a code fence or
    prose); ValueError (one line) otherwise."""
    import re

    if not text or not str(text).strip():
        raise ValueError("the reply is empty")
    body = str(text).strip()
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", body, re.S)
    if fenced:
        body = fenced.group(1)
    elif not body.startswith("{") and "{" in body and "}" in body:
        body = body[body.index("{"):body.rindex("}") + 1]
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg} at char {e.pos})") from None
    return validate_stages(doc, keypoints)


def load_stages(path, keypoints) -> StagePlan:
    """A validated stage plan from a JSON file."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"stage file not found: {p}")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read stage file {p}: {e}") from None
    try:
        return parse_stages(text, keypoints)
    except ValueError as e:
        raise ValueError(f"{p}: {e}") from None

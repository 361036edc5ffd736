"""Keypoint VLM planner: the photo with numbered keypoints, the object list and the
instruction in; a stage plan (:mod:`igen_gs.planning.stages`) out.

The request carries the photo with the keypoints drawn and numbered
(:func:`igen_gs.scene.keypoints.draw_keypoints`), the keypoint list ("<id>: <object>
<kind>" and its world height) and the stage language's JSON schema. A reply that is not
JSON, breaks the schema or the stage rules (:func:`~igen_gs.planning.stages.parse_stages`)
is sent back with the validator's one-line message and asked again, up to
``max_attempts`` requests. The back ends are the VLM planner's
(:mod:`igen_gs.planning.vlm`: an OpenAI-compatible endpoint, or a local transformers
model). The reply is data: it is parsed as JSON and validated, never executed.
"""

from __future__ import annotations

import json

import numpy as np

from .stages import STAGES_JSON_SCHEMA, StagePlan, parse_stages
from .vlm_config import VLMConfig

SYSTEM_PROMPT = (
    "You plan tabletop manipulation for a robot arm with a parallel-jaw gripper. The photo "
    "shows numbered keypoints on the objects. Split the task into stages and reply with one "
    "JSON object and nothing else, matching this JSON schema:\n{schema}\n"
    "Stages: grasp(kp) grasps the object of keypoint kp near it; move_to(kp, offset_m, "
    "approach, point) brings keypoint 'point' of the held object (or the gripper) to keypoint "
    "kp plus offset_m = [forward, left, up] metres; align(kp_pair, direction) turns the held "
    "object so the axis from its first to its second keypoint points along direction; "
    "tilt(deg, about, pivot) turns the held object by deg degrees about a horizontal "
    "direction through its keypoint pivot; release() opens the gripper; strike(kp, "
    "direction, speed) hits keypoint kp with the closed gripper at speed m/s (at most "
    "{max_speed}). Directions are as seen in the photo: forward = away from the camera, left "
    "= image left, up. Use only keypoint numbers from the list."
)


def keypoint_lines(keypoints) -> str:
    """"<id>: <object> <kind> (height <h> cm)" per keypoint."""
    plane = np.asarray(keypoints.support_plane)
    out = []
    for k in keypoints.keypoints:
        h = float(plane[:3] @ np.asarray(k.p_world) + plane[3])
        out.append(f"{k.id}: {k.object} {k.kind} (height {100 * h:.1f} cm)")
    return "\n".join(out)


def build_messages(instruction: str, names: list[str], keypoints, image: np.ndarray | None,
                   max_speed: float = 0.25) -> list[dict]:
    """The first request (chat-completions format); ``image`` is the photo, drawn on here."""
    from ..scene.keypoints import draw_keypoints
    from .vlm import _png_data_uri

    text = (f"Instruction: {instruction}\nObjects in the scene: {', '.join(names)}\n"
            f"Keypoints:\n{keypoint_lines(keypoints)}")
    user: list[dict] = [{"type": "text", "text": text}]
    if image is not None:
        user.append({"type": "image_url",
                     "image_url": {"url": _png_data_uri(draw_keypoints(image, keypoints))}})
    return [{"role": "system", "content": SYSTEM_PROMPT.format(
                schema=json.dumps(STAGES_JSON_SCHEMA), max_speed=max_speed)},
            {"role": "user", "content": user}]


def keypoint_vlm_plan(instruction: str, names: list[str], keypoints,
                      cfg: VLMConfig | None = None, image: np.ndarray | None = None,
                      max_speed: float = 0.25) -> StagePlan:
    """Ask the VLM (``cfg.backend``) for stages; invalid replies are sent back with the
    validator's message, up to ``cfg.max_attempts`` requests; then a one-line ValueError."""
    from .vlm import ask_validated

    cfg = cfg or VLMConfig()
    messages = build_messages(instruction, names, keypoints,
                              image if cfg.send_image else None, max_speed)
    plan, label = ask_validated(cfg, messages, lambda reply: parse_stages(reply, keypoints),
                                "stages")
    plan.instruction = instruction
    plan.planner = f"keypoint-{label}"
    return plan

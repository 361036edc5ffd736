"""VLM planner: any OpenAI-compatible chat-completions endpoint turns the instruction, the
scene's object list and its photo into a plan, as JSON validated against
:data:`igen_gs.planning.types.PLAN_JSON_SCHEMA`.

A reply that is not valid JSON, does not match the schema, or names objects that are not in
the scene is sent back with the error and retried, up to ``max_attempts`` requests in all;
then planning fails with a one-line error. Server-side failures (HTTP 5xx, 429, timeouts,
refused connections) use up attempts the same way; client errors (HTTP 4xx: a bad key, an
unknown model) fail at once.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re

import numpy as np

from .types import PLAN_JSON_SCHEMA, Plan, Step
from .vlm_config import VLMConfig

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You plan tabletop manipulation for a robot arm with a parallel-jaw gripper. Reply with one "
    "JSON object and nothing else, matching this JSON schema:\n{schema}\n"
    "Use only these object names: {names}. Directions are as seen in the photo: forward = away "
    "from the camera, left = image left. Distances are in metres, angles in degrees. A 'place' "
    "or 'stack' step must follow a 'pick' of the same object."
)


def _endpoint(cfg: VLMConfig) -> tuple[str | None, str, str]:
    base = cfg.base_url or os.environ.get("IGEN_VLM_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
    model = cfg.model or os.environ.get("IGEN_VLM_MODEL") or "gpt-4o-mini"
    key = cfg.api_key or os.environ.get("IGEN_VLM_API_KEY") or os.environ.get(
        "OPENAI_API_KEY") or "none"
    return base, model, key


def _png_data_uri(rgb: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def parse_reply(text: str | None, names: list[str]) -> list[Step]:
    """Steps from a reply; ValueError (one line) saying what is wrong."""
    import jsonschema

    if not text or not text.strip():
        raise ValueError("the reply is empty")
    body = text.strip()
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", body, re.S)
    if fenced:
        body = fenced.group(1)
    elif not body.startswith("{") and "{" in body:  # "Here is the plan: {...}"
        body = body[body.index("{"):body.rindex("}") + 1] if "}" in body else body[body.index("{"):]
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as e:
        raise ValueError(f"the reply is not valid JSON ({e.msg} at char {e.pos})") from None
    try:
        jsonschema.validate(doc, PLAN_JSON_SCHEMA)
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        raise ValueError(f"the reply does not match the plan schema at {where}: "
                         f"{e.message.splitlines()[0]}") from None
    steps = []
    held = None
    for i, s in enumerate(doc["steps"]):
        step = Step(**{k: v for k, v in s.items() if v is not None})
        for n in (step.object, step.target):
            if n is not None and n not in names:
                raise ValueError(f"step {i + 1} names {n!r}, which is not one of: "
                                 f"{', '.join(names)}")
        if step.action in ("place", "stack") and step.target is None:
            raise ValueError(f"step {i + 1} ({step.action}) needs a target")
        if step.action in ("place", "stack") and held != step.object:
            raise ValueError(f"step {i + 1} places {step.object!r} without picking it first")
        if step.action == "push" and step.direction is None:
            raise ValueError(f"step {i + 1} (push) needs a direction")
        held = step.object if step.action == "pick" else None
        steps.append(step)
    return steps


def vlm_plan(instruction: str, names: list[str], cfg: VLMConfig | None = None,
             image: np.ndarray | None = None) -> Plan:
    """Ask the VLM for a plan; retried on invalid replies."""
    import openai

    cfg = cfg or VLMConfig()
    base, model, key = _endpoint(cfg)
    client = openai.OpenAI(base_url=base, api_key=key, timeout=cfg.timeout_s, max_retries=0)
    user: list[dict] = [{"type": "text", "text": f"Instruction: {instruction}\n"
                                                 f"Objects in the scene: {', '.join(names)}"}]
    if image is not None and cfg.send_image:
        user.append({"type": "image_url", "image_url": {"url": _png_data_uri(image)}})
    messages: list[dict] = [
        {"role": "system", "content": SYSTEM_PROMPT.format(
            schema=json.dumps(PLAN_JSON_SCHEMA), names=", ".join(names))},
        {"role": "user", "content": user},
    ]
    last_error = "no request was made"
    where = base or "the OpenAI API"
    for _ in range(max(1, cfg.max_attempts)):
        try:
            resp = client.chat.completions.create(model=model, messages=messages,
                                                  temperature=0)
        except openai.OpenAIError as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            transient = isinstance(e, openai.APIConnectionError) or (
                isinstance(e, openai.APIStatusError) and (e.status_code >= 500 or
                                                          e.status_code == 429))
            if not transient:
                raise ValueError(f"VLM request to {where} failed: {first}") from None
            last_error = f"request failed: {first}"
            log.info("VLM request to %s failed (%s); retrying", where, first)
            continue
        content = resp.choices[0].message.content if resp.choices else None
        try:
            steps = parse_reply(content, names)
            return Plan(instruction, steps, f"vlm:{model}")
        except ValueError as e:
            if resp.choices and resp.choices[0].finish_reason == "length":
                e = ValueError(f"the reply was cut off at the token limit ({e})")
            last_error = str(e)
            messages.append({"role": "assistant", "content": content or ""})
            messages.append({"role": "user", "content": f"That reply was invalid: {e}. Reply "
                                                        "again with only the corrected JSON."})
    raise ValueError(f"the VLM at {where} gave no valid plan in {max(1, cfg.max_attempts)} "
                     f"attempts; last problem: {last_error}")

"""VLM planner: a vision-language model turns the instruction, the scene's object list and its
photo into a plan, as JSON validated against :data:`igen_gs.planning.types.PLAN_JSON_SCHEMA`.

Backends (:class:`~igen_gs.planning.vlm_config.VLMConfig`):

* ``openai``: any OpenAI-compatible chat-completions endpoint (the ``openai`` client; base
  URL, model and key from the config, else the environment);
* ``transformers``: a local image-text-to-text model (hub id or directory) with a chat
  template, loaded once per (model, device) and reused, greedy decoding.

A reply that is not valid JSON, does not match the schema, or names objects that are not in
the scene is sent back with the error and retried, up to ``max_attempts`` requests in all;
then planning fails with a one-line error. Server-side failures (HTTP 5xx, 429, timeouts,
refused connections) use up attempts the same way; client errors (HTTP 4xx: a bad key, an
unknown model) fail at once.
"""

from __future__ import annotations

import base64
import functools
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


def build_messages(instruction: str, names: list[str], image: np.ndarray | None = None
                   ) -> list[dict]:
    """The first request, in the chat-completions message format (an image as a PNG data
    URI)."""
    user: list[dict] = [{"type": "text", "text": f"Instruction: {instruction}\n"
                                                 f"Objects in the scene: {', '.join(names)}"}]
    if image is not None:
        user.append({"type": "image_url", "image_url": {"url": _png_data_uri(image)}})
    return [
        {"role": "system", "content": SYSTEM_PROMPT.format(
            schema=json.dumps(PLAN_JSON_SCHEMA), names=", ".join(names))},
        {"role": "user", "content": user},
    ]


def _openai_chat(cfg: VLMConfig):
    """(chat(messages) -> (content, finish_reason), description) for the endpoint."""
    import openai

    base, model, key = _endpoint(cfg)
    client = openai.OpenAI(base_url=base, api_key=key, timeout=cfg.timeout_s, max_retries=0)
    where = base or "the OpenAI API"

    def chat(messages: list[dict]) -> tuple[str | None, str | None]:
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
            raise _TransientError(f"request failed: {first}") from None
        except ValueError as e:  # HTTP 200 whose body is not JSON (json.JSONDecodeError)
            raise _TransientError(f"the server's response body is not JSON ({e})") from None
        return _completion_content(resp)

    return chat, f"VLM at {where}", f"vlm:{model}"


def _completion_content(resp) -> tuple[str | None, str | None]:
    """(content, finish_reason) of a chat completion; a response that is not one (a text body,
    JSON of another shape) is a transient error, retried like a server error."""
    if isinstance(resp, (str, bytes)):
        head = " ".join(str(resp[:60] if isinstance(resp, str) else resp[:60]).split())
        raise _TransientError(f"the server's response is not JSON: {head!r}")
    choices = getattr(resp, "choices", None)
    if choices is None:
        raise _TransientError("the server's response is not a chat completion (no 'choices')")
    if not choices:
        return None, None
    message = getattr(choices[0], "message", None)
    if message is None:
        raise _TransientError("the server's response is not a chat completion (no 'message')")
    return getattr(message, "content", None), getattr(choices[0], "finish_reason", None)


class _TransientError(Exception):
    """A request that may succeed when repeated (server error, timeout, refused)."""


def _local_model_id(cfg: VLMConfig) -> str:
    model = cfg.local_model or os.environ.get("IGEN_VLM_LOCAL_MODEL")
    if not model:
        raise ValueError("the transformers VLM backend needs a model: set local_model "
                         "(--config.vlm.local-model) or $IGEN_VLM_LOCAL_MODEL to a hub id or a "
                         "local directory")
    return model


@functools.lru_cache(maxsize=2)
def _load_local(model: str, device: str):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from ..pretrained import load_pretrained

    processor, net = load_pretrained("VLM", model, (AutoProcessor, AutoModelForImageTextToText))
    if getattr(processor, "chat_template", None) is None:
        raise ValueError(f"VLM {model!r} has no chat template; the planner needs one to build "
                         "its prompt")
    return processor, net.to(device).eval()


def load_local_vlm(cfg: VLMConfig | None = None):
    """(processor, model in eval mode) of ``cfg.local_model`` on ``cfg.device``, loaded once
    and reused (a local directory is keyed by its resolved path)."""
    from ..pretrained import check_device, looks_like_path

    cfg = cfg or VLMConfig()
    check_device(cfg.device)
    model = _local_model_id(cfg)
    if looks_like_path(model):
        from pathlib import Path

        model = str(Path(model).expanduser().resolve())
    return _load_local(model, cfg.device)


def _to_hf_messages(messages: list[dict], merge_system: bool) -> list[dict]:
    """Chat-completions messages -> the transformers chat format (images as PIL images)."""
    from PIL import Image

    out: list[dict] = []
    system = ""
    for m in messages:
        parts = m["content"] if isinstance(m["content"], list) else [
            {"type": "text", "text": m["content"]}]
        content = []
        for part in parts:
            if part["type"] == "text":
                content.append({"type": "text", "text": part["text"]})
            else:
                data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                content.append({"type": "image",
                                "image": Image.open(io.BytesIO(data)).convert("RGB")})
        if m["role"] == "system" and merge_system:
            system = "".join(c["text"] for c in content) + "\n"
            continue
        if system and m["role"] == "user":
            content.insert(0, {"type": "text", "text": system})
            system = ""
        out.append({"role": m["role"], "content": content})
    return out


def _local_chat(cfg: VLMConfig):
    """(chat(messages) -> (content, finish_reason), description) for a local model."""
    import torch

    processor, net = load_local_vlm(cfg)
    model = _local_model_id(cfg)

    def chat(messages: list[dict]) -> tuple[str | None, str | None]:
        inputs = None
        for merge in (False, True):  # some chat templates have no system role
            try:
                inputs = processor.apply_chat_template(
                    _to_hf_messages(messages, merge), add_generation_prompt=True, tokenize=True,
                    return_dict=True, return_tensors="pt")
                break
            except Exception as e:  # noqa: BLE001 - jinja raises its own error types
                if merge:
                    raise ValueError(f"VLM {model!r}: its chat template cannot format the "
                                     f"request: {str(e).splitlines()[0]}") from None
        inputs = inputs.to(cfg.device)
        with torch.inference_mode():
            out = net.generate(**inputs, max_new_tokens=cfg.max_new_tokens, do_sample=False)
        new = out[0, inputs["input_ids"].shape[1]:]
        text = processor.decode(new, skip_special_tokens=True)
        eos = getattr(net.generation_config, "eos_token_id", None)
        eos = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        finish = "length" if len(new) >= cfg.max_new_tokens and (
            not eos or int(new[-1]) not in eos) else "stop"
        return text, finish

    return chat, f"local VLM {model!r}", f"vlm:{model}"


def ask_validated(cfg: VLMConfig, messages: list[dict], parse, what: str):
    """Send ``messages`` to the VLM (``cfg.backend``) and return ``(parse(reply), label)``.
    Transient failures are retried; a reply that ``parse`` rejects (ValueError) is sent back
    with the validator's message and asked again, up to ``cfg.max_attempts`` requests; then a
    one-line ValueError naming the endpoint and ``what`` was asked for. ``messages`` grows
    with the exchange."""
    if cfg.backend == "openai":
        chat, where, label = _openai_chat(cfg)
    elif cfg.backend == "transformers":
        chat, where, label = _local_chat(cfg)
    else:
        raise ValueError(f"VLM backend must be 'openai' or 'transformers', got {cfg.backend!r}")
    last_error = "no request was made"
    attempts = max(1, cfg.max_attempts)
    for _ in range(attempts):
        try:
            content, finish = chat(messages)
        except _TransientError as e:
            last_error = str(e)
            log.info("%s: %s; retrying", where, e)
            continue
        try:
            return parse(content), label
        except ValueError as e:
            problem = str(e)
            if finish == "length":
                problem = f"the reply was cut off at the token limit ({problem})"
            last_error = problem
            messages.append({"role": "assistant", "content": content or ""})
            messages.append({"role": "user", "content": f"That reply was invalid: {problem}. "
                                                        "Reply again with only the corrected "
                                                        "JSON."})
    raise ValueError(f"the {where} gave no valid {what} in {attempts} attempts; last problem: "
                     f"{last_error}")


def vlm_plan(instruction: str, names: list[str], cfg: VLMConfig | None = None,
             image: np.ndarray | None = None) -> Plan:
    """Ask the VLM (``cfg.backend``) for a plan; invalid replies are sent back with what is
    wrong and asked again, up to ``cfg.max_attempts`` requests."""
    cfg = cfg or VLMConfig()
    messages = build_messages(instruction, names, image if cfg.send_image else None)
    steps, label = ask_validated(cfg, messages, lambda reply: parse_reply(reply, names), "plan")
    return Plan(instruction, steps, label)

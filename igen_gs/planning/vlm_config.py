"""VLM endpoint options (a plain dataclass, cheap to import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class VLMConfig:
    """Endpoint of the VLM planner (flags, else environment variables)."""

    backend: Literal["openai", "transformers"] = "openai"
    """An OpenAI-compatible chat-completions endpoint, or a local transformers image-text-to-text
    model (``local_model``)."""
    base_url: str | None = None
    """Chat-completions base URL (else $IGEN_VLM_BASE_URL, else $OPENAI_BASE_URL)."""
    model: str | None = None
    """Model name (else $IGEN_VLM_MODEL, else gpt-4o-mini)."""
    api_key: str | None = None
    """API key (else $IGEN_VLM_API_KEY, else $OPENAI_API_KEY, else "none" for local servers)."""
    max_attempts: int = 3
    """Requests before giving up on invalid replies."""
    timeout_s: float = 60.0
    """Per-request timeout."""
    send_image: bool = True
    """Attach the scene's photo (rendered from its input camera) to the request."""
    photo: str | None = None
    """planner = keypoint-vlm: the photo to send (the image the scene was lifted from, at the
    scene camera's size), keypoints drawn on it; else the scene rendered from its camera."""
    local_model: str | None = None
    """backend = transformers: hub id or local directory (save_pretrained layout) of an
    image-text-to-text model with a chat template (else $IGEN_VLM_LOCAL_MODEL)."""
    device: str = "cpu"
    """backend = transformers: torch device of the local model."""
    max_new_tokens: int = 512
    """backend = transformers: longest reply generated (greedy decoding)."""

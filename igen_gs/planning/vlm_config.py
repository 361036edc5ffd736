"""VLM endpoint options (a plain dataclass, cheap to import)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VLMConfig:
    """Endpoint of the VLM planner (flags, else environment variables)."""

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

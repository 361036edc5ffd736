"""Loading transformers models from a hub id or a local directory without waiting on an
unreachable network, and the device check of the model front ends (lifting's depth and
segmentation models, planning's local VLM): shared by both, so it lives below them."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse


def looks_like_path(model: str) -> bool:
    """A directory (existing, or spelled as a path) rather than a hub id ("org/name")."""
    return model.startswith(("/", "./", "../", "~")) or Path(model).expanduser().exists()


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub endpoint (``HF_ENDPOINT``, default huggingface.co) accepts a TCP
    connection: one quick try, no retries. False when ``HF_HUB_OFFLINE`` is set; True without
    trying behind an HTTP(S) proxy (the direct connection says nothing there)."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        return False
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def load_pretrained(kind: str, model: str, loaders, *, cache_dir: str | None = None,
                    local_files_only: bool = False) -> tuple:
    """``loader.from_pretrained(model)`` for each of ``loaders``, local files first.

    ``model`` is a local directory (``save_pretrained`` layout) or a hub id. A hub id is looked
    up in the hub cache first and downloaded only if it is missing there, ``local_files_only``
    is False and the hub answers a quick connection test (so an offline machine fails at once
    instead of after minutes of retries). Any failure is one ``ValueError`` naming ``kind``
    and ``model`` and saying how to provide the weights offline.
    """
    if looks_like_path(model):
        path = Path(model).expanduser()
        if not path.is_dir():
            raise ValueError(f"cannot load {kind} {model!r}: no such directory")
        if not (path / "config.json").is_file():
            raise ValueError(f"cannot load {kind} from directory {model!r}: it has no "
                             "config.json (expected the layout of save_pretrained or "
                             "`hf download --local-dir`)")
        try:
            return tuple(ld.from_pretrained(str(path.resolve()), cache_dir=cache_dir,
                                            local_files_only=True) for ld in loaders)
        except (OSError, ValueError, RuntimeError, KeyError) as e:
            text = " ".join(str(e).split()) or type(e).__name__
            raise ValueError(f"cannot load {kind} from directory {model!r}: "
                             f"{text if len(text) <= 200 else text[:197] + '...'}") from None
    try:
        return tuple(ld.from_pretrained(model, cache_dir=cache_dir, local_files_only=True)
                     for ld in loaders)
    except (OSError, ValueError, RuntimeError, KeyError):
        pass  # not (completely) in the cache
    if local_files_only:
        reason = "it is not in the Hugging Face cache and local_files_only is set"
    elif not _hub_reachable():
        reason = "it is not in the Hugging Face cache and the hub is unreachable"
    else:
        try:
            return tuple(ld.from_pretrained(model, cache_dir=cache_dir) for ld in loaders)
        except (OSError, ValueError, RuntimeError, KeyError) as e:
            text = " ".join(str(e).split()) or type(e).__name__
            reason = text if len(text) <= 200 else text[:197] + "..."
    raise ValueError(
        f"cannot load {kind} {model!r}: {reason}. Without network access download it "
        f"elsewhere (`hf download {model} --local-dir DIR`) and pass DIR, or pre-populate the "
        f"Hugging Face cache (HF_HOME)")


def check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device {device!r} is not a torch device (e.g. 'cpu', 'cuda:0')"
                         ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here")

"""The one place a ``device`` option ("auto", "cpu", "cuda", "cuda:N") becomes a torch device."""

from __future__ import annotations

import re

import torch

_SPEC = re.compile(r"^(auto|cpu|cuda)(:(\d+))?$")


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``"auto"``: the first CUDA device when CUDA is available, else the CPU; ``"cpu"``;
    ``"cuda"`` / ``"cuda:N"``: that CUDA device, which must exist.

    Raises ValueError (one line) for anything else or for an unavailable CUDA device.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    if not isinstance(spec, str):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {spec!r}")
    m = _SPEC.match(spec.strip().lower())
    if m is None or (m.group(1) != "cuda" and m.group(2)):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {spec!r}")
    kind = m.group(1)
    if kind == "cpu":
        return torch.device("cpu")
    available = torch.cuda.is_available()
    if kind == "auto":
        return torch.device("cuda", 0) if available else torch.device("cpu")
    if not available:
        raise ValueError(f"device {spec!r} asked for but CUDA is not available on this machine "
                         "(torch.cuda.is_available() is False); use --device cpu or auto")
    index = int(m.group(3)) if m.group(3) else 0
    count = torch.cuda.device_count()
    if index >= count:
        raise ValueError(f"device {spec!r} does not exist: this machine has {count} CUDA "
                         f"device(s) (cuda:0..cuda:{count - 1})")
    return torch.device("cuda", index)


__all__ = ["resolve_device"]

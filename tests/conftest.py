"""Shared fixtures.

Real data lives in ``../shared/data/redkitchen`` beside the repository (CI has it; a user's
clone may not): tests that need it take the ``redkitchen`` fixture and are skipped, with a
reason, when it is absent.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
REDKITCHEN = Path(os.environ.get("IGEN_REDKITCHEN", REPO.parent / "shared" / "data" / "redkitchen"))


@pytest.fixture
def redkitchen():
    """An RGBDFolder over the shared redkitchen frames (skips when the data is absent)."""
    if not (REDKITCHEN / "camera-intrinsics.txt").is_file():
        pytest.skip(f"real RGB-D data not present at {REDKITCHEN}")
    from igen_gs.rgbd import RGBDFolder

    return RGBDFolder(REDKITCHEN)


@pytest.fixture
def fresh_seed(request):
    """A fresh random seed per run (printed on failure via the test id), seeding torch, numpy
    and random. Set IGEN_TEST_SEED to reproduce a failure."""
    seed = int(os.environ.get("IGEN_TEST_SEED", random.SystemRandom().randrange(2**31)))
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    random.seed(seed)
    request.node.user_properties.append(("seed", seed))
    print(f"[seed {seed}]")
    return seed


@pytest.fixture
def chat_server():
    """The URL of a local recorded chat-completions endpoint (:class:`recorded_chat.RecordedChat`:
    set its ``replies`` before the call, read its ``requests`` after)."""
    import threading
    from http.server import ThreadingHTTPServer

    from recorded_chat import RecordedChat

    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordedChat)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    RecordedChat.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()

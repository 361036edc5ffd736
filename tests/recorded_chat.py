"""A recorded OpenAI-compatible chat-completions endpoint for the VLM planner tests (one copy
for tests/test_planning.py and tests/test_stages.py; the ``chat_server`` fixture in
tests/conftest.py serves it)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler


class RecordedChat(BaseHTTPRequestHandler):
    """Replays ``replies`` in order: a string (the assistant's content), None (null content),
    ("length", text) (cut off at the token limit) or (status, error message) for an HTTP
    error. Each request is kept in ``requests`` (its JSON body plus ``path`` and ``auth``)."""

    replies: list = []
    requests: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers["Authorization"],
                                    **body})
        reply = type(self).replies.pop(0)
        status, finish = 200, "stop"
        if isinstance(reply, tuple) and isinstance(reply[0], int):
            status, out = reply[0], {"error": {"message": reply[1], "type": "server_error"}}
        else:
            if isinstance(reply, tuple):
                finish, reply = reply
            out = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                   "choices": [{"index": 0, "finish_reason": finish,
                                "message": {"role": "assistant", "content": reply}}],
                   "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        data = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

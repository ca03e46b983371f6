"""A tiny OpenAI-compatible HTTP server on loopback that misbehaves on request, for the runtime's tests.

The last user message says what to do: ``plan=500,429,ok`` means answer HTTP 500 to the first request with
that message, 429 to the second, then a normal answer. Actions: ``ok``, ``500``, ``503``, ``429``, ``400``,
``hang`` (sleep past the client's timeout, then answer), ``badjson`` (status 200, body not JSON),
``slow`` (answer after ``slow_s``), ``newapi`` (400 when ``max_tokens`` is sent instead of
``max_completion_tokens``). Without a plan the server answers ``ok``. The last action repeats.
Every request is counted per message in :attr:`FaultServer.counts`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_PLAN = re.compile(r"plan=([\w,]+)")


class FaultServer:
    def __init__(self, hang_s: float = 3.0, slow_s: float = 0.05, answer=lambda prompt: f"echo: {prompt}"):
        self.hang_s, self.slow_s, self.answer = hang_s, slow_s, answer
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._json(200, {"object": "list", "data": [{"id": "fault-model", "object": "model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                with server.lock:
                    attempt = server.counts[prompt]
                    server.counts[prompt] += 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    plan = _PLAN.search(prompt)
                    actions = plan.group(1).split(",") if plan else ["ok"]
                    self._act(actions[min(attempt, len(actions) - 1)], prompt, body)
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _act(self, action: str, prompt: str, body: dict):
                if action == "newapi" and "max_tokens" in body:  # like OpenAI's newer models
                    return self._json(400, {"error": {"message": "Unsupported parameter: 'max_tokens' is not "
                                                      "supported with this model. Use 'max_completion_tokens'."}})
                if action in ("500", "503", "400"):
                    return self._json(int(action), {"error": {"message": f"scripted {action}"}})
                if action == "429":
                    return self._json(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"})
                if action == "badjson":
                    return self._raw(200, b'{"id": "x", "choices": [ {"mess', "application/json")
                if action == "hang":
                    time.sleep(server.hang_s)
                if action == "slow":
                    time.sleep(server.slow_s)
                text = server.answer(prompt)
                self._json(200, {
                    "id": "cmpl-1", "object": "chat.completion", "created": int(time.time()), "model": "fault-model",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()),
                              "total_tokens": len(prompt.split()) + len(text.split())},
                })

            def _json(self, status, payload, headers=None):
                self._raw(status, json.dumps(payload).encode(), "application/json", headers)

            def _raw(self, status, data: bytes, content_type: str, headers=None):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def total(self) -> int:
        with self.lock:
            return sum(self.counts.values())

    def __enter__(self) -> "FaultServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

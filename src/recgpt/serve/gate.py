"""The ASGI layer in front of every route: the API key, the body limit, and request metrics.

* Every path but ``/healthz`` needs the key, sent as ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``; the
  page (``/ui``) also takes it once as ``?key=KEY``, which sets an HttpOnly, SameSite=Strict cookie and
  redirects to the same address without it, so the key does not stay in the address bar or the history.
* A body above ``max_body_bytes`` (by its Content-Length, or counted while it arrives) is refused with 413.
* Each request is counted with its route template (``/v1/users/{user_id}/recommendations``), method and status,
  and its latency observed.
"""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import parse_qsl, quote, unquote_to_bytes, urlencode

COOKIE = "recgpt_key"
PAGE_PREFIX = "/ui"
OPEN_PATHS = ("/healthz",)
KEY_HINT = "send the API key in the X-API-Key header (or Authorization: Bearer KEY)"


class Gate:
    def __init__(self, app, key: str, max_body_bytes: int, metrics):
        if not key:
            raise ValueError("the service needs a non-empty API key")
        self.app, self.key, self.max_body, self.metrics = app, key.encode(), max_body_bytes, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = [500]

        async def tracked(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self._handle(scope, receive, tracked)
        finally:
            route = getattr(scope.get("route"), "path", None) or ("/ui" if scope["path"].startswith(PAGE_PREFIX)
                                                                  else "unmatched")
            self.metrics.observe(route, scope["method"], status[0], time.perf_counter() - started)

    async def _handle(self, scope, receive, send):
        path = scope["path"]
        headers = dict(scope["headers"])
        if path not in OPEN_PATHS:
            page = path == PAGE_PREFIX or path.startswith(PAGE_PREFIX + "/")
            query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            given = dict(query).get("key") if page else None
            if page and given is not None and scope["method"] == "GET" and self._matches(given.encode()):
                rest = urlencode([(k, v) for k, v in query if k != "key"])
                return await _answer(send, 303, b"", "text/plain", [
                    (b"location", (path + (f"?{rest}" if rest else "")).encode("latin-1")),
                    (b"set-cookie", f"{COOKIE}={quote(given, safe='')}; HttpOnly; SameSite=Strict; Path={PAGE_PREFIX}".encode())])
            if not self._authorised(headers, page):
                return await _problem(send, 401, f"missing or wrong API key: {KEY_HINT}",
                                      [(b"www-authenticate", b'Bearer realm="recgpt"')])
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return await _problem(send, 400, "Content-Length is not a number")
            if int(length) > self.max_body:
                return await _problem(send, 413, f"request body of {int(length)} bytes; the limit is {self.max_body}")
        if scope["method"] in ("POST", "PUT", "PATCH"):
            body, more = [], True
            size = 0
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body:
                    return await _problem(send, 413, f"request body above the limit of {self.max_body} bytes")
                body.append(chunk)
                more = message.get("more_body", False)
            replay = [{"type": "http.request", "body": b"".join(body), "more_body": False}]
            receive = _replayer(replay, receive)
        await self.app(scope, receive, send)

    def _matches(self, given: bytes) -> bool:
        return secrets.compare_digest(given, self.key)

    def _authorised(self, headers: dict, page: bool) -> bool:
        given = headers.get(b"x-api-key")
        auth = headers.get(b"authorization", b"")
        if given is None and auth[:7].lower() == b"bearer ":
            given = auth[7:].strip()
        if given is None and page:
            given = _cookie(headers.get(b"cookie", b""), COOKIE)
        return given is not None and self._matches(given)


def _replayer(replay: list, receive):
    async def replayed():
        if replay:
            return replay.pop()
        return await receive()

    return replayed


def _cookie(header: bytes, name: str) -> bytes | None:
    for part in header.split(b";"):
        key, _, value = part.strip().partition(b"=")
        if key.decode("latin-1") == name:
            return unquote_to_bytes(value)
    return None


async def _problem(send, status: int, detail: str, headers: list | None = None) -> None:
    await _answer(send, status, json.dumps({"detail": detail}).encode(), "application/json", headers or [])


async def _answer(send, status: int, body: bytes, content_type: str, headers: list) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})

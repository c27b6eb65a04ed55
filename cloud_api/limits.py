"""Request limits: a token bucket per caller (429) and a request body size cap (413).

Both are plain ASGI middleware so they act before routing, validation and the
database. The caller is the bearer token when one is sent (hashed; the bucket
map never holds secrets), else the client address. Buckets live in memory,
per process: with several API processes each enforces its own share.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import OrderedDict
from http import HTTPStatus
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["TokenBucketLimiter", "LimitsMiddleware"]

_MAX_BUCKETS: Final = 10_000


class TokenBucketLimiter:
    """``rate_per_s`` requests per second per key, bursts up to ``burst``.

    >>> limiter = TokenBucketLimiter(rate_per_s=1.0, burst=2)
    >>> [limiter.take("k", now_s=0.0) for _ in range(3)]
    [0.0, 0.0, 1.0]
    >>> limiter.take("k", now_s=1.0)
    0.0
    """

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, now_s: float | None = None) -> float:
        """Take one token: 0.0 if allowed, else the seconds until one is available."""
        now_s = time.monotonic() if now_s is None else now_s
        with self._lock:
            tokens, last = self._buckets.pop(key, (float(self.burst), now_s))
            tokens = min(float(self.burst), tokens + (now_s - last) * self.rate_per_s)
            wait_s = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait_s = (1.0 - tokens) / self.rate_per_s
            self._buckets[key] = (tokens, now_s)
            while len(self._buckets) > _MAX_BUCKETS:
                self._buckets.popitem(last=False)
        return wait_s


class LimitsMiddleware:
    def __init__(self, app: ASGIApp, limiter: TokenBucketLimiter, max_body_bytes: int) -> None:
        self.app = app
        self.limiter = limiter
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        auth = headers.get(b"authorization")
        client = scope.get("client")
        key = hashlib.sha256(auth).hexdigest() if auth else f"addr:{client[0] if client else '?'}"
        wait_s = self.limiter.take(key)
        if wait_s > 0:
            retry = str(max(1, math.ceil(wait_s)))
            await _problem(scope, send, 429, "too many requests for this token; slow down", retry)
            return
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await _problem(scope, send, 413, f"request body over {self.max_body_bytes} bytes")
            return
        # Read the (small) body here, so an oversize one is refused before the app sees any of it.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > self.max_body_bytes:
                await _problem(scope, send, 413, f"request body over {self.max_body_bytes} bytes")
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _problem(
    scope: Scope, send: Send, status: int, detail: str, retry_after: str | None = None
) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
            "instance": scope.get("path", ""),
        }
    ).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", retry_after.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

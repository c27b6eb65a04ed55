"""Opaque cursors: for lists keyed by an integer (audit ``seq``, window ``id``, registry offset)
and for lists keyed by ``(time, id)``, newest first (alerts, gateway events).

>>> decode_int_cursor(encode_int_cursor(42))
42
>>> encode_key_cursor((1764189600000, "44387c5e"))
'MTc2NDE4OTYwMDAwMDo0NDM4N2M1ZQ'
>>> decode_key_cursor(encode_key_cursor((1764189600000, "44387c5e")))
(1764189600000, '44387c5e')
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Final

from fastapi import Query
from fastapi.exceptions import RequestValidationError

__all__ = [
    "encode_int_cursor",
    "decode_int_cursor",
    "encode_key_cursor",
    "decode_key_cursor",
    "Limit",
    "Cursor",
    "invalid",
]

_MAX: Final = 2**63 - 1

Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Cursor = Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page.")]


def invalid(name: str, message: str, value: object, where: str = "query") -> RequestValidationError:
    """A validation error shaped like FastAPI's own, so it becomes the same 422 problem."""
    return RequestValidationError(
        [{"type": "value_error", "loc": (where, name), "msg": message, "input": value}]
    )


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    """The cursor's text; empty for one that is not base64 of UTF-8 (which no check accepts)."""
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""


def encode_int_cursor(value: int) -> str:
    return _encode(f"n:{value}")


def decode_int_cursor(cursor: str | None) -> int | None:
    """``None`` for no cursor; a 422 :class:`RequestValidationError` for one this API did not make."""
    if cursor is None:
        return None
    prefix, _, number = _decode(cursor).partition(":")
    if prefix != "n" or not number.isdigit() or int(number) > _MAX:
        raise invalid("cursor", "not a cursor returned by this API", cursor)
    return int(number)


def encode_key_cursor(after: tuple[int, str]) -> str:
    """The cursor for the page after ``(time_ms, id)``."""
    time_ms, key = after
    return _encode(f"{time_ms}:{key}")


def decode_key_cursor(cursor: str | None) -> tuple[int, str] | None:
    """``None`` for no cursor; a 422 :class:`RequestValidationError` for one this API did not make."""
    if cursor is None:
        return None
    time_ms, sep, key = _decode(cursor).partition(":")
    if not sep or not time_ms.isdigit() or not key or int(time_ms) > _MAX:
        raise invalid("cursor", "not a cursor returned by this API", cursor)
    return int(time_ms), key
